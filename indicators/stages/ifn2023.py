"""The method ifn-2023: a 2023-like reconstruction of La MedNum's March-2023 portal index (METHODS 1.4).

Units are the IRIS of the communes split into IRIS and the communes not split (one IRIS row
`COM0000`, typ Z): the rows of the IRIS counts. Each of the five indicators is scored 1-10 by the
deciles of the units having a value (deciles.py), over every unit loaded, or against cut points
the user gives. Territories are scored by population-weighted means of their units' scores:
a commune from its IRIS, an EPCI, a département and a région from their communes, a QPV from the
IRIS it draws people from (weight = the IRIS's population x its IRIS x QPV weight).

Values (`val_*`, the unit's own rate): 65+, low diploma and poverty are num / den of the level's
counts. THD and 4G non-coverage are commune figures: an IRIS takes its commune's rate; above the
IRIS, THD pools the premises (each IRIS holds its share of its commune's, below the speed and
all), 4G (a rate without counts) is the population-weighted mean of the communes'; a QPV takes
the weighted mean of its IRIS' values, weighted by the people each gives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from indicators.db import run_sql
from indicators.sources.readers.arcep import eligible_column
from indicators.stages.levels import cog
from indicators.stages.scoring import indicator_values
from indicators.stages.deciles import (CUT_POINT_COLUMNS, NAMES_2023, SCORE_COLUMNS_2023, cut_point_table,
                                       read_cut_points, scores_from_cut_points, total, weighted_mean)

# the indicators the method takes from the IFN counts: layer name -> count id
FROM_COUNTS = {"65_plus": "personnes_65_plus", "peu_diplomes": "peu_diplomes", "pauvrete": "taux_pauvrete"}
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


INPUT_COLUMNS = ["num_non_couverture_thd", "den_non_couverture_thd", "val_non_couverture_thd", "val_non_couverture_4g"]


def iris_inputs(con, speed_mbits: float, notes: list[str]) -> pd.DataFrame:
    """The commune figures of every IRIS (sql/ifn2023/iris_inputs.sql): THD non-coverage from ARCEP's
    speed classes at `speed_mbits`, 4G non-coverage from the user's commune table. Runs after the
    counts stage has staged ARCEP's communes and shared their premises out to the IRIS."""
    run_sql(con, "ifn2023/iris_inputs", eligibles=eligible_column(speed_mbits))
    formats = dict(con.sql("SELECT format, count(*) FROM stg_arcep_communes GROUP BY format").fetchall())
    if formats.get("ftth") and not formats.get("debits"):
        notes.append("ifn-2023: ARCEP's file is the FttH export (no speed classes): no THD non-coverage")
    return con.sql("SELECT * FROM ifn2023_iris").df().set_index("code_iris")


def with_inputs(iris: pd.DataFrame, inputs: pd.DataFrame | None) -> pd.DataFrame:
    """The IRIS counts with the commune-level inputs of each IRIS (iris_inputs, by code_iris):
    its share of the commune's premises and of those below the THD speed, the commune's THD and 4G
    non-coverage; NaN where the run has none."""
    extra = (inputs if inputs is not None else pd.DataFrame(columns=INPUT_COLUMNS)).reindex(
        index=iris["code"].astype(str).to_numpy(), columns=INPUT_COLUMNS).astype("float64")
    extra.index = iris.index
    return pd.concat([iris.drop(columns=INPUT_COLUMNS, errors="ignore"), extra], axis=1)


def level_values(units: pd.DataFrame, iris: pd.DataFrame, key: str | None) -> pd.DataFrame:
    """val_* of a level's units. key: the IRIS column naming their unit (None: the IRIS themselves,
    which take their commune's THD and 4G figures). Above the IRIS, THD pools the premises of the
    IRIS (their shares add up to ARCEP's commune counts) and 4G, a rate without counts, is the
    population-weighted mean of the IRIS' (their communes') values."""
    out = pd.DataFrame(index=units.index)
    if key is None:
        out["val_non_couverture_thd"] = iris["val_non_couverture_thd"]
        out["val_non_couverture_4g"] = iris["val_non_couverture_4g"]
    else:
        both = iris["num_non_couverture_thd"].notna() & iris["den_non_couverture_thd"].notna()
        pooled = iris[both].groupby(iris.loc[both, key])[["num_non_couverture_thd", "den_non_couverture_thd"]].sum()
        out["val_non_couverture_thd"] = _rate(pooled["num_non_couverture_thd"], pooled["den_non_couverture_thd"],
                                              pooled.index).reindex(units.index)
        out["val_non_couverture_4g"] = weighted_mean(iris[["val_non_couverture_4g"]], iris["population"],
                                                     iris[key])["val_non_couverture_4g"].reindex(units.index)
    for name, ind in FROM_COUNTS.items():
        out[f"val_{name}"] = _rate(units.get(f"num_{ind}"), units.get(f"den_{ind}"), units.index)
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


def score_levels(counts: dict[str, pd.DataFrame], inputs: pd.DataFrame | None,
                 weights: pd.DataFrame | None, given: pd.DataFrame | None, territoire: str) -> Scored2023:
    """counts: level -> the IFN counts of compute (code, parents, population, num_*, den_*);
    inputs: the commune-level inputs per IRIS (with_inputs); weights: IRIS x QPV weights
    (code_iris, code_qpv, poids) when there is a QPV layer; given: read_cut_points or None."""
    notes: list[str] = []
    score_cols = [f"score_{n}" for n in NAMES_2023]
    iris = with_inputs(counts["iris"].set_index("code", drop=False), inputs)
    # ranked to 12 decimals: a rate published as 11.0 % comes back from rate x population / population
    # as 0.11000000000000001 or 0.11, and units tied in the source must stay tied (they share a score)
    iris_values = level_values(iris, iris, None).round(DECIMALS)
    iris_scores, used = unit_scores(iris_values, given, territoire, notes)
    out = {"iris": _finish(iris_values, iris_scores)}

    com = counts["communes"].set_index("code", drop=False)
    com_scores = weighted_mean(iris_scores[score_cols], iris["population"], iris["code_commune"]).reindex(com.index)
    out["communes"] = _finish(level_values(com, iris, "code_commune"), com_scores)
    for level in ABOVE_COMMUNES:
        units = counts[level].set_index("code", drop=False)
        scores = weighted_mean(out["communes"][score_cols], com["population"], com[PARENT_KEY[level]])
        out[level] = _finish(level_values(units, iris, PARENT_KEY[level]), scores.reindex(units.index))

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
    loaded = sorted(set(departements))
    if set(cog("departements")["DEP"]) <= set(loaded):
        return "France entière", True
    return f"départements {', '.join(loaded)}", False


def results(counts: dict[str, pd.DataFrame], levels: list[str], inputs: pd.DataFrame | None,
            weights: pd.DataFrame | None, seuils_deciles: Path | None,
            notes: list[str]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict]:
    """The compute stage of ifn-2023: every level's counts with its val_* and score_* columns, the
    cut points used (seuils_deciles.csv) and what the run report says of them."""
    given = read_cut_points(seuils_deciles) if seuils_deciles else None
    units = counts["iris"]
    territoire, national = territory_label(units["code_departement"].dropna().tolist())
    scored = score_levels(counts, inputs, weights, given, territoire)
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
