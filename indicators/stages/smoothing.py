"""Empirical-Bayes smoothing of the census rates (`--lissage bayes-empirique`), never by default.

A rate over a small census count is noisy: 5 families, all single-parent, give 100 %. Marshall's
global empirical-Bayes estimator (R. J. Marshall, "Mapping disease and mortality rates using
empirical Bayes estimators", Applied Statistics 40(2), 1991, 283-294) shrinks each unit's rate
toward the rate of a larger area, the more so as its denominator is small:

    m  = sum(num) / sum(den)                 the area's pooled rate (the prior mean)
    s2 = sum(den (r - m)^2) / sum(den)       the denominator-weighted variance of the units' rates
    A  = max(s2 - m / mean(den), 0)          the variance of the true rates (the prior variance)
    w  = A / (A + m / den)                   each unit's weight on its own rate
    smoothed = m + w (r - m)

Here the area is the unit's reference territory (`--reference`: the same territory whose rate is
its threshold) and the estimate is made per level, over the units of that level in that
territory. m / den is the Poisson variance of a rate, Marshall's model; for shares far from 0 the
binomial m (1 - m) / den would be smaller, so this shrinks somewhat more than a binomial model
would. Only the rates computed from census counts are smoothed (reliability.CENSUS_INDICATORS):
Filosofi, ARCEP and the BPE are not samples. The layers keep the raw counts (num_<id>, den_<id>,
so the raw rate is num/den); ind_<id> is the smoothed rate, from which the points and scores
follow; each layer's `lissage` column, the dictionary and the run report say it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from indicators.errors import FragiliteError
from indicators.stages.reliability import CENSUS_INDICATORS

NONE = "aucun"
EMPIRICAL_BAYES = "bayes-empirique"
SMOOTHINGS = (NONE, EMPIRICAL_BAYES)
LABEL = ("taux lissés par Bayes empirique (estimateur global de Marshall, 1991) vers le taux du territoire "
         "de référence de l'unité, d'autant plus que son dénominateur est petit ; taux brut = num / den")


def check_smoothing(smoothing: str, method: str) -> None:
    if smoothing not in SMOOTHINGS:
        raise FragiliteError(f"unknown --lissage {smoothing!r}; choose {' or '.join(SMOOTHINGS)}")
    if smoothing != NONE and method == "ifn-2023":
        raise FragiliteError(f"--lissage {smoothing} smooths the rates of the 2020 methods; ifn-2023 ranks "
                             "raw rates into deciles (METHODS 1.4)")


def marshall(num: pd.Series, den: pd.Series) -> pd.Series:
    """Marshall's global estimator over one area's units: their smoothed rates (NaN where a unit
    has no rate: no count, or a denominator of 0)."""
    num, den = num.astype("float64"), den.astype("float64")
    known = num.notna() & den.notna() & (den > 0)
    out = pd.Series(np.nan, index=num.index)
    if not known.any():
        return out
    n, d = num[known], den[known]
    r, m = n / d, n.sum() / d.sum()
    s2 = float((d * (r - m) ** 2).sum() / d.sum())
    prior = max(s2 - m / float(d.mean()), 0.0)
    noise = m / d
    weight = (prior / (prior + noise)).where(prior + noise > 0, 1.0)   # m = 0 and no spread: rates kept
    out[known] = m + weight * (r - m)
    return out


def smooth_values(values: pd.DataFrame, counts: pd.DataFrame, areas: pd.Series) -> tuple[pd.DataFrame, dict]:
    """values (indicator_values of counts) with the census rates smoothed within each area (the
    units' reference territories); a unit with no area keeps its rate. Returns them and, per
    indicator, how many units changed and the mean absolute change (for the run report)."""
    out = values.copy()
    groups = pd.Series(areas.to_numpy(), index=counts.index)
    summary = {}
    for ind in CENSUS_INDICATORS:
        num, den = counts.get(f"num_{ind}"), counts.get(f"den_{ind}")
        if num is None or den is None:
            continue
        smoothed = pd.Series(np.nan, index=counts.index)
        for _, members in groups.groupby(groups, dropna=True).groups.items():
            smoothed[members] = marshall(num[members], den[members])
        new = smoothed.where(smoothed.notna(), values[ind])
        change = (new - values[ind]).abs()
        out[ind] = new
        summary[ind] = {"unites_modifiees": int((change > 1e-12).sum()),
                        "ecart_moyen": float(change.mean()) if change.notna().any() else None}
    return out, summary
