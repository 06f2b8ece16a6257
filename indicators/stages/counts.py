"""Counts of every level: numerators and denominators per IRIS, summed up the hierarchy.

DuckDB does it all (sql/staging, sql/indicators, sql/aggregates): the staged Parquet files are
seen as views `raw_<source>`, one row per IRIS comes out of the census files (or of the MedNum 2020
file alone), and communes, EPCI, départements, régions and France are sums of their IRIS, never
averages of rates.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from indicators import PACKAGE_DIR
from indicators.db import run_sql
from indicators.errors import FragiliteError
from indicators.sources.readers.arcep import DEFAULT_SPEED_MBITS
from indicators.sources.readers.bpe import PUBLIC_SERVICES
from indicators.sources.staging import listed
from indicators.stages import commune_sources
from indicators.stages.levels import LEVEL_KEY
from indicators.stages.stage_cache import StageCache, StageResult, content_key

AGGREGATED = ["communes", "epci", "departements", "regions", "france"]
# sources delivered one file per territory: an IRIS must not come from two of them
ONE_ROW_PER_IRIS = ["rp_population", "mednum_kit_2020", "contours_iris"]


def register_staged(con: duckdb.DuckDBPyConnection, staged: dict[str, str]) -> None:
    """Every staged source as a view `raw_<source>` over its Parquet file(s)."""
    for sid, path in staged.items():
        files = ", ".join("'" + p.replace("'", "''") + "'" for p in listed(path))
        con.execute(f"CREATE OR REPLACE VIEW raw_{sid} AS "
                    f"SELECT * FROM read_parquet([{files}], union_by_name = true)")


def check_unique_iris(con: duckdb.DuckDBPyConnection, staged: dict[str, str]) -> None:
    for sid in ONE_ROW_PER_IRIS:
        if sid in staged:
            dup = con.sql(f"SELECT code_iris FROM raw_{sid} GROUP BY code_iris HAVING count(*) > 1 LIMIT 5").fetchall()
            if dup:
                raise FragiliteError(f"{sid}: IRIS {[d[0] for d in dup]} appear in several input files")


def is_mednum_mode(staged: dict[str, str]) -> bool:
    """A run given the MedNum 2020 file and no census reads that file alone (names, hierarchy,
    geometry included)."""
    return "mednum_kit_2020" in staged and "rp_population" not in staged


# Sources read by later stages only (QPV allocation, platform workers): a change of one of them
# leaves the counts as they are. Any other source, present or future, is an input of the counts.
OTHER_STAGES = ("sirene_", "qpv_contours_", "insee_qpv_", "anct_qpv_", "filosofi_200m")


def ifn_counts(con: duckdb.DuckDBPyConnection, staged: dict[str, str], speed_mbits: float = DEFAULT_SPEED_MBITS,
               public_services: list[str] | None = None, stages: StageCache | None = None) -> dict[str, pd.DataFrame]:
    """level -> one row per unit with its `code`, names, parents, num_* / den_* and income.
    `speed_mbits`: fixed coverage at this speed or more; `public_services`: the BPE types counted.
    Kept between refreshes under the content of the sources it reads and these options
    (stage_cache.py): every table it makes (stg_iris, cnt_*...) is restored as it was made."""
    register_staged(con, staged)
    stages = stages or StageCache(None)
    services = list(public_services or PUBLIC_SERVICES)
    key = stages.key("counts", {sid: content_key(p) for sid, p in sorted(staged.items())
                                if not sid.startswith(OTHER_STAGES)}, float(speed_mbits), services)
    stages.run(con, "counts", key, lambda: count_tables(con, staged, float(speed_mbits), services))
    counts = {"iris": con.sql("SELECT * FROM cnt_iris ORDER BY code_iris").df()}
    counts["iris"]["code"] = counts["iris"]["code_iris"]
    for level in AGGREGATED:
        counts[level] = con.sql(f"SELECT * FROM cnt_{level} ORDER BY code").df()
    return counts


def count_tables(con: duckdb.DuckDBPyConnection, staged: dict[str, str], speed_mbits: float,
                 services: list[str]) -> StageResult:
    """The IFN counts of every level as DuckDB tables (all the tables made here are kept)."""
    check_unique_iris(con, staged)
    run_sql(con, "staging/mednum_kit_2020" if is_mednum_mode(staged) else "staging/rp_iris")
    commune_sources.share_out(con, speed_mbits, services)
    run_sql(con, "indicators/ifn_counts_iris")
    commune_sources.apply_user_values(con)
    resources = PACKAGE_DIR / "resources"
    run_sql(con, "staging/cog", {"departements": str(resources / "cog_departements.csv"),
                                 "regions": str(resources / "cog_regions.csv")})
    for level in AGGREGATED:
        run_sql(con, "aggregates/ifn_counts", table=f"cnt_{level}", key=LEVEL_KEY[level], source="cnt_iris")
    # an income median is not a sum: communes first, then the medians of communal medians
    run_sql(con, "aggregates/revenu_median", source="cnt_iris", key="code_commune", target="rev_communes")
    run_sql(con, "aggregates/revenu_communes")
    for level in ["epci", "departements", "regions", "france"]:
        run_sql(con, "aggregates/revenu_median", source="cnt_communes", key=LEVEL_KEY[level], target=f"rev_{level}")
        run_sql(con, "aggregates/revenu_attach", table=f"cnt_{level}", median=f"rev_{level}")
    return StageResult(tables=None)   # every table made: later stages and the report read several


def parents(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each IRIS with its commune, EPCI, département and région codes."""
    return con.sql("SELECT DISTINCT code_iris, code_commune, code_epci, code_departement, code_region "
                   "FROM stg_iris").df()
