"""Platform workers from SIRENE (METHODS 2): who is counted, where they live, the Compas summary.

The counting rule is a dataclass (PlatformRule, stages/options.py): every choice METHODS calls "assumed" is a field with its
documented default, so an observatory can change it and say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from indicators.stages.allocation import ZONES
from indicators.stages.points import place
from indicators.db import run_sql, table_from_frame
from indicators.stages.stage_cache import StageCache, StageResult
from indicators.stages.levels import LEVEL_KEY
from indicators.stages.options import PlatformRule  # noqa: F401  (its home was here)

PROFESSIONS = ["livreurs", "vtc"]
# the legal CRSs of French territories, and the lon/lat and web-mercator ones a file may use
EPSG_CONNUS = [2154, 5490, 2972, 2975, 4471, 4467, 4326, 3857, 27572]


def present(staged: dict[str, str]) -> bool:
    return all(s in staged for s in ("sirene_etablissements", "sirene_unites_legales", "sirene_geolocalisation"))


# what the report and the counts of every level read; kept between refreshes
KEPT_TABLES = ["pf_candidats", "pf_domiciliations", "pf_localises"]


def build(con, rule: PlatformRule, liste: str, iris_src: pd.DataFrame, qpv_src: pd.DataFrame | None,
          notes: list[str], stages: StageCache | None = None, key: str = "") -> dict:
    """Runs sql/plateformes/*: pf_localises, then pf_<level> for every level. Returns the report.
    The located establishments are kept between refreshes under `key` (the SIRENE files, the
    polygons, the rule): a refresh where only the census or ARCEP changed locates nobody again."""
    stages = stages or StageCache(None)
    stages.run(con, "plateformes", stages.key("plateformes", key, rule.params(liste)),
               lambda: locate(con, rule, liste, iris_src, qpv_src))
    return report(con, rule, notes)


def locate(con, rule: PlatformRule, liste: str, iris_src: pd.DataFrame, qpv_src: pd.DataFrame | None) -> StageResult:
    """The establishments counted, each with its IRIS and QPV (pf_localises)."""
    params = rule.params(liste)
    run_sql(con, "plateformes/etablissements", params=params)
    run_sql(con, "plateformes/localisation", params={**params, "epsg_connus": EPSG_CONNUS})
    points = con.execute("SELECT siret, px, py, pepsg, code_commune FROM pf_points "
                         "WHERE px IS NOT NULL AND py IS NOT NULL AND list_contains($known, pepsg)",
                         {"known": EPSG_CONNUS}).df()
    # typed: a column of None alone (no QPV contours) would come in as an integer
    table_from_frame(con, "pf_poly", place(points, iris_src, qpv_src, ZONES),
                     "siret, CAST(iris_polygone AS VARCHAR) AS iris_polygone, CAST(qpv_polygone AS VARCHAR) AS qpv_polygone")
    run_sql(con, "plateformes/final")
    return StageResult(tables=KEPT_TABLES)


def report(con, rule: PlatformRule, notes: list[str]) -> dict:
    q = lambda sql: con.sql(sql).df()
    exclusions = q("SELECT profession, coalesce(exclusion, 'compté') AS statut, count(*) AS n FROM pf_candidats GROUP BY ALL ORDER BY ALL")
    chemins = q("SELECT chemin_iris, chemin_qpv, count(*) AS n FROM pf_localises GROUP BY ALL ORDER BY ALL")
    desaccord = con.execute("""
        SELECT count(*) FILTER (iris_insee IS NOT NULL AND iris_polygone IS NOT NULL),
               count(*) FILTER (iris_insee IS NOT NULL AND iris_polygone IS NOT NULL AND iris_insee <> iris_polygone),
               count(*) FILTER (qpv_insee IS NOT NULL AND qpv_polygone IS NOT NULL),
               count(*) FILTER (qpv_insee IS NOT NULL AND qpv_polygone IS NOT NULL AND qpv_insee <> qpv_polygone)
        FROM pf_localises""").fetchone()
    anomalies = q("SELECT anomalie, count(*) AS n FROM pf_localises WHERE anomalie IS NOT NULL GROUP BY ALL")
    unlocated = q("SELECT siret, profession, code_commune, coalesce(anomalie, 'ni code INSEE, ni coordonnées') AS raison "
                  "FROM pf_localises WHERE chemin_iris = 'non localisé' ORDER BY siret")
    domiciliations = q("SELECT code_commune, adresse, motif, count(*) AS etablissements "
                       "FROM pf_domiciliations GROUP BY ALL ORDER BY etablissements DESC, code_commune")
    if len(unlocated):
        notes.append(f"plateformes: {len(unlocated)} kept establishments could not be placed in an IRIS "
                     "(listed in sirene_non_localises.csv)")
    if len(anomalies):
        notes.append("plateformes: " + ", ".join(f"{r.n} {r.anomalie}" for r in anomalies.itertuples()))
    return {
        "regle": rule.to_dict(),
        "exclusions": exclusions.to_dict(orient="records"),
        "chemins": chemins.to_dict(orient="records"),
        "desaccord_iris": {"comparables": int(desaccord[0]), "differents": int(desaccord[1])},
        "desaccord_qpv": {"comparables": int(desaccord[2]), "differents": int(desaccord[3])},
        "tables": {"sirene_domiciliations": domiciliations, "sirene_non_localises": unlocated},
    }


def level_counts(con, level: str, key: str) -> pd.DataFrame:
    if level == "qpv":
        return con.sql("SELECT code_qpv AS code, count(*) FILTER (profession = 'livreurs') AS livreurs, "
                       "count(*) FILTER (profession = 'vtc') AS vtc FROM pf_localises "
                       "WHERE coalesce(code_qpv, '') <> '' GROUP BY code_qpv").df()
    run_sql(con, "plateformes/niveau", level=level, key=key)
    return con.sql(f"SELECT * FROM pf_{level}").df()


def add_rates(df: pd.DataFrame, national: dict[str, float]) -> pd.DataFrame:
    """Per 1 000 employed residents, and location quotients against the run's whole territory."""
    ao = df["actifs_occupes"].astype("float64")
    ao = ao.where(ao > 0)
    for p in PROFESSIONS:
        df[f"{p}_pour_mille"] = 1000 * df[p] / ao
        df[f"quotient_localisation_{p}"] = (df[p] / ao) / national[p] if national.get(p) else np.nan
    return df


def summary(by_qpv_total: dict[str, float], totals: dict[str, float], ao_qpv: float | None, ao_total: float | None) -> list[dict]:
    """METHODS 2, as Compas published it: share of each profession living in a QPV, share of all
    employed residents living in a QPV, and the over-representation ratio of the two."""
    part_ao = ao_qpv / ao_total if ao_qpv is not None and ao_total else None
    rows = []
    for p in PROFESSIONS:
        n, nq = totals.get(p, 0), by_qpv_total.get(p, 0)
        share = nq / n if n else None
        rows.append({"profession": p, "etablissements": int(n), "en_qpv": int(nq), "part_en_qpv": share,
                     "part_actifs_occupes_en_qpv": part_ao,
                     "surrepresentation": share / part_ao if share is not None and part_ao else None})
    return rows


def attach(con, counts: dict[str, pd.DataFrame], levels: list[str], report_: dict, has_qpv: bool) -> dict:
    """The counts of every level gain livreurs, vtc, their rates and the SIRENE date; the report
    gains the Compas summary for the run's territory (share in QPV, over-representation)."""
    date_sirene = con.execute("SELECT max(substr(dateDernierTraitementEtablissement, 1, 10)) "
                              "FROM raw_sirene_etablissements").fetchone()[0]
    fr = level_counts(con, "france", "code_france").set_index("code")
    ao_fr = counts["france"].set_index("code")["actifs_occupes"]
    national = {p: (fr[p].sum() / ao_fr.sum()) if ao_fr.notna().any() and ao_fr.sum() > 0 else None
                for p in PROFESSIONS}
    for level in levels:
        pf = level_counts(con, level, LEVEL_KEY[level]).set_index("code")
        c = counts[level]
        for p in PROFESSIONS:
            c[p] = c["code"].map(pf[p]).fillna(0).astype("int64")
        c["date_sirene"] = date_sirene
        counts[level] = add_rates(c, national)
    in_qpv = {p: int(counts["qpv"][p].sum()) for p in PROFESSIONS} if has_qpv else {}
    ao_qpv = counts["qpv"]["actifs_occupes"].sum(min_count=1) if has_qpv else None
    report_["synthese"] = summary(in_qpv, {p: int(fr[p].sum()) for p in PROFESSIONS},
                                  None if ao_qpv is None or pd.isna(ao_qpv) else float(ao_qpv),
                                  float(ao_fr.sum()) if ao_fr.notna().any() else None)
    report_["date_sirene"] = date_sirene
    return report_
