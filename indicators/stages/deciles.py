"""Decile scores 1-10 of the 2023 portal's index, a 2023-like reconstruction (METHODS 1.4).

La MedNum never published the transform of its March-2023 index; METHODS 1.4 recovers it from the
scores it published. What this module implements, and nothing else:

- score of a unit with value x: ``clip(ceil(10 F(x)), 1, 10)``, F(x) the share of the units having a
  value that are <= x. Units tied at a value therefore share the highest score of their group
  (METHODS: "ties take the highest rank"). Computed in integers, ceil(10 k / n) = (10 k + n - 1) // n,
  so that 10 x 3 / 10 never becomes 3.0000000000000004 and a score 4.
- cut points ("bornes"): for s = 1..9, ``borne_s`` is the largest value scored s or less; a value
  above ``borne_s`` scores more than s. An empty ``borne_s`` means that no value scores s or less
  (a tie group spans the decile: half the units at 0 % non-coverage all score 5 or more). Scoring
  the units against their own cut points gives back the decile scores exactly, so a run can write
  the cut points it used and a later run (or a regional run) can score against them.
- aggregation: the score of a territory is the population-weighted mean of its units' scores, not a
  score of pooled counts (METHODS 1.4: "a 2023-like method must aggregate scores, not counts").
- total: the plain mean of the scores present, beside the number of scores it averages.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from indicators.errors import InputError

# the five indicators of the 2023 portal, higher = more at risk; ids name the layer columns
INDICATORS_2023: dict[str, str] = {
    "non_couverture_thd": "Part des locaux (logements et locaux professionnels) non éligibles à un "
                          "débit descendant de 30 Mbit/s ou plus, toute technologie filaire",
    "non_couverture_4g": "Part non couverte en 4G (valeur communale fournie par l'utilisateur)",
    "65_plus": "Part des personnes âgées de 65 ans ou plus",
    "peu_diplomes": "Part des non ou peu diplômés parmi les 15 ans ou plus non scolarisés",
    "pauvrete": "Taux de pauvreté (seuil à 60 % du revenu médian)",
}
NAMES_2023 = list(INDICATORS_2023)
SCORE_COLUMNS_2023 = [f"score_{n}" for n in NAMES_2023] + ["score_total"]
VALUE_COLUMNS_2023 = [f"val_{n}" for n in NAMES_2023]
N_SCORES = 10
BOUND_COLUMNS = [f"borne_{s}" for s in range(1, N_SCORES)]
CUT_POINT_COLUMNS = ["indicateur", *BOUND_COLUMNS, "n_unites", "territoire"]


def _known(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    return v[np.isfinite(v.to_numpy())]


def decile_scores(values: pd.Series) -> pd.Series:
    """Scores 1-10 of every unit having a value, ranked among those units; NA where no value."""
    known = _known(values)
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    n = len(known)
    if n == 0:
        return out
    ordered = np.sort(known.to_numpy())
    at_most = np.searchsorted(ordered, known.to_numpy(), side="right")   # units with value <= x
    scores = np.clip((N_SCORES * at_most + n - 1) // n, 1, N_SCORES)
    out.loc[known.index] = scores
    return out


def cut_points(values: pd.Series) -> np.ndarray:
    """The nine bounds of the units' decile scores (NaN: no value scores s or less)."""
    known = _known(values).to_numpy()
    bounds = np.full(N_SCORES - 1, np.nan)
    n = len(known)
    if n == 0:
        return bounds
    distinct, counts = np.unique(known, return_counts=True)
    at_most = np.cumsum(counts)
    for s in range(1, N_SCORES):
        fits = np.flatnonzero(N_SCORES * at_most <= s * n)   # F(x) <= s / 10
        if len(fits):
            bounds[s - 1] = distinct[fits[-1]]
    return bounds


def scores_from_cut_points(values: pd.Series, bounds: np.ndarray) -> pd.Series:
    """Scores 1-10 against given bounds: 1 + the number of bounds the value exceeds (an empty
    bound is exceeded by every value)."""
    known = _known(values)
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    x = known.to_numpy()[:, None]
    b = np.asarray(bounds, dtype="float64")[None, :]
    above = np.isnan(b) | (x > b)
    out.loc[known.index] = 1 + above.sum(axis=1)
    return out


def cut_point_table(values: pd.DataFrame, territoire: str) -> pd.DataFrame:
    """One row per indicator (a column of `values`): its nine bounds, the number of units ranked
    and the territory they cover. What a run writes as seuils_deciles.csv."""
    rows = []
    for name in values.columns:
        n = len(_known(values[name]))
        if n:  # an indicator no unit has is not ranked: no row (read back, it is left out)
            rows.append({"indicateur": name, **dict(zip(BOUND_COLUMNS, cut_points(values[name]))),
                         "n_unites": n, "territoire": territoire})
    table = pd.DataFrame(rows, columns=CUT_POINT_COLUMNS)
    table["n_unites"] = table["n_unites"].astype("Int64")
    return table


def read_cut_points(path: Path) -> pd.DataFrame:
    """A cut-point file (`--seuils-deciles`): `indicateur` and `borne_1`..`borne_9`, as written by
    a run (other columns are kept as information). `,` or `;` separated; decimal commas accepted
    with `;`. Returns the table indexed by indicator."""
    path = Path(path)
    df = _read_text(path)
    missing = [c for c in ["indicateur", *BOUND_COLUMNS] if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}: a cut-point file has `indicateur` and "
                               f"{', '.join(BOUND_COLUMNS)}", column=missing[0])
    df["indicateur"] = df["indicateur"].str.strip()
    unknown = ~df["indicateur"].isin(NAMES_2023)
    if unknown.any():
        raise InputError(path, f"unknown indicator(s) {sorted(set(df.loc[unknown, 'indicateur']))}; "
                               f"expected some of {', '.join(NAMES_2023)}", column="indicateur",
                         rows=[i + 2 for i in np.flatnonzero(unknown.to_numpy())])
    dup = df["indicateur"].duplicated(keep=False)
    if dup.any():
        raise InputError(path, "several rows for one indicator", column="indicateur",
                         rows=[i + 2 for i in np.flatnonzero(dup.to_numpy())])
    for col in BOUND_COLUMNS:
        df[col] = _numbers(df[col], path, col)
    bad = [i for i, row in enumerate(df[BOUND_COLUMNS].to_numpy()) if not _ordered(row)]
    if bad:
        raise InputError(path, "bounds must not decrease from borne_1 to borne_9, and an empty bound "
                               "(no value scores that low) may only precede filled ones",
                         column="borne_1", rows=[i + 2 for i in bad])
    # what the cut points were computed over, as information; the run says it used this file
    df["n_unites"] = pd.to_numeric(df.get("n_unites", pd.Series(pd.NA, index=df.index)), errors="coerce").astype("Int64")
    if "territoire" not in df:
        df["territoire"] = f"fichier {path.name}"
    return df.set_index("indicateur")


def _read_text(path: Path) -> pd.DataFrame:
    text = path.read_text(encoding="utf-8-sig") if path.stat().st_size else ""
    if not text.strip():
        raise InputError(path, "file is empty")
    sep = ";" if ";" in text.splitlines()[0] else ","
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise InputError(path, f"malformed delimited text: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _numbers(raw: pd.Series, path: Path, column: str) -> pd.Series:
    """Numbers of a cut-point column: `.` or `,` decimals; an empty cell is an empty bound."""
    text = raw.astype(str).str.strip().str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    bad = values.isna() & (text != "")
    if bad.any():
        raise InputError(path, f"non-numeric value(s) {raw[bad].head(3).tolist()}", column=column,
                         rows=[i + 2 for i in np.flatnonzero(bad.to_numpy())])
    return values


def _ordered(bounds: np.ndarray) -> bool:
    filled = ~np.isnan(bounds)
    if filled.any() and not filled[np.argmax(filled):].all():
        return False
    vals = bounds[filled]
    return bool(np.all(np.diff(vals) >= 0)) and bool(np.all(np.isfinite(vals)))


def weighted_mean(scores: pd.DataFrame, weights: pd.Series, groups: pd.Series) -> pd.DataFrame:
    """Per group and column, sum(w x score) / sum(w) over the rows whose score is known; NaN where
    those weights sum to zero. Rows of `scores`, `weights` and `groups` align by position."""
    w = pd.Series(np.asarray(weights, dtype="float64"))
    g = pd.Series(np.asarray(groups, dtype=object))
    keep = g.notna().to_numpy() & np.isfinite(w.to_numpy())
    out = {}
    for col in scores.columns:
        s = pd.Series(np.asarray(scores[col], dtype="float64"))
        known = keep & s.notna().to_numpy()
        num = (w * s)[known].groupby(g[known], sort=True).sum()
        den = w[known].groupby(g[known], sort=True).sum()
        out[col] = num / den.where(den > 0)
    return pd.DataFrame(out)


def total(scores: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """score_total, the plain mean of the scores present, and n_indicateurs, how many there are."""
    floats = scores.astype("float64")
    return floats.mean(axis=1), floats.notna().sum(axis=1).astype("int64")
