"""Indicators that come per commune or per equipment, not per IRIS: ARCEP fixed coverage, INSEE BPE
public services, and the commune figures the user gives (METHODS 1.5).

`share_out` runs before the IRIS counts: ARCEP's commune premises shared among the IRIS by their
households, the BPE equipments of the listed types counted per IRIS (sql/indicators/*_iris.sql).
`apply_user_values` runs after them: a commune value the user gives replaces its IRIS' counts.
`report` says, per indicator, where its values came from, and lists every row of these files that
matched no unit of the run.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from indicators.db import run_sql
from indicators.errors import FragiliteError
from indicators.sources.readers.arcep import eligible_column
from indicators.sources.readers.bpe import PUBLIC_SERVICES
from indicators.sources.readers.indicateurs_communes import OTHER_IDS

# rows that must not repeat across the files of one source (each file's reader checks its own)
KEYS = {
    "arcep_fixe": ("code_commune", "count(locaux) > 1 OR count(locaux_ftth) > 1 OR count(inel_hd) > 1"),
    "insee_bpe": ("code_iris, typequ", "count(*) > 1"),
    "indicateurs_communes": ("code_commune, indicateur", "count(*) > 1"),
}


def check_keys(con: duckdb.DuckDBPyConnection) -> None:
    for sid, (key, repeated) in KEYS.items():
        dup = con.sql(f"SELECT {key} FROM raw_{sid} GROUP BY {key} HAVING {repeated} LIMIT 5").fetchall()
        if dup:
            raise FragiliteError(f"{sid}: {[' '.join(map(str, d)) for d in dup]} appear in several input files")


def share_out(con: duckdb.DuckDBPyConnection, speed_mbits: float, types: list[str]) -> None:
    """Per IRIS: premises and premises eligible at `speed_mbits`; equipments of `types`."""
    check_keys(con)
    run_sql(con, "staging/arcep_communes")
    run_sql(con, "indicators/couverture_fixe_iris", eligibles=eligible_column(speed_mbits))
    run_sql(con, "indicators/services_publics_iris", {"types": list(types)})
    run_sql(con, "staging/indicateurs_communes")


def apply_user_values(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The user's commune values over the IRIS counts (cnt_iris); the indicators they gave."""
    given = [r[0] for r in con.sql("SELECT DISTINCT indicateur FROM stg_indicateurs_communes ORDER BY 1").fetchall()]
    for ind in given:
        if ind in OTHER_IDS:   # couverture_4g: no 2020 count to replace; ifn-2023 reads it itself
            continue
        if ind == "revenu_median":
            run_sql(con, "indicators/indicateurs_communes_revenu")
        else:
            run_sql(con, "indicators/indicateurs_communes_iris", ind=ind)
    return given


def unmatched(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every row of ARCEP's, the BPE's and the user's commune files that no unit of the run took."""
    return con.sql("""
        SELECT 'arcep_fixe' AS source, code, quantite, 'locaux' AS unite,
               CASE WHEN quantite = 0 THEN 'commune inconnue du run, 0 locaux (commune absorbée ?)'
                    ELSE 'commune inconnue du run' END AS raison
        FROM arcep_non_rattaches
        UNION ALL
        SELECT 'insee_bpe', code, quantite, 'équipements des types retenus', 'commune inconnue du run'
        FROM bpe_non_rattaches
        UNION ALL
        SELECT 'insee_bpe', code_commune, sum(nb_equip), 'équipements des types retenus',
               'IRIS inconnu du run : répartis entre les IRIS de la commune selon leur population'
        FROM bpe_listes WHERE code_iris NOT IN (SELECT code_iris FROM stg_iris WHERE in_rp)
              AND code_commune IN (SELECT code_commune FROM stg_iris WHERE in_rp)
        GROUP BY code_commune
        UNION ALL
        SELECT 'indicateurs_communes', code_commune, count(*), 'valeurs', 'commune inconnue du run'
        FROM stg_indicateurs_communes
        WHERE code_commune NOT IN (SELECT code_commune FROM stg_iris WHERE in_rp AND code_commune IS NOT NULL)
        GROUP BY code_commune
        ORDER BY source, code
    """).df()


def summary(con: duckdb.DuckDBPyConnection, speed_mbits: float, types: list[str]) -> tuple[dict, pd.DataFrame]:
    """(where each of these indicators came from in this run, the rows that matched no unit)."""
    table = unmatched(con)
    given = [r[0] for r in con.sql("SELECT DISTINCT indicateur FROM stg_indicateurs_communes ORDER BY 1").fetchall()]
    run_communes = con.sql("SELECT count(DISTINCT code_commune) FROM stg_iris WHERE in_rp").fetchone()[0]
    out: dict = {"indicateurs": {}, "non_rattaches": {}}
    arcep = con.sql("SELECT count(*), count(*) FILTER (format = 'ftth'), "
                    "count(*) FILTER (locaux_ftth > locaux), max(date_arcep) FROM stg_arcep_communes").fetchone()
    covered = con.sql("SELECT count(DISTINCT code_commune) FROM stg_iris i JOIN iris_couverture_fixe c "
                      "USING (code_iris) WHERE c.den_couverture_fixe > 0").fetchone()[0]
    if arcep[0]:
        definition = (f"ARCEP ({arcep[3]}): locaux éligibles à {speed_mbits:g} Mbit/s ou plus, toutes technologies, "
                      "/ locaux" if arcep[1] == 0 else
                      f"ARCEP, observatoire FttH ({arcep[3]}): locaux raccordables en FttH / locaux (FttH seulement, "
                      f"pas toute technologie ; {arcep[2]} communes plafonnées à 100 %)")
        out["indicateurs"]["couverture_fixe"] = [f"{definition}; {covered} communes du run sur {run_communes}"]
    bpe = con.sql("SELECT count(DISTINCT code_departement) FROM raw_insee_bpe").fetchone()[0]
    if bpe:
        counted = con.sql("SELECT count(DISTINCT i.code_commune) FROM stg_iris i JOIN iris_services_publics s "
                          "USING (code_iris)").fetchone()[0]
        out["indicateurs"]["services_publics"] = [
            f"INSEE BPE: équipements des types {', '.join(types)} / population RP; {counted} communes du run "
            f"sur {run_communes} (0 pour une commune d'un département couvert sans aucun de ces types)"]
    for ind in given:
        n = con.sql("SELECT count(DISTINCT v.code_commune), any_value(v.fichier) FROM stg_indicateurs_communes v "
                    "JOIN stg_iris i USING (code_commune) WHERE v.indicateur = $ind", params={"ind": ind}).fetchone()
        out["indicateurs"].setdefault(ind, []).append(
            f"indicateurs_communes ({n[1]}): valeur fournie pour {n[0]} communes, qui remplace celle de la source")
    for source, rows in table.groupby("source"):
        out["non_rattaches"][source] = {raison: {"lignes": int(len(g)), "quantite": float(g["quantite"].sum())}
                                        for raison, g in rows.groupby("raison")}
    out["communes_sans_arcep"] = int(run_communes - covered) if arcep[0] else None
    return out, table
