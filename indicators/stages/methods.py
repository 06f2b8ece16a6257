"""The IFN indicators, axes and the three scoring methods (METHODS.md 1.1-1.3).

A method turns indicator values x and thresholds s (seuils) into points (100 x coefficient),
axis scores and a global score. The three methods differ only where METHODS.md says they do:

- kit-2020: the official matrix, formulas as the workbook writes them. A blank input counts as 0
  (Excel arithmetic), the non-coverage coefficient divides by the coverage threshold, the axis
  divisors are fixed (4, 3, 2, 2; 7, 4, 11).
- d4g-2020: the published 2020 national file. Six indicators, all x/s (income not inverted), a
  missing input gives 0 points and stays in the means; axis means over those six;
  GLOBAL ACCES = (2 INFO + INTER) / 3, GLOBAL COMPETENCES = (ADMIN + 2 NUM) / 3, global = mean of
  both; the "*" integers are the floor of the means.
- ifn-2020 (default): the kit's structure corrected: non-coverage over the non-coverage threshold
  (capped at 200 points, like income and services, see coefficients),
  income 2 - x/s, missing inputs NULL and left out of every mean, n_indicateurs published.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Indicator:
    id: str
    axis: str
    label: str          # the kit's label
    unit: str
    # numerator / denominator of the additive definition (None: not additive, e.g. a median)
    numerator: str | None
    denominator: str | None


AXES = {
    "acces_interfaces": "Accès aux interfaces numériques",
    "acces_information": "Accès à l'information",
    "competences_administratives": "Compétences administratives",
    "competences_numeriques": "Compétences numériques / scolaires",
}

INDICATORS: list[Indicator] = [
    Indicator("couverture_fixe", "acces_interfaces", "Taux de couverture HD / THD (DSL, câble, FttH)",
              "share", "locaux_couverts_thd", "locaux"),
    Indicator("couverture_mobile", "acces_interfaces", "Taux de couverture mobile (2G)",
              "share", "surface_couverte_mobile", "surface"),
    Indicator("taux_pauvrete", "acces_interfaces", "Taux de pauvreté", "share",
              "personnes_pauvres", "population_filosofi"),
    Indicator("revenu_median", "acces_interfaces", "Revenus médian disponible", "euros", None, None),
    Indicator("familles_monoparentales", "acces_information", "Part des familles monoparentales",
              "share", "fammono", "fam"),
    Indicator("menages_une_personne", "acces_information", "Part des ménages d'une personne",
              "share", "menpseul", "men"),
    Indicator("services_publics", "acces_information", "Services publics / individu",
              "per person", "services_publics", "population"),
    Indicator("chomeurs_15_64", "competences_administratives", "Part des chômeurs (15 – 64 ans)",
              "share", "chom1564", "act1564"),
    Indicator("personnes_15_29", "competences_administratives", "Part des personnes âgées de 15 – 29 ans",
              "share", "pop1529", "population"),
    Indicator("personnes_65_plus", "competences_numeriques", "Part des personnes âgées de 65 ans / +",
              "share", "pop65p", "population"),
    Indicator("peu_diplomes", "competences_numeriques",
              "Part des non ou peu diplômés (15 ans ou plus non scolarisés)",
              "share", "nscol15p_peu_dipl", "nscol15p"),
]
BY_ID = {ind.id: ind for ind in INDICATORS}
IDS = [ind.id for ind in INDICATORS]
ACCES = ["acces_interfaces", "acces_information"]
COMPETENCES = ["competences_administratives", "competences_numeriques"]

SCORES = [f"score_{a}" for a in AXES] + ["score_global_acces", "score_global_competences", "score_global"]
SCORE_LABELS = {
    **{f"score_{a}": f"Score {label}" for a, label in AXES.items()},
    "score_global_acces": "Score global accès",
    "score_global_competences": "Score global compétences",
    "score_global": "Score global de fragilité numérique",
}
# ifn-2023: a 2023-like reconstruction of La MedNum's March-2023 portal index (METHODS 1.4): five
# indicators scored 1-10 by deciles, territories by population-weighted means of their units'
# scores. It has no thresholds, points or axes: stages/ifn2023.py scores it, not score_frame.
IFN_2023 = "ifn-2023"
METHODS = ["ifn-2020", "kit-2020", "d4g-2020", IFN_2023]
DEFAULT_METHOD = "ifn-2020"
D4G_INDICATORS = ["revenu_median", "familles_monoparentales", "menages_une_personne",
                  "personnes_15_29", "personnes_65_plus", "peu_diplomes"]


def class_column(score: str) -> str:
    return "classe_" + score.removeprefix("score_")


def main_score(method: str) -> str:
    """The score a method's maps, styles and legends show: score_global, ifn-2023's score_total."""
    return "score_total" if method == IFN_2023 else "score_global"


def axis_of(ids: list[str], axes: list[str]) -> list[str]:
    return [i for i in ids if BY_ID[i].axis in axes]


def coefficients(method: str, x: pd.DataFrame, s: pd.DataFrame, absent: tuple[str, ...] = ()) -> pd.DataFrame:
    """Coefficient per indicator. x and s share index and columns (indicator ids).

    `absent`: indicators with no value anywhere in the run (a blank column). kit-2020 gives them 0,
    kept in its fixed divisors, as La MedNum's own 2020 national file did with its five blank
    columns (METHODS 1.2; the workbook itself would show #DIV/0!), and likewise an indicator with
    no value in a unit's reference territory (no threshold there while the others have one);
    d4g-2020 does so already for any missing input; ifn-2020 leaves them out (NULL)."""
    if method == IFN_2023:
        raise ValueError("ifn-2023 has no thresholds or points: it scores units by deciles (stages/ifn2023.py)")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    out = pd.DataFrame(index=x.index)
    for ind in x.columns:
        xv = x[ind].astype("float64")
        sv = s[ind].astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            if method == "kit-2020":
                xv = xv.fillna(0.0)  # Excel: a blank cell is 0 in arithmetic
                if ind in ("couverture_fixe", "couverture_mobile"):
                    c = (1 - xv) / sv
                elif ind == "revenu_median":
                    c = ((sv - xv) / sv) + 1
                elif ind == "services_publics":
                    c = 2 - (((xv - sv) / sv) + 1)
                    c = c.where(~(c < 0), 0.0)
                else:
                    c = ((xv - sv) / sv) + 1
            elif method == "d4g-2020":
                c = (xv / sv).fillna(0.0)  # a missing input gives 0 points, kept in the means
            else:  # ifn-2020
                if ind in ("couverture_fixe", "couverture_mobile"):
                    # capped at 2 (200 points), like income and services (2 - x/s): coverage is near
                    # universal (ARCEP 2019, Occitanie: 0.14 % of premises below 3 Mbit/s), so the
                    # non-coverage ratio reaches 700 for a commune with none and would outweigh the
                    # ten other indicators together, leaving every other unit in one class
                    c = ((1 - xv) / (1 - sv)).clip(upper=2.0)
                elif ind == "revenu_median":
                    c = 2 - xv / sv
                elif ind == "services_publics":
                    c = (2 - xv / sv).clip(lower=0.0)
                else:
                    c = xv / sv
        out[ind] = c.replace([np.inf, -np.inf], np.nan)
        if method == "kit-2020":
            # a blank column, in the run (absent) or in the unit's reference territory (no threshold,
            # or a threshold of 0: the workbook's #DIV/0!, while the others have one): 0 points, as
            # in La MedNum's national file
            blank = ((sv.isna() | (sv == 0)) & s.notna().any(axis=1) if ind not in absent
                     else pd.Series(True, index=x.index))
            out[ind] = out[ind].where(~blank, 0.0)
    return out


def method_indicators(method: str, available: list[str]) -> list[str]:
    if method == "d4g-2020":
        return list(D4G_INDICATORS)
    if method == "kit-2020":
        return list(IDS)
    return [i for i in IDS if i in available]


def score_frame(method: str, values: pd.DataFrame, thresholds: pd.DataFrame,
                absent: tuple[str, ...] = ()) -> pd.DataFrame:
    """Points, axis scores and n_indicateurs for every row.

    values: one column per indicator id present (others are treated as absent);
    thresholds: same index, one column per indicator id.
    """
    ids = method_indicators(method, list(values.columns))
    x = pd.DataFrame({i: values[i] if i in values else np.nan for i in ids}, index=values.index)
    s = pd.DataFrame({i: thresholds[i] if i in thresholds else np.nan for i in ids}, index=values.index)
    pts = coefficients(method, x, s, absent) * 100.0
    out = pd.DataFrame(index=values.index)
    for i in ids:
        out[f"pts_{i}"] = pts[i]
    out["n_indicateurs"] = x.notna().sum(axis=1).astype("int64")

    def fixed_mean(cols: list[str]) -> pd.Series:
        # the kit writes (sum * 100) / (n * 100): kept so results match its cached values to the bit
        return (pts[cols].sum(axis=1, min_count=len(cols)) * 100) / (len(cols) * 100)

    for axis in AXES:
        cols = axis_of(ids, [axis])
        if method == "ifn-2020":
            out[f"score_{axis}"] = pts[cols].mean(axis=1) if cols else np.nan
        else:
            out[f"score_{axis}"] = fixed_mean(cols) if cols else np.nan
    acc, comp = axis_of(ids, ACCES), axis_of(ids, COMPETENCES)
    if method == "ifn-2020":
        out["score_global_acces"] = pts[acc].mean(axis=1) if acc else np.nan
        out["score_global_competences"] = pts[comp].mean(axis=1) if comp else np.nan
        out["score_global"] = pts[ids].mean(axis=1) if ids else np.nan
    elif method == "kit-2020":
        out["score_global_acces"] = fixed_mean(acc)
        out["score_global_competences"] = fixed_mean(comp)
        out["score_global"] = fixed_mean(ids)
    else:  # d4g-2020: the published file's own combination of axis means
        out["score_global_acces"] = (2 * out["score_acces_information"] + out["score_acces_interfaces"]) / 3
        out["score_global_competences"] = (out["score_competences_administratives"]
                                           + 2 * out["score_competences_numeriques"]) / 3
        out["score_global"] = (out["score_global_acces"] + out["score_global_competences"]) / 2
        for score in SCORES:
            out[f"{score}_entier"] = np.floor(out[score]).astype("Int64")
    return out
