"""Reliability flags: which indicators of a unit rest on census counts too small to be trusted.

INSEE's advice for the census (RP) databases, "Conseils d'utilisation" of the documentation that
comes with them (e.g. the base "Évolution et structure de la population" of RP 2011, put online
26 June 2014):

    « Les effectifs supérieurs à 500 peuvent normalement être utilisés en toute confiance.
    Les effectifs inférieurs à 200 doivent être maniés avec précaution, car, en raison de
    l'imprécision liée au sondage, ils peuvent ne pas être significatifs. De ce fait, les
    comparaisons entre territoires de petites tailles sont à proscrire.
    Pour des zones de moins de 2 000 habitants, il est recommandé de ne pas utiliser les données
    issues de l'exploitation complémentaire. »

So an indicator of a unit is flagged (`fiable_<id>` false) when its denominator, a census count,
is below MIN_DENOMINATOR (200 by default, `--min-denominator`). Only the indicators computed from
census counts are assessed (CENSUS_INDICATORS): income and poverty come from Filosofi's
exhaustive fiscal files (INSEE applies its own secret to small IRIS: the value is then NULL),
coverage from ARCEP, public services from the BPE; their `fiable_<id>` does not exist.

The flag is on the denominator: a rate over fewer than 200 people, households or families. A
commune of 38 inhabitants with 5 families, all single-parent, gets 652 points on that
indicator: its `fiable_familles_monoparentales` is false. `fiabilite` counts, per unit, the
indicators entering its score that are flagged (0: none rests on a small count).

ifn-2023 (METHODS 1.4) flags its two census rates the same way, on the same counts:
`fiable_65_plus` (den: the population) and `fiable_peu_diplomes` (den: people of 15 or more out of
school); its poverty (Filosofi), THD (ARCEP's premises) and 4G (the user's commune figure) are
not census counts. There `fiabilite` counts the flagged indicators that have a score.

INSEE's second rule (no "exploitation complémentaire" figures for zones under 2 000 inhabitants)
concerns `familles_monoparentales` and `menages_une_personne` (C{yy}_ variables): it is written
in the dictionary beside their flags, not applied, since it would flag nearly every rural
commune whatever its counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from indicators.stages.methods import IFN_2023
from indicators.stages.options import MIN_DENOMINATOR  # 200, the option's default

CENSUS_INDICATORS = ["familles_monoparentales", "menages_une_personne", "chomeurs_15_64",
                     "personnes_15_29", "personnes_65_plus", "peu_diplomes"]
# ifn-2023's census rates: its indicator name -> the IFN count it is num / den of
CENSUS_INDICATORS_2023 = {"65_plus": "personnes_65_plus", "peu_diplomes": "peu_diplomes"}
COMPLEMENTARY = ["familles_monoparentales", "menages_une_personne"]  # C{yy}_ variables
INSEE_ADVICE = ("Insee, recensement de la population, « Conseils d'utilisation » des bases de données : "
                "« Les effectifs supérieurs à 500 peuvent normalement être utilisés en toute confiance. "
                "Les effectifs inférieurs à 200 doivent être maniés avec précaution, car, en raison de "
                "l'imprécision liée au sondage, ils peuvent ne pas être significatifs. De ce fait, les "
                "comparaisons entre territoires de petites tailles sont à proscrire. Pour des zones de "
                "moins de 2 000 habitants, il est recommandé de ne pas utiliser les données issues de "
                "l'exploitation complémentaire. »")


def flag_column(indicator: str) -> str:
    return f"fiable_{indicator}"


def census_indicators(method: str | None = None) -> list[str]:
    """The indicators a method's layers flag (their fiable_<id>)."""
    return list(CENSUS_INDICATORS_2023) if method == IFN_2023 else list(CENSUS_INDICATORS)


def reliability_columns(method: str | None = None) -> list[str]:
    """The reliability columns of a layer, in the layer's order."""
    return ["fiabilite", *(flag_column(i) for i in census_indicators(method))]


def _inputs(df: pd.DataFrame, ind: str, method: str | None) -> tuple[pd.Series, pd.Series, pd.Series | None]:
    """An indicator's denominator, value, and what says it is in the unit's score (None: its value)."""
    if method == IFN_2023:
        den, value, in_score = f"den_{CENSUS_INDICATORS_2023[ind]}", f"val_{ind}", f"score_{ind}"
    else:
        den, value, in_score = f"den_{ind}", f"ind_{ind}", f"pts_{ind}"
    missing = pd.Series(np.nan, index=df.index)
    return (df[den].astype("float64") if den in df else missing, df[value] if value in df else missing,
            df[in_score].notna() if in_score in df else None)


def add_reliability(df: pd.DataFrame, min_denominator: float = MIN_DENOMINATOR,
                    method: str | None = None) -> pd.DataFrame:
    """Add fiable_<id> (nullable boolean) and fiabilite (Int64) to a scored table, in place.

    fiable_<id> is NULL where the indicator has no value; fiabilite counts the flagged indicators
    that have points (ifn-2023: a score), those entering the score."""
    if min_denominator < 0:
        raise ValueError(f"min_denominator must be >= 0, got {min_denominator}")
    flagged = pd.Series(0, index=df.index, dtype="Int64")
    for ind in census_indicators(method):
        den, value, in_score = _inputs(df, ind, method)
        has_value = value.notna() & den.notna()
        reliable = pd.Series(den >= min_denominator, index=df.index, dtype="boolean").where(has_value, pd.NA)
        df[flag_column(ind)] = reliable
        flagged += ((reliable == False) & (has_value if in_score is None else in_score)).fillna(False).astype("Int64")  # noqa: E712
    df["fiabilite"] = flagged
    return df


def flag_levels(layers: dict[str, pd.DataFrame], min_denominator: float = MIN_DENOMINATOR,
                method: str | None = None) -> dict:
    """Reliability columns on every layer (in place), and the counts the run report gives."""
    return {"effectif_minimal": min_denominator, "indicateurs": census_indicators(method),
            "par_couche": {level: summary(add_reliability(df, min_denominator, method), method)
                           for level, df in layers.items()}}


def summary(df: pd.DataFrame, method: str | None = None) -> dict:
    """Counts for the run report: units with at least one flagged indicator, per indicator."""
    out = {"unites": int(len(df)), "unites_signalees": int((df["fiabilite"] > 0).sum()) if len(df) else 0,
           "par_indicateur": {}}
    for ind in census_indicators(method):
        col = flag_column(ind)
        if col in df:
            out["par_indicateur"][ind] = int((df[col] == False).sum())  # noqa: E712
    return out
