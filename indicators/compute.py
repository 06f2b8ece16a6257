"""From staged Parquet files to scored units of every level, with their polygons.

DuckDB does the counting (sql/staging, sql/indicators, sql/aggregates); Python applies the scoring
method to the few thousand rows that come out, and reprojects the polygons once.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from . import PACKAGE_DIR
from .db import connect, run_sql
from .staging import listed, read_staged
from .errors import FragiliteError
from . import plateformes
from .geometry import dissolve, from_wkb, polygonal, to_epsg
from . import qpv as qpv_stage
from .plateformes import PlatformRule
from .methods import IDS, add_classes
from .scoring import (LEVEL_KEY, indicator_values, read_thresholds, reference_level, score_units,
                      thresholds_for)

LEVELS = ["iris", "communes", "epci", "departements", "regions"]
AGGREGATED = ["communes", "epci", "departements", "regions", "france"]
OVERSEAS_CRS = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
METRO_CRS = 2154
MIXED_CRS = 4326


@dataclass
class RunOptions:
    method: str = "ifn-2020"
    reference: str = "region"
    territory: list[str] | None = None
    thresholds: Path | None = None
    crs: str = "auto"
    qpv: str = "2015"                 # QPV list: 2015, 2024, or none
    qpv_calibration: str = "none"     # none, or population (control totals)
    plateformes: PlatformRule = field(default_factory=PlatformRule)


@dataclass
class Computed:
    layers: dict[str, str]                     # level -> Parquet (attributes + wkb)
    rejects: str                               # Parquet of rejected units
    epsg: int
    notes: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)   # side tables: weights, QPV comparison

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, default=str), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Computed":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def _view(con, name: str, parquet: str | list[str]) -> None:
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in listed(parquet))
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet([{files}], union_by_name = true)")


def choose_crs(departements: list[str], requested: str) -> int:
    """EPSG code of the layers: Lambert-93 for metropolitan France, the local CRS of a single
    overseas département, WGS84 lon/lat when a run mixes them (one layer cannot hold two CRS)."""
    if requested != "auto":
        return int(requested.upper().removeprefix("EPSG:"))
    overseas = {d for d in departements if d.startswith("97")}
    if not overseas:
        return METRO_CRS
    if len(overseas) == 1 and len(overseas) == len(set(departements)):
        return OVERSEAS_CRS.get(next(iter(overseas)), MIXED_CRS)
    return MIXED_CRS


def level_polygons(iris_src: pd.DataFrame, parents: pd.DataFrame, epsg: int) -> tuple[dict[str, pd.Series], list[str]]:
    """WKB polygons of every level in the layers' CRS, and notes. Each level from the one below:
    IRIS -> communes -> EPCI, départements -> régions. Every IRIS polygon counts, scored or not:
    an IRIS without census counts is still its commune's ground."""
    notes = []
    geoms = iris_src["geometry"].to_numpy()
    if (iris_src["epsg"] != epsg).any():   # a reprojection can fold a thin ring over itself
        geoms, _ = polygonal(to_epsg(geoms, iris_src["epsg"].to_numpy(), epsg))
    geometry = {"iris": pd.Series(shapely.to_wkb(geoms), index=iris_src["code_iris"].to_numpy())}
    below = {"communes": ("iris", "code_iris"), "epci": ("communes", "code_commune"),
             "departements": ("communes", "code_commune"), "regions": ("departements", "code_departement")}
    shapes = {"iris": pd.Series(geoms, index=iris_src["code_iris"].to_numpy())}
    for level in LEVELS[1:]:
        child, child_key = below[level]
        links = parents[[child_key, LEVEL_KEY[level]]].dropna().drop_duplicates()
        children = shapes[child]
        links = links[links[child_key].isin(children.index)]
        merged, not_coverage = dissolve(links[LEVEL_KEY[level]].to_numpy(),
                                        children.reindex(links[child_key].to_numpy()).to_numpy())
        if not_coverage:
            notes.append(f"{level}: {not_coverage} units' parts were not a clean coverage (overlaps or "
                         "unshared vertices) and were dissolved by a general union")
        polys, _ = polygonal(merged.to_numpy())
        shapes[level] = pd.Series(polys, index=merged.index)
        geometry[level] = pd.Series(shapely.to_wkb(polys), index=merged.index)
    return geometry, notes


def _cog(con) -> None:
    res = PACKAGE_DIR / "resources"
    con.execute(f"CREATE OR REPLACE TABLE cog_departements AS SELECT * FROM read_csv('{res / 'cog_departements.csv'}', delim=';', header=true, all_varchar=true)")
    con.execute(f"CREATE OR REPLACE TABLE cog_regions AS SELECT * FROM read_csv('{res / 'cog_regions.csv'}', delim=';', header=true, all_varchar=true)")


def compute(staged: dict[str, str], options: RunOptions, work_dir: Path) -> Computed:
    """staged: source id -> Parquet path. Writes work_dir/results/*.parquet."""
    # one thread: floating-point sums in parallel come out in a different order each run, and a
    # refresh must give the same bytes from the same inputs (caching, runner comparisons)
    con = connect(threads=1)
    notes: list[str] = []
    for sid, path in staged.items():
        _view(con, f"raw_{sid}", path)
    for table in ("raw_rp_population", "raw_mednum_kit_2020", "raw_contours_iris"):
        if table[4:] in staged:  # files staged one by one: an IRIS must not come from two of them
            dup = con.sql(f"SELECT code_iris FROM {table} GROUP BY code_iris HAVING count(*) > 1 LIMIT 5").fetchall()
            if dup:
                raise FragiliteError(f"{table[4:]}: IRIS {[d[0] for d in dup]} appear in several input files")
    mednum_mode = "mednum_kit_2020" in staged and "rp_population" not in staged
    run_sql(con, "staging/mednum_kit_2020" if mednum_mode else "staging/rp_iris")
    run_sql(con, "indicators/ifn_counts_iris")
    _cog(con)

    # counts of every level; the income median needs the communes first
    for level in AGGREGATED:
        run_sql(con, "aggregates/ifn_counts", table=f"cnt_{level}", key=LEVEL_KEY[level], source="cnt_iris")
    run_sql(con, "aggregates/revenu_median", source="cnt_iris", key="code_commune", target="rev_communes")
    run_sql(con, "aggregates/revenu_communes")
    for level in ["epci", "departements", "regions", "france"]:
        run_sql(con, "aggregates/revenu_median", source="cnt_communes", key=LEVEL_KEY[level], target=f"rev_{level}")
        run_sql(con, "aggregates/revenu_attach", table=f"cnt_{level}", median=f"rev_{level}")

    counts = {"iris": con.sql("SELECT * FROM cnt_iris ORDER BY code_iris").df()}
    counts["iris"]["code"] = counts["iris"]["code_iris"]
    for level in AGGREGATED:
        counts[level] = con.sql(f"SELECT * FROM cnt_{level} ORDER BY code").df()

    user_thresholds = read_thresholds(options.thresholds) if options.thresholds else None
    published = None
    if options.method == "d4g-2020" and "mednum_kit_2020__seuils_publies" in staged and options.reference != "france":
        published = read_staged(staged["mednum_kit_2020__seuils_publies"])

    geom_source = "raw_mednum_kit_2020" if mednum_mode else "raw_contours_iris"
    source_geom = con.sql(f"SELECT g.code_iris, g.epsg, g.wkb, s.code_departement FROM {geom_source} g "
                          "JOIN stg_iris s USING (code_iris)").df()
    levels = list(LEVELS)
    qpv_data = None
    # parsed and repaired once, in the CRS they were delivered in; reprojected once for the layers
    iris_src = source_geom.assign(geometry=from_wkb(source_geom["wkb"]))
    iris_src["geometry"], repaired = polygonal(iris_src["geometry"].to_numpy())
    if repaired:
        notes.append(f"{repaired} IRIS polygons were invalid as delivered and were repaired (make_valid)")
    # the polygons of every level do not depend on what follows: dissolved on the side (GEOS
    # releases the GIL) while DuckDB does the QPV and SIRENE stages
    territory = [t.strip() for t in options.territory] if options.territory else None
    departements = sorted(set(counts["iris"]["code_departement"].dropna()) if not territory else territory)
    epsg = choose_crs(departements, options.crs)
    parents = con.sql("SELECT DISTINCT code_iris, code_commune, code_epci, code_departement, code_region "
                      "FROM stg_iris").df()
    background = ThreadPoolExecutor(1)
    polygons_job = background.submit(level_polygons, iris_src, parents, epsg)
    if options.qpv != "none" and f"qpv_contours_{options.qpv}" in staged:
        qpv_data = qpv_stage.build(con, staged, options.qpv, options.qpv_calibration,
                                   iris_src[~shapely.is_missing(iris_src["geometry"].to_numpy())], notes)
        counts["qpv"] = qpv_data["counts"]
        levels.append("qpv")
    elif options.qpv != "none":
        notes.append(f"no QPV contours of the {options.qpv} list among the inputs: no QPV layer")
    pf_report = None
    if plateformes.present(staged):
        pf_report = plateformes.build(con, options.plateformes, options.qpv,
                                      iris_src[~shapely.is_missing(iris_src["geometry"].to_numpy())],
                                      qpv_data["polygons"] if qpv_data else None, notes)
        date_sirene = con.execute("SELECT max(substr(dateDernierTraitementEtablissement, 1, 10)) "
                                  "FROM raw_sirene_etablissements").fetchone()[0]
        fr = plateformes.level_counts(con, "france", "code_france").set_index("code")
        ao_fr = counts["france"].set_index("code")["actifs_occupes"]
        national = {p: (fr[p].sum() / ao_fr.sum()) if ao_fr.notna().any() and ao_fr.sum() > 0 else None
                    for p in plateformes.PROFESSIONS}
        for level in levels:
            pf = plateformes.level_counts(con, level, LEVEL_KEY[level]).set_index("code")
            c = counts[level]
            for p in plateformes.PROFESSIONS:
                c[p] = c["code"].map(pf[p]).fillna(0).astype("int64")
            c["date_sirene"] = date_sirene
            counts[level] = plateformes.add_rates(c, national)
        in_qpv = {p: int(counts["qpv"][p].sum()) for p in plateformes.PROFESSIONS} if qpv_data else {}
        ao_qpv = counts["qpv"]["actifs_occupes"].sum(min_count=1) if qpv_data else None
        pf_report["synthese"] = plateformes.summary(
            in_qpv, {p: int(fr[p].sum()) for p in plateformes.PROFESSIONS},
            None if ao_qpv is None or pd.isna(ao_qpv) else float(ao_qpv),
            float(ao_fr.sum()) if ao_fr.notna().any() else None)
        pf_report["date_sirene"] = date_sirene

    if territory:
        known = set(counts["iris"]["code_departement"])
        unknown = [t for t in territory if t not in known]
        if unknown:
            raise FragiliteError(f"--territory {','.join(unknown)}: no IRIS of these départements in the inputs "
                                 f"(départements present: {', '.join(sorted(known))})")

    results: dict[str, pd.DataFrame] = {}
    for level in levels:
        df = counts[level].copy()
        ref_level = reference_level(level, options.reference)
        ref_codes = df[LEVEL_KEY[ref_level]].astype("string")
        values = indicator_values(df)
        if user_thresholds is not None:
            thr = thresholds_for(ref_codes.fillna(""), user_thresholds)
            if list(user_thresholds.index) != ["*"]:
                missing = sorted(set(ref_codes.dropna()) - set(user_thresholds.index))
                if missing:
                    notes.append(f"{level}: no thresholds in {options.thresholds} for reference territories "
                                 f"{missing[:10]}: their units are not scored")
        else:
            ref_counts = counts[ref_level].set_index("code")
            thr = thresholds_for(ref_codes.fillna(""), indicator_values(ref_counts).set_axis(ref_counts.index))
            if published is not None:
                thr = _published(published, df, level, ref_level, counts["iris"]).combine_first(thr)
        scored = score_units(options.method, values, thr)
        scored["code_reference"] = ref_codes.to_numpy()
        results[level] = pd.concat([df.reset_index(drop=True), scored.reset_index(drop=True)], axis=1)

    geometry, geometry_notes = polygons_job.result()
    background.shutdown()
    notes.extend(geometry_notes)
    tables: dict[str, pd.DataFrame] = {}
    qpv_stats = None
    if qpv_data is not None:
        contours = qpv_data["contours"]
        polys, _ = polygonal(to_epsg(from_wkb(contours["wkb"]), contours["epsg"].to_numpy(), epsg))
        geometry["qpv"] = pd.Series(shapely.to_wkb(polys), index=contours["code_qpv"].to_numpy())
        iris_pop = counts["iris"].set_index("code_iris")["population"]
        extra = qpv_stage.describe(qpv_data["weights"], iris_pop, contours).join(qpv_data["figures"], how="left")
        q = results["qpv"].set_index("code")
        q = q.join(extra, how="left")
        q["part_60_plus"] = q["num_part_60_plus"] / q["den_part_60_plus"].where(q["den_part_60_plus"] > 0)
        q["liste_qpv"] = options.qpv
        results["qpv"] = q.reset_index(names="code")
        w = qpv_data["weights"]
        share = w.groupby("code_iris")["poids"].sum()
        codes = w[w["poids"] > 0].groupby("code_iris")["code_qpv"].agg(lambda s: ",".join(sorted(s)))
        results["iris"]["part_population_qpv"] = results["iris"]["code"].map(share).fillna(0.0)
        results["iris"]["codes_qpv"] = results["iris"]["code"].map(codes)
        tables["poids_iris_qpv"] = w

    # rejects: every IRIS of the inputs is in the IRIS layer or here, with its reason
    stg = con.sql("SELECT code_iris, nom_iris, code_commune, code_departement, in_rp, in_contours FROM stg_iris").df()
    rejects = [pd.DataFrame({"niveau": "iris", "code": stg.loc[~stg.in_rp, "code_iris"],
                             "nom": stg.loc[~stg.in_rp, "nom_iris"],
                             "code_departement": stg.loc[~stg.in_rp, "code_departement"],
                             "raison": "absent from the census (RP) files: no counts to score "
                                       "(its polygon still counts in its commune's outline)"})]
    final: dict[str, pd.DataFrame] = {}
    for level in levels:
        df = results[level]
        df["wkb"] = df["code"].map(geometry[level])
        if territory:
            df = df[df["code_departement"].isin(territory)]
        reasons = pd.Series(pd.NA, index=df.index, dtype="string")
        no_polygon = int(df["wkb"].isna().sum())
        if no_polygon:  # scored all the same: kept with a null geometry, and said
            notes.append(f"{level}: {no_polygon} units have no polygon in the contour file "
                         f"(CONTOURS-IRIS / Geo Shape) and are kept with a null geometry")
        no_score = df["score_global"].isna()
        no_ref = df["code_reference"].isna()
        reasons[no_score & no_ref] = f"no {options.reference} reference territory known for this unit"
        reasons[no_score & ~no_ref & (df["n_indicateurs"] == 0)] = (
            "no indicator can be computed: zero population or every input secret/missing")
        reasons[no_score & reasons.isna()] = "no threshold for its reference territory"
        if level == "qpv":
            # every QPV keeps its row (the contract of the QPV layer); an unscored one is said
            if reasons.notna().any():
                notes.append(f"qpv: {int(reasons.notna().sum())} QPVs have no score: "
                             + "; ".join(f"{c}: {r}" for c, r in zip(df.loc[reasons.notna(), 'code'], reasons.dropna()))[:500])
            reasons[:] = pd.NA
        bad = reasons.notna()
        if bad.any():
            rejects.append(pd.DataFrame({"niveau": level, "code": df.loc[bad, "code"],
                                         "nom": df.loc[bad, _name_column(level)] if _name_column(level) in df else pd.NA,
                                         "code_departement": df.loc[bad, "code_departement"],
                                         "raison": reasons[bad]}))
        kept = add_classes(df[~bad].copy())
        final[level] = kept

    results_dir = work_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for level, df in final.items():
        path = results_dir / f"{level}.parquet"
        df.to_parquet(path, index=False)
        paths[level] = str(path)
    if pf_report is not None:
        for name, table in pf_report.pop("tables").items():
            tables[name] = table
        tables["plateformes_synthese"] = pd.DataFrame(pf_report["synthese"])
        tables["sirene_exclusions"] = pd.DataFrame(pf_report["exclusions"])
        tables["sirene_chemins"] = pd.DataFrame(pf_report["chemins"])
    if "qpv" in final:
        comp = qpv_stage.comparison(final["qpv"].rename(columns={"code": "code_qpv"}))
        tables["qpv_comparaison"] = comp
        qpv_stats = qpv_stage.summary(comp)
    table_paths = {}
    for name, table in tables.items():
        path = results_dir / f"{name}.parquet"
        table.to_parquet(path, index=False)
        table_paths[name] = str(path)
    rejects_df = pd.concat(rejects, ignore_index=True).astype({"code": "string", "nom": "string"})
    rejects_path = results_dir / "rejects.parquet"
    rejects_df.to_parquet(rejects_path, index=False)
    stats = {
        "iris_in_inputs": int(len(stg)),
        "iris_scored": int(len(final["iris"])),
        "rejects": {k: int(v) for k, v in rejects_df["niveau"].value_counts().items()},
        "units": {level: int(len(df)) for level, df in final.items()},
        "mode": "mednum_kit_2020" if mednum_mode else "rp",
    }
    if pf_report is not None:
        stats["plateformes"] = pf_report
    if qpv_stats is not None:
        stats["qpv_comparaison"] = qpv_stats
        stats["qpv_calibration"] = options.qpv_calibration
    con.close()
    return Computed(paths, str(rejects_path), epsg, notes, stats, table_paths)


def _name_column(level: str) -> str:
    return {"iris": "nom_iris", "communes": "nom_commune", "epci": "nom_epci", "qpv": "nom_qpv"}.get(level, "code")


def _published(published: pd.DataFrame, units: pd.DataFrame, level: str, ref_level: str,
               iris: pd.DataFrame) -> pd.DataFrame:
    """Thresholds the 2020 file publishes for the reference territory of each unit."""
    prefix = {"epci": "epci", "departements": "departement", "regions": "region"}.get(ref_level)
    cols = {f"{prefix}__{i}": i for i in IDS if f"{prefix}__{i}" in published.columns} if prefix else {}
    empty = pd.DataFrame(np.nan, index=units.index, columns=IDS)
    if not cols:
        return empty
    table = published[["code_iris", *cols]].rename(columns=cols)
    if level == "iris":
        out = table.set_index("code_iris").reindex(units["code_iris"].to_numpy())
    else:
        # one value per reference territory, read on the IRIS that lie in it
        key = LEVEL_KEY[ref_level]
        table = table.merge(iris[["code_iris", key]], on="code_iris", how="inner")
        out = table.groupby(key)[list(cols.values())].first().reindex(units[key].astype(str).to_numpy())
    out.index = units.index
    return out.reindex(columns=IDS)
