"""The method ifn-2023: a 2023-like reconstruction of La MedNum's March-2023 portal index (METHODS 1.4).

Units are the IRIS of the communes split into IRIS and the communes not split (one IRIS row
`COM0000`, typ Z): the rows of the IRIS counts. Each of the five indicators is scored 1-10 by the
deciles of the units having a value (deciles.py), over every unit loaded, or against cut points
the user gives. Territories are scored by population-weighted means of their units' scores:
a commune from its IRIS, an EPCI, a département and a région from their communes, a QPV from the
IRIS it draws people from (weight = the IRIS's population x its IRIS x QPV weight).

Values (`val_*`, the unit's own rate): 65+, low diploma and poverty are num / den of the level's
counts. THD and 4G non-coverage are commune figures: an IRIS takes its commune's; above the
commune THD pools the premises (below the speed / all), 4G (a rate without counts) is the
population-weighted mean of the communes'; a QPV takes the weighted mean of its IRIS' values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from indicators import PACKAGE_DIR
from indicators.stages.scoring import indicator_values
from indicators.stages.deciles import (CUT_POINT_COLUMNS, NAMES_2023, SCORE_COLUMNS_2023, cut_point_table,
                                       read_cut_points, scores_from_cut_points, total, weighted_mean)

# the indicators the method takes from the IFN counts: layer name -> count id
FROM_COUNTS = {"65_plus": "personnes_65_plus", "peu_diplomes": "peu_diplomes", "pauvrete": "taux_pauvrete"}
COMMUNE_LEVEL = ["non_couverture_thd", "non_couverture_4g"]
DECIMALS = 12
ABOVE_COMMUNES = ["epci", "departements", "regions"]
PARENT_KEY = {"epci": "code_epci", "departements": "code_departement", "regions": "code_region"}


@dataclass
class Scored2023:
    levels: dict[str, pd.DataFrame]            # level -> val_*, score_*, score_total, n_indicateurs by code
    cut_points: pd.DataFrame                   # the cut points used (seuils_deciles.csv)
    notes: list[str] = field(default_factory=list)


def _rate(num: pd.Series | None, den: pd.Series | None, index: pd.Index) -> pd.Series:
    if num is None or den is None:
        return pd.Series(np.nan, index=index)
    den = den.astype("float64")
    return num.astype("float64") / den.where(den > 0)


def commune_values(communes: pd.DataFrame | None) -> pd.DataFrame:
    """The commune-level inputs, indexed by commune code: num_/den_non_couverture_thd (premises
    below the speed threshold, premises) and val_non_couverture_4g; absent ones are NaN."""
    cols = ["num_non_couverture_thd", "den_non_couverture_thd", "val_non_couverture_4g"]
    if communes is None:
        return pd.DataFrame(columns=cols, dtype="float64")
    out = communes.reindex(columns=cols).astype("float64")
    out.index = communes.index.astype(str)
    return out


def level_values(level: str, counts: pd.DataFrame, communes_in: pd.DataFrame) -> pd.DataFrame:
    """val_* of the units of one level (iris or communes) before the aggregates above."""
    idx = counts.index
    out = pd.DataFrame(index=idx)
    keys = counts["code_commune"] if level == "iris" else counts["code"]
    com = communes_in.reindex(keys.astype(str).to_numpy())
    com.index = idx
    out["val_non_couverture_thd"] = _rate(com["num_non_couverture_thd"], com["den_non_couverture_thd"], idx)
    out["val_non_couverture_4g"] = com["val_non_couverture_4g"]
    for name, ind in FROM_COUNTS.items():
        out[f"val_{name}"] = _rate(counts.get(f"num_{ind}"), counts.get(f"den_{ind}"), idx)
    return out[[f"val_{n}" for n in NAMES_2023]]


def unit_scores(values: pd.DataFrame, given: pd.DataFrame | None, territoire: str,
                notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores of the units and the cut points used: the units' own deciles, or the given ones.
    An indicator the given file lacks is left out of the scores (as with --thresholds)."""
    plain = values.rename(columns=lambda c: c.removeprefix("val_"))
    computed = cut_point_table(plain, territoire)
    if given is not None:
        absent = [n for n in NAMES_2023 if n not in given.index]
        if absent:
            notes.append(f"ifn-2023: no cut points for {', '.join(absent)} in the --seuils-deciles file: "
                         "left out of the scores")
        computed = given.reindex([n for n in NAMES_2023 if n in given.index]).reset_index()
        computed = computed.reindex(columns=CUT_POINT_COLUMNS)
    bounds = computed.set_index("indicateur")
    scores = pd.DataFrame(index=values.index)
    for name in NAMES_2023:
        if name in bounds.index:
            scores[f"score_{name}"] = scores_from_cut_points(plain[name], bounds.loc[name, [
                c for c in bounds.columns if c.startswith("borne_")]].to_numpy(dtype="float64"))
        else:
            scores[f"score_{name}"] = pd.Series(pd.NA, index=values.index, dtype="Int64")
    return scores, computed


def _finish(values: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    out = pd.concat([values, scores], axis=1)
    out["score_total"], out["n_indicateurs"] = total(scores[[c for c in SCORE_COLUMNS_2023 if c != "score_total"]])
    out.loc[out["n_indicateurs"] == 0, "score_total"] = np.nan
    return out


def score_levels(counts: dict[str, pd.DataFrame], communes: pd.DataFrame | None,
                 weights: pd.DataFrame | None, given: pd.DataFrame | None, territoire: str) -> Scored2023:
    """counts: level -> the IFN counts of compute (code, parents, population, num_*, den_*);
    communes: commune-level inputs by code (commune_values); weights: IRIS x QPV weights
    (code_iris, code_qpv, poids) when there is a QPV layer; given: read_cut_points or None."""
    notes: list[str] = []
    communes_in = commune_values(communes)
    score_cols = [f"score_{n}" for n in NAMES_2023]
    iris = counts["iris"].set_index("code", drop=False)
    # ranked to 12 decimals: a rate published as 11.0 % comes back from rate x population / population
    # as 0.11000000000000001 or 0.11, and units tied in the source must stay tied (they share a score)
    iris_values = level_values("iris", iris, communes_in).round(DECIMALS)
    iris_scores, used = unit_scores(iris_values, given, territoire, notes)
    out = {"iris": _finish(iris_values, iris_scores)}

    com = counts["communes"].set_index("code", drop=False)
    com_scores = weighted_mean(iris_scores[score_cols], iris["population"], iris["code_commune"]).reindex(com.index)
    out["communes"] = _finish(level_values("communes", com, communes_in), com_scores)

    thd = communes_in.reindex(com.index.astype(str))
    thd.index = com.index
    for level in ABOVE_COMMUNES:
        units = counts[level].set_index("code", drop=False)
        groups = com[PARENT_KEY[level]]
        values = pd.DataFrame(index=units.index)
        both = thd["num_non_couverture_thd"].notna() & thd["den_non_couverture_thd"].notna()
        pooled = thd[both].groupby(groups[both])[["num_non_couverture_thd", "den_non_couverture_thd"]].sum()
        values["val_non_couverture_thd"] = _rate(pooled["num_non_couverture_thd"], pooled["den_non_couverture_thd"],
                                                 pooled.index).reindex(units.index)
        values["val_non_couverture_4g"] = weighted_mean(thd[["val_non_couverture_4g"]], com["population"],
                                                        groups)["val_non_couverture_4g"].reindex(units.index)
        for name, ind in FROM_COUNTS.items():
            values[f"val_{name}"] = _rate(units.get(f"num_{ind}"), units.get(f"den_{ind}"), units.index)
        scores = weighted_mean(out["communes"][score_cols], com["population"], groups).reindex(units.index)
        out[level] = _finish(values[[f"val_{n}" for n in NAMES_2023]], scores)

    if weights is not None and "qpv" in counts:
        out["qpv"] = _qpv(counts["qpv"].set_index("code", drop=False), weights, iris, out["iris"])
    return Scored2023(out, used, notes)


def _qpv(qpv: pd.DataFrame, weights: pd.DataFrame, iris: pd.DataFrame, iris_out: pd.DataFrame) -> pd.DataFrame:
    """QPV scores (and THD/4G values) from its IRIS, weighted by the people each gives it."""
    pairs = weights[weights["code_iris"].isin(iris_out.index)]
    people = pairs["poids"].to_numpy(dtype="float64") * iris["population"].reindex(pairs["code_iris"]).to_numpy(dtype="float64")
    rows = iris_out.reindex(pairs["code_iris"].to_numpy())
    cols = ["val_non_couverture_thd", "val_non_couverture_4g"] + [f"score_{n}" for n in NAMES_2023]
    means = weighted_mean(rows[cols], pd.Series(people), pairs["code_qpv"]).reindex(qpv.index)
    values = pd.DataFrame(index=qpv.index)
    for name in NAMES_2023:
        ind = FROM_COUNTS.get(name)
        values[f"val_{name}"] = (_rate(qpv.get(f"num_{ind}"), qpv.get(f"den_{ind}"), qpv.index) if ind
                                 else means[f"val_{name}"])
    return _finish(values, means[[f"score_{n}" for n in NAMES_2023]])


def territory_label(departements: list[str]) -> tuple[str, bool]:
    """What the loaded units cover, and whether it is all of France (every département of the COG)."""
    cog = pd.read_csv(PACKAGE_DIR / "resources" / "cog_departements.csv", sep=";", dtype=str)["DEP"]
    loaded = sorted(set(departements))
    if set(cog) <= set(loaded):
        return "France entière", True
    return f"départements {', '.join(loaded)}", False


def results(counts: dict[str, pd.DataFrame], levels: list[str], communes: pd.DataFrame | None,
            weights: pd.DataFrame | None, seuils_deciles: Path | None,
            notes: list[str]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict]:
    """The compute stage of ifn-2023: every level's counts with its val_* and score_* columns, the
    cut points used (seuils_deciles.csv) and what the run report says of them."""
    given = read_cut_points(seuils_deciles) if seuils_deciles else None
    units = counts["iris"]
    territoire, national = territory_label(units["code_departement"].dropna().tolist())
    scored = score_levels(counts, communes, weights, given, territoire)
    notes.extend(scored.notes)
    if given is not None:
        notes.append(f"ifn-2023: units scored against the cut points of {seuils_deciles} "
                     f"({', '.join(sorted(set(given['territoire'].astype(str))))})")
    elif not national:
        notes.append(f"ifn-2023: WARNING deciles ranked over the {len(units)} units loaded ({territoire}), not all "
                     "of France: a score ranks a unit within this territory, not nationally as the 2023 portal "
                     "does; give --seuils-deciles with national cut points to score against France")
    out = {}
    for level in levels:
        df = counts[level].reset_index(drop=True)
        extra = scored.levels[level].reindex(df["code"].to_numpy()).reset_index(drop=True)
        # the IFN values too (ind_*), not in the layers: the QPV comparison with INSEE's figures reads them
        ind = indicator_values(df).add_prefix("ind_")
        out[level] = pd.concat([df, ind, extra], axis=1)
    info = {"territoire": territoire if given is None else None, "france_entiere": national if given is None else None,
            "fichier": str(seuils_deciles) if given is not None else None,
            "n_unites": int(len(units)),
            "seuils": scored.cut_points.astype(object).where(scored.cut_points.notna(), None).to_dict(orient="records")}
    return out, scored.cut_points, info
