"""The QPV layer: weights, allocated counts, scores, official figures beside ours, comparison.

Called by compute.compute when QPV contours are among the inputs. Allocation follows METHODS 3:
counts, never rates, carried by the share of each IRIS's population living in each QPV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from indicators.stages.geometry import from_wkb, polygonal
from indicators.stages.allocation import SEUIL_CLASSE, calibrate, compute_weights
from indicators.stages.stage_cache import StageCache, StageResult, content_key
from indicators.db import run_sql, table_from_frame
from indicators.sources.staging import read_staged
from indicators.errors import FragiliteError

FIGURES = {"2015": "insee_qpv_demo", "2024": "insee_qpv_pop2024"}
CALIBRATIONS = ["none", "population"]


def official_figures(staged: dict[str, str], liste: str) -> pd.DataFrame:
    frames = []
    for sid in (FIGURES[liste], "anct_qpv_indicateurs" if liste == "2015" else None):
        if sid and sid in staged:
            frames.append(read_staged(staged[sid]).set_index("code_qpv"))
    if not frames:
        return pd.DataFrame(index=pd.Index([], name="code_qpv"))
    out = frames[0]
    for f in frames[1:]:
        out = out.combine_first(f)  # DEMO first: it is INSEE's own file
    return out


def kept_weights(con, staged: dict[str, str], liste: str, iris_geoms: pd.DataFrame, qpv: pd.DataFrame,
                 stages: StageCache, iris_key: str) -> pd.DataFrame:
    """compute_weights, kept between refreshes under what it reads: the IRIS polygons and their
    départements (`iris_key`), the QPV contours, the 200 m cells and what they cover."""
    sources = [f"qpv_contours_{liste}", "filosofi_200m", "filosofi_200m_emprise"]
    key = stages.key("poids", iris_key, {s: content_key(staged[s]) for s in sources if s in staged}, SEUIL_CLASSE)

    def run() -> StageResult:
        cells = read_staged(staged["filosofi_200m"]) if "filosofi_200m" in staged else None
        emprise = read_staged(staged["filosofi_200m_emprise"]) if "filosofi_200m_emprise" in staged else None
        if cells is not None:
            cells = cells[cells["ind"].notna()]
        return StageResult(frames={"poids": compute_weights(con, iris_geoms, qpv, cells, emprise)})

    return stages.run(con, "poids_iris_qpv", key, run).frames["poids"]


def build(con, staged: dict[str, str], liste: str, calibration: str, iris_geoms: pd.DataFrame,
          notes: list[str], stages: StageCache | None = None, iris_key: str = "") -> dict:
    """Weights and QPV counts (table cnt_qpv). iris_geoms: code_iris, code_departement, geometry, epsg."""
    if calibration not in CALIBRATIONS:
        raise FragiliteError(f"unknown --qpv-calibration {calibration!r}; choose one of {CALIBRATIONS}")

    contours = read_staged(staged[f"qpv_contours_{liste}"])
    geoms = from_wkb(contours["wkb"])
    valid, repaired = polygonal(geoms)
    if repaired:
        notes.append(f"qpv: {repaired} QPV polygons were invalid as published and were repaired (make_valid)")
    qpv = pd.DataFrame({"code_qpv": contours["code_qpv"], "geometry": valid, "epsg": contours["epsg"]})
    qpv = qpv[~shapely.is_missing(qpv["geometry"].to_numpy())]
    weights = kept_weights(con, staged, liste, iris_geoms, qpv, stages or StageCache(None), iris_key)

    figures = official_figures(staged, liste)
    iris_pop = con.sql("SELECT code_iris, population FROM cnt_iris").df().set_index("code_iris")["population"]
    weights["facteur_calibration"] = np.nan
    if calibration == "population":
        if "population_officielle" not in figures:
            raise FragiliteError("--qpv-calibration population needs the published QPV populations "
                                 f"(source {FIGURES[liste]})")
        weights = calibrate(weights, iris_pop, figures["population_officielle"])
    table_from_frame(con, "poids", weights[["code_iris", "code_qpv", "poids"]])
    run_sql(con, "aggregates/qpv_parts")
    run_sql(con, "aggregates/ifn_counts", table="cnt_qpv", key="code_qpv", source="qpv_parts")
    run_sql(con, "aggregates/revenu_median", source="qpv_parts", key="code_qpv", target="rev_qpv")
    run_sql(con, "aggregates/revenu_attach", table="cnt_qpv", median="rev_qpv")

    missing = sorted(set(weights["code_iris"]) - set(iris_pop.index))
    if missing:
        notes.append(f"qpv: {len(missing)} IRIS touching a QPV have no census counts and give it nobody: "
                     f"{', '.join(missing[:10])}")
    counts = con.sql("SELECT * FROM cnt_qpv ORDER BY code").df()
    # QPVs no census IRIS reaches are still listed (with empty counts): every QPV has a row
    absent = sorted(set(qpv["code_qpv"]) - set(counts["code"]))
    if absent:
        notes.append(f"qpv: {len(absent)} QPVs receive no census population: {', '.join(absent[:10])}")
        counts = pd.concat([counts, pd.DataFrame({"code": absent})], ignore_index=True)
    return {"weights": weights, "counts": counts, "figures": figures, "contours": contours, "polygons": qpv,
            "geometry": pd.Series(valid, index=contours["code_qpv"].to_numpy())}


def describe(weights: pd.DataFrame, iris_pop: pd.Series, contours: pd.DataFrame) -> pd.DataFrame:
    """Per QPV: the communes it spans, its main weighting source and the share of its
    population allocated by the cells."""
    w = weights.assign(pop=weights["code_iris"].map(iris_pop).fillna(0) * weights["poids"])
    by = w.groupby("code_qpv")
    grid = w[w["source_poids"] == "carreaux_200m"].groupby("code_qpv")["pop"].sum()
    total = by["pop"].sum()
    share = (grid.reindex(total.index).fillna(0) / total.where(total > 0)).rename("part_poids_carreaux")
    out = pd.DataFrame(index=contours["code_qpv"])
    out["nom_qpv"] = contours.set_index("code_qpv")["nom_qpv"]
    out["codes_communes_qpv"] = contours.set_index("code_qpv")["communes"].replace("", pd.NA)
    out["part_poids_carreaux"] = share
    out["source_poids"] = np.where(out["part_poids_carreaux"] >= 0.5, "carreaux_200m", "surface")
    out["n_iris_qpv"] = by.size().reindex(out.index).fillna(0).astype(int)
    if "facteur_calibration" in w and w["facteur_calibration"].notna().any():
        f = (w["poids"] * w["code_iris"].map(iris_pop)).groupby(w["code_qpv"]).sum()
        base = (w["poids"] / w["facteur_calibration"] * w["code_iris"].map(iris_pop)).groupby(w["code_qpv"]).sum()
        out["facteur_calibration"] = (f / base).reindex(out.index)
    return out


def comparison(layer: pd.DataFrame) -> pd.DataFrame:
    """Ours beside INSEE's, per QPV with official figures, and the errors."""
    cols = ["code_qpv", "nom_qpv", "source_poids", "part_poids_carreaux", "population", "population_officielle",
            "part_60_plus", "part_60_plus_officielle", "ind_taux_pauvrete", "taux_pauvrete_officiel",
            "taux_emploi_officiel"]
    df = layer[[c for c in cols if c in layer.columns]].copy()
    if "population_officielle" not in df:   # no official figures for this list among the inputs
        df["population_officielle"] = np.nan
    df = df[df["population_officielle"].notna()]
    df["erreur_population"] = (df["population"] - df["population_officielle"]) / df["population_officielle"]
    if "part_60_plus_officielle" in df:
        df["ecart_part_60_plus"] = df["part_60_plus"] - df["part_60_plus_officielle"]
    if "taux_pauvrete_officiel" in df:
        df["ecart_taux_pauvrete"] = df["ind_taux_pauvrete"] - df["taux_pauvrete_officiel"]
    return df.rename(columns={"ind_taux_pauvrete": "taux_pauvrete"}).sort_values("code_qpv").reset_index(drop=True)


def summary(comp: pd.DataFrame) -> list[dict]:
    rows: list[dict] = []
    if comp.empty:
        return rows
    for source, g in list(comp.groupby("source_poids")) + [("toutes", comp)]:
        g = g[g["population"].notna()]
        if not len(g):
            continue
        row = {"source_poids": source, "qpv": int(len(g)),
               "erreur_mediane_population": float(g["erreur_population"].abs().median()),
               "total_estime_sur_officiel": float(g["population"].sum() / g["population_officielle"].sum())}
        if "ecart_part_60_plus" in g and g["ecart_part_60_plus"].notna().any():
            row["ecart_median_part_60_plus"] = float(g["ecart_part_60_plus"].abs().median())
        if "ecart_taux_pauvrete" in g and g["ecart_taux_pauvrete"].notna().any():
            row["ecart_median_taux_pauvrete"] = float(g["ecart_taux_pauvrete"].abs().median())
        rows.append(row)
    return rows


def attach(results: dict[str, pd.DataFrame], qpv_data: dict, iris_pop: pd.Series, liste: str) -> None:
    """The QPV layer gains its weights' summary and INSEE's published figures beside ours; the
    IRIS layer gains the share of its people living in a QPV and the QPVs' codes."""
    extra = describe(qpv_data["weights"], iris_pop, qpv_data["contours"]).join(qpv_data["figures"], how="left")
    q = results["qpv"].set_index("code").join(extra, how="left")
    q["part_60_plus"] = q["num_part_60_plus"] / q["den_part_60_plus"].where(q["den_part_60_plus"] > 0)
    q["liste_qpv"] = liste
    results["qpv"] = q.reset_index(names="code")
    w = qpv_data["weights"]
    share = w.groupby("code_iris")["poids"].sum()
    codes = w[w["poids"] > 0].groupby("code_iris")["code_qpv"].agg(lambda s: ",".join(sorted(s)))
    results["iris"]["part_population_qpv"] = results["iris"]["code"].map(share).fillna(0.0)
    results["iris"]["codes_qpv"] = results["iris"]["code"].map(codes)
