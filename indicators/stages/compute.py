"""From staged Parquet files to scored units of every level, with their polygons.

`compute` is the sequence of the stages, each a function of its own module: counts
(stages/counts.py), polygons (geometry.py), QPV allocation (qpv.py), platform workers
(plateformes.py), scoring (scoring.py, methods.py), rejects (rejects.py), classes (classes.py) and
reliability flags (reliability.py) of the units kept. DuckDB does the counting;
Python applies the scoring method to the few thousand rows that come out, and reprojects the
polygons once. The results are Parquet files in work_dir/results, described by `Computed`.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import shapely

from indicators.db import connect
from indicators import memory
from indicators.errors import FragiliteError
from indicators.sources.staging import read_staged
from indicators.stages import commune_sources, coverage
from indicators.stages import counts as counts_stage
from indicators.stages import ifn2023, smoothing
from indicators.stages import plateformes
from indicators.stages import qpv as qpv_stage
from indicators.stages import rejects as rejects_stage
from indicators.stages.classes import classify_levels, resolve_scheme
from indicators.stages.geometry import choose_crs, iris_polygons, kept_level_polygons, reprojected_wkb
from indicators.stages.stage_cache import StageCache, content_key, frame_key
from indicators.stages.levels import LEVELS
from indicators.stages.methods import IFN_2023
from indicators.stages.options import RunOptions  # noqa: F401  (imported from here by callers)
from indicators.stages.reliability import flag_levels
from indicators.stages.scoring import score_levels


@dataclass
class Computed:
    layers: dict[str, str]                     # level -> Parquet (attributes + wkb)
    rejects: str                               # Parquet of rejected units
    epsg: int
    notes: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)   # side tables: weights, QPV comparison
    # the same tables in memory, when export runs in the computing process (run_local): writing
    # and reading them back cost 2 s nationally. Never saved: a flow's tasks pass the files.
    frames: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    def save(self, path: Path) -> None:
        kept = {k: v for k, v in self.__dict__.items() if k != "frames"}
        path.write_text(json.dumps(kept, indent=2, default=str), encoding="utf-8")

    def take(self, path: str) -> pd.DataFrame:
        """One of the results (a path of layers, rejects or tables), from its file or from memory,
        where it is let go (read once: a national layer is hundreds of MB beside its GeoDataFrame)."""
        return self.frames.pop(path) if self.frames is not None else pd.read_parquet(path)

    @classmethod
    def load(cls, path: Path) -> "Computed":
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def compute(staged: dict[str, str], options: RunOptions, work_dir: Path, stages: StageCache | None = None,
            in_memory: bool = False) -> Computed:
    """staged: source id -> Parquet path. Writes work_dir/results/*.parquet (in_memory: keeps them
    in Computed.frames instead). `stages`: where the costly stages' results are kept between
    refreshes (stage_cache.py); None keeps nothing."""
    memory.release()   # what staging freed, before the weights and polygons allocate elsewhere
    # one thread: floating-point sums in parallel come out in a different order each run, and a
    # refresh must give the same bytes from the same inputs (caching, runner comparisons)
    con = connect(threads=1)
    notes: list[str] = []
    stages = stages or StageCache(None)
    counts = counts_stage.ifn_counts(con, staged, options.debit_fixe, options.services_publics, stages)
    origins, unmatched = commune_sources.summary(con, options.debit_fixe, options.services_publics)
    whole = partial_territories(con, counts["iris"], staged, options, notes)
    mednum_mode = counts_stage.is_mednum_mode(staged)
    iris_src = iris_polygons(con, "raw_mednum_kit_2020" if mednum_mode else "raw_contours_iris", notes)
    parents = counts_stage.parents(con)
    iris_key = geometry_key(staged, parents, mednum_mode)
    territory = [t.strip() for t in options.territory] if options.territory else None
    epsg = choose_crs(sorted(territory or set(counts["iris"]["code_departement"].dropna())), options.crs)
    # the polygons of every level do not depend on what follows: dissolved on the side (GEOS
    # releases the GIL) while DuckDB does the QPV and SIRENE stages
    background = ThreadPoolExecutor(1)
    polygons_job = background.submit(kept_level_polygons, stages, iris_key, iris_src, parents, epsg)
    with_polygon = iris_src[~shapely.is_missing(iris_src["geometry"].to_numpy())]
    qpv_data = qpv_layer_counts(con, staged, options, with_polygon, counts, notes, stages, iris_key)
    levels = LEVELS + (["qpv"] if qpv_data else [])
    pf_report = platform_workers(con, staged, options, with_polygon, qpv_data, counts, levels, notes, stages, iris_key)
    check_territory(territory, counts["iris"])
    results, deciles, smoothed = scores(con, counts, levels, staged, options, qpv_data, notes)
    coverage.mark(results, whole)
    geometry, geometry_notes = polygons_job.result()
    background.shutdown()
    notes.extend(geometry_notes)
    if qpv_data is not None:
        geometry["qpv"] = reprojected_wkb(qpv_data["contours"], "code_qpv", epsg)
        qpv_stage.attach(results, qpv_data, counts["iris"].set_index("code_iris")["population"], options.qpv)
    census, n_inputs = rejects_stage.census_rejects(con)
    con.close()
    final, rejects = rejects_stage.split(results, geometry, territory, options.reference, census, notes)
    check_scored(final, rejects, options, notes)
    described = classes_and_reliability(final, options)
    tables = side_tables(final, qpv_data, pf_report, deciles)   # takes the SIRENE lists out of the report
    tables["sources_non_rattachees"] = unmatched
    stats = {**run_stats(final, rejects, n_inputs, mednum_mode, pf_report, tables, options, deciles, smoothed),
             "sources_communales": origins, "etapes": stages.record, **described}
    stages.write_record()
    notes.extend(stages.notes)
    return write_results(work_dir / "results", final, rejects, tables, epsg, notes, stats, in_memory)


def partial_territories(con, iris: pd.DataFrame, staged: dict[str, str], options: RunOptions,
                        notes: list[str]) -> dict[str, pd.Series]:
    """The régions and EPCI only partly in the inputs, said in `notes`; per level, whether each
    unit is whole (coverage.py). Their thresholds rest on the same part when the run computes them."""
    computed_thresholds = (options.method != IFN_2023 and options.thresholds is None
                           and published_thresholds(staged, options) is None)
    partial, whole = coverage.partial_units(con, iris, options.reference if computed_thresholds else None,
                                            composition="epci_composition" in staged)
    notes.extend(partial)
    return whole


def classes_and_reliability(final: dict[str, pd.DataFrame], options: RunOptions) -> dict:
    """Classes 1-5 and reliability flags of every layer's units (in place), described for the
    dictionary and the report. ifn-2023: classes of score_total only (its decile scores are their
    own ten classes), flags on its two census rates."""
    scores = ["score_total"] if options.method == IFN_2023 else None
    return {"classes": classify_levels(final, resolve_scheme(options.classes, options.method), scores),
            "fiabilite": flag_levels(final, options.min_denominator, options.method)}


def geometry_key(staged: dict[str, str], parents: pd.DataFrame, mednum_mode: bool) -> str:
    """What the polygons, the weights and the location of establishments depend on: the IRIS
    contours' content and each IRIS's commune, EPCI, département and région."""
    source = staged["mednum_kit_2020" if mednum_mode else "contours_iris"]
    ordered = parents.sort_values(list(parents.columns)).reset_index(drop=True)
    return f"{content_key(source)}:{frame_key(ordered)}"


def qpv_layer_counts(con, staged: dict[str, str], options: RunOptions, iris_src: pd.DataFrame,
                     counts: dict[str, pd.DataFrame], notes: list[str], stages: StageCache | None = None,
                     iris_key: str = "") -> dict | None:
    """IRIS counts allocated to the QPVs of the chosen list (counts["qpv"]), or None."""
    if options.qpv == "none":
        return None
    if f"qpv_contours_{options.qpv}" not in staged:
        notes.append(f"no QPV contours of the {options.qpv} list among the inputs: no QPV layer")
        return None
    qpv_data = qpv_stage.build(con, staged, options.qpv, options.qpv_calibration, iris_src, notes, stages, iris_key)
    counts["qpv"] = qpv_data["counts"]
    return qpv_data


def platform_workers(con, staged: dict[str, str], options: RunOptions, iris_src: pd.DataFrame,
                     qpv_data: dict | None, counts: dict[str, pd.DataFrame], levels: list[str],
                     notes: list[str], stages: StageCache | None = None, iris_key: str = "") -> dict | None:
    """SIRENE riders and VTC drivers counted into every level's counts, or None without SIRENE."""
    if not plateformes.present(staged):
        return None
    sources = ["sirene_etablissements", "sirene_unites_legales", "sirene_geolocalisation"]
    if qpv_data is not None:
        sources.append(f"qpv_contours_{options.qpv}")
    key = f"{iris_key}:" + ":".join(f"{s}={content_key(staged[s])}" for s in sources)
    report = plateformes.build(con, options.plateformes, options.qpv, iris_src,
                               qpv_data["polygons"] if qpv_data else None, notes, stages, key)
    return plateformes.attach(con, counts, levels, report, qpv_data is not None)


def check_scored(final: dict[str, pd.DataFrame], rejects: pd.DataFrame, options: RunOptions,
                 notes: list[str]) -> None:
    """A run that would publish a layer where no unit has a score stops here, before any output is
    touched: empty layers must never replace good ones."""
    # a layer with units (kept, or rejected for want of a score) none of which is scored; a layer
    # left empty by --territory (the région of another département) is not one
    rejected = set(rejects["niveau"])
    empty = [level for level, df in final.items()
             if not df["score_global" if "score_global" in df else "score_total"].notna().any()   # ifn-2023: total
             and (len(df) or level in rejected)]
    if empty:
        why = rejects[rejects["niveau"].isin(empty)]["raison"].value_counts().head(3)
        raise FragiliteError(
            f"no unit of the {', '.join(empty)} layer(s) could be scored with {options.method} against the "
            f"{options.reference} thresholds; nothing written, the previous outputs are unchanged. Reasons: "
            + "; ".join(f"{n} units: {r}" for r, n in why.items()) + (". Notes: " + " | ".join(notes) if notes else ""))


def check_territory(territory: list[str] | None, iris: pd.DataFrame) -> None:
    if territory:
        known = set(iris["code_departement"])
        unknown = [t for t in territory if t not in known]
        if unknown:
            raise FragiliteError(f"--territory {','.join(unknown)}: no IRIS of these départements in the inputs "
                                 f"(départements present: {', '.join(sorted(known))})")


def scores(con, counts: dict[str, pd.DataFrame], levels: list[str], staged: dict[str, str], options: RunOptions,
           qpv_data: dict | None, notes: list[str]) -> tuple[dict[str, pd.DataFrame], tuple | None, dict]:
    """Every level's counts with the method's scores; for ifn-2023 also (cut points used, their
    report); with --lissage, what the smoothing changed per level."""
    if options.method == IFN_2023:
        out, cuts, info = ifn2023.results(counts, levels, ifn2023.iris_inputs(con, options.debit_thd, notes),
                                          qpv_data["weights"] if qpv_data else None, options.seuils_deciles, notes)
        return out, (cuts, info), {}
    smoothed: dict = {}
    out = score_levels(counts, levels, options.method, options.reference, options.thresholds,
                       published_thresholds(staged, options), notes, options.lissage, smoothed)
    return out, None, smoothed


def published_thresholds(staged: dict[str, str], options: RunOptions) -> pd.DataFrame | None:
    """The thresholds the 2020 file publishes, which d4g-2020 uses when the file has them."""
    if options.method == "d4g-2020" and "mednum_kit_2020__seuils_publies" in staged and options.reference != "france":
        return read_staged(staged["mednum_kit_2020__seuils_publies"])
    return None


def side_tables(final: dict[str, pd.DataFrame], qpv_data: dict | None, pf_report: dict | None,
                deciles: tuple | None = None) -> dict[str, pd.DataFrame]:
    """The tables published beside the layers: weights, SIRENE review lists, QPV comparison, the
    decile cut points of ifn-2023 (so that a later run can score against them)."""
    tables: dict[str, pd.DataFrame] = {}
    if deciles is not None:
        tables["seuils_deciles"] = deciles[0]
    if qpv_data is not None:
        tables["poids_iris_qpv"] = qpv_data["weights"]
    if pf_report is not None:
        tables.update(pf_report.pop("tables"))
        tables["plateformes_synthese"] = pd.DataFrame(pf_report["synthese"])
        tables["sirene_exclusions"] = pd.DataFrame(pf_report["exclusions"])
        tables["sirene_chemins"] = pd.DataFrame(pf_report["chemins"])
    if "qpv" in final:
        tables["qpv_comparaison"] = qpv_stage.comparison(final["qpv"].rename(columns={"code": "code_qpv"}))
    return tables


def run_stats(final: dict[str, pd.DataFrame], rejects: pd.DataFrame, n_inputs: int, mednum_mode: bool,
              pf_report: dict | None, tables: dict[str, pd.DataFrame], options: RunOptions,
              deciles: tuple | None = None, smoothed: dict | None = None) -> dict:
    stats = {
        "iris_in_inputs": n_inputs,
        "iris_scored": int(len(final["iris"])),
        "rejects": {k: int(v) for k, v in rejects["niveau"].value_counts().items()},
        "units": {level: int(len(df)) for level, df in final.items()},
        "mode": "mednum_kit_2020" if mednum_mode else "rp",
    }
    if pf_report is not None:
        stats["plateformes"] = pf_report
    if "qpv_comparaison" in tables:
        stats["qpv_comparaison"] = qpv_stage.summary(tables["qpv_comparaison"])
        stats["qpv_calibration"] = options.qpv_calibration
    if deciles is not None:
        stats["deciles"] = deciles[1]
    if smoothed:   # never silent: the dictionary, the layers and the run report say it
        stats["lissage"] = {"methode": options.lissage, "libelle": smoothing.LABEL,
                            "indicateurs": list(smoothing.CENSUS_INDICATORS), "par_couche": smoothed}
    return stats


def write_results(results_dir: Path, final: dict[str, pd.DataFrame], rejects: pd.DataFrame,
                  tables: dict[str, pd.DataFrame], epsg: int, notes: list[str], stats: dict,
                  in_memory: bool = False) -> Computed:
    """The results as Parquet files, or (in_memory) as frames under the same names, passed through
    Arrow as a file would be: the types a read-back gives, so that both ways write the same bytes
    (tests/test_pipeline.py)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    paths, frames = {}, {}
    for name, frame in [*final.items(), *tables.items(), ("rejects", rejects)]:
        path = str(results_dir / f"{name}.parquet")
        if in_memory:
            frames[path] = pa.Table.from_pandas(frame, preserve_index=False).to_pandas()
        else:
            frame.to_parquet(path, index=False)
        paths[name] = path
    return Computed({level: paths[level] for level in final}, paths["rejects"], epsg, notes, stats,
                    {name: paths[name] for name in tables}, frames if in_memory else None)
