"""Write the outputs of a computed refresh: the layers (GeoParquet with its .qml, a styled
GeoPackage), the side tables, the rejects, the dictionary, the maps (cartes_rapport/) and the run
report (JSON, Markdown, HTML). Every layer is built before the first file is written, and every
file is written under a temporary name and renamed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import pandas as pd

from indicators import __version__, memory
from indicators.outputs.dictionary import dictionary, sirene_is_synthetic
from indicators.outputs.files import atomic_path, write_json
from indicators.outputs.layers import build_layer, write_geoparquet, write_gpkg, write_qml
from indicators.outputs.map_cache import MapCache
from indicators.outputs.maps import write_maps
from indicators.outputs.report import report_markdown
from indicators.outputs.report_html import report_html
from indicators.outputs.styles import CLASS_ATTRIBUTE
from indicators.sources.registry import sha256_of
from indicators.stages.classes import SCHEME_SHORT
from indicators.stages.compute import Computed
from indicators.stages.stage_cache import stages_dir
from indicators.stages.methods import IFN_2023, class_column, main_score
from indicators.stages.options import MIN_DENOMINATOR


def write_outputs(computed: Computed, out_dir: Path, method: str, reference: str,
                  provenance: dict, started: float, failures: list[str] | None = None,
                  public_dir: Path | None = None, run_id: str | None = None) -> dict:
    """Every output into out_dir (an output set being written: outputs/publish.py); the report
    names the files where readers find them once published, in public_dir."""
    memory.release()   # what the computation freed, before the layers are built
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = public_dir or out_dir
    rp = [p.get("millesime") for sid, p in provenance.items() if sid.startswith("rp_") and p.get("millesime")]
    millesime_rp = rp[0] if rp else (2016 if "mednum_kit_2020" in provenance else None)
    sirene_synthetique = sirene_is_synthetic(provenance)
    classes = computed.stats.get("classes", {})
    smoothing = computed.stats.get("lissage", {}).get("methode", "aucun")
    attribute = class_column(main_score(method))   # what the styles and maps class
    bounds = {level: info.get(attribute, {}).get("bornes") for level, info in classes.get("par_couche", {}).items()}
    layers = {}
    for level in computed.layers:
        df = computed.take(computed.layers[level])
        layers[level] = build_layer(level, df, method, reference, computed.epsg, millesime_rp, sirene_synthetique,
                                    classes.get("schema"), smoothing)
    line = map_method_line(method, reference, classes, smoothing)
    # maps of the last refresh in this folder, copied when unchanged (a new SIRENE stock: the score maps)
    map_cache = MapCache(stages_dir(public_dir) / "cartes" if public_dir is not None else None)
    # build everything first, then write: a failure above leaves the old outputs untouched.
    # The layer files are written (GDAL, Arrow: no GIL) while matplotlib draws the maps (GIL).
    with ThreadPoolExecutor(1) as background:
        writing = background.submit(write_layers, layers, out_dir, bounds, classes.get("schema", ""), shown,
                                    attribute)
        maps = write_maps(layers, out_dir, provenance, line, time.strftime("%Y-%m-%d"), bounds, map_cache,
                          computed.stats.get("fiabilite", {}).get("effectif_minimal", MIN_DENOMINATOR))
        written = writing.result()
    rejects = computed.take(computed.rejects)
    with atomic_path(out_dir / "rejects.csv") as tmp:
        rejects.to_csv(tmp, index=False)
    for name, path in computed.tables.items():
        table = computed.take(path)
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
        written[name] = {"csv": str(shown / f"{name}.csv"), "rows": int(len(table))}
    write_json(dictionary(method, reference, provenance, computed.epsg, computed.stats.get("deciles"), computed.stats),
               out_dir / "dictionary.json")
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    report = {
        "fragilite_version": __version__,
        "run_id": run_id,
        "finished": finished,
        "duration_s": round(time.time() - started, 2),
        "method": method,
        "reference": reference,
        "crs": f"EPSG:{computed.epsg}",
        "inputs": provenance,
        "stats": computed.stats,
        "notes": [*computed.notes, *cache_notes(provenance, map_cache)],
        "echecs": list(failures or []),
        "outputs": {level: {**info, "sha256": sha256_of(out_dir / Path(info.get("parquet") or info["csv"]).name)}
                    for level, info in written.items()},
        "rejects": {"file": str(shown / "rejects.csv"), "rows": int(len(rejects))},
        "cartes": maps,
        "cartes_reprises": map_cache.reused,
    }
    write_reports(report, out_dir)
    return report


def cache_notes(provenance: dict, map_cache: MapCache) -> list[str]:
    """What this refresh made again because its kept copy was damaged (integrity.py): staged
    sources (the stages' own are in computed.notes) and report maps."""
    notes = [f"{sid}: {info['note']}" for sid, info in provenance.items() if info.get("note")]
    if map_cache.damaged:
        notes.append(f"report maps: kept files damaged, made again ({'; '.join(map_cache.damaged[:5])}"
                     + (f"; {len(map_cache.damaged) - 5} more)" if len(map_cache.damaged) > 5 else ")"))
    return notes


def write_layers(layers: dict[str, gpd.GeoDataFrame], out_dir: Path, bounds: dict[str, list[float] | None],
                 classes: str, shown: Path, attribute: str = CLASS_ATTRIBUTE) -> dict[str, dict]:
    """Each layer as GeoParquet with its .qml, and as a GeoPackage styled on `attribute` (its class
    column: classe_global, ifn-2023's classe_total) when the layer has it.
    Two files at a time: GDAL, Arrow and GEOS release the GIL; each file is still atomic."""
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(write_geoparquet, gdf, out_dir / f"{level}.parquet") for level, gdf in layers.items()]
        jobs += [pool.submit(write_gpkg, gdf, out_dir / f"{level}.gpkg", level, bounds.get(level), classes,
                             attribute in gdf, attribute) for level, gdf in layers.items()]
        jobs += [pool.submit(write_qml, out_dir / f"{level}.qml", level, bounds.get(level), attribute)
                 for level, gdf in layers.items() if attribute in gdf]
        for job in jobs:
            job.result()
    return {level: {"parquet": str(shown / f"{level}.parquet"), "gpkg": str(shown / f"{level}.gpkg"),
                    **({"qml": str(shown / f"{level}.qml")} if attribute in gdf else {}),
                    "rows": int(len(gdf))} for level, gdf in layers.items()}


def map_method_line(method: str, reference: str, classes: dict, smoothing: str = "aucun") -> str:
    """The line under a map's title: method, thresholds (ifn-2023: deciles), classes, smoothing."""
    scheme = classes.get("schema", "")
    if method == IFN_2023:
        return (f"Méthode {method} (reconstruction « 2023-like »), scores 1-10 par déciles des unités ; "
                f"classes du score total : {SCHEME_SHORT.get(scheme, scheme)}.")
    where = {"region": "la région", "departement": "le département", "epci": "l'EPCI", "france": "la France"}
    smoothed = " ; taux du recensement LISSÉS (Bayes empirique)" if smoothing != "aucun" else ""
    return (f"Méthode {method}, seuils de {where.get(reference, reference)}{smoothed} ; "
            f"classes : {SCHEME_SHORT.get(scheme, scheme)}.")


def write_reports(report: dict, out_dir: Path) -> None:
    """run_report.json, run_report.md and run_report.html (the Markdown, maps shown)."""
    write_json(report, out_dir / "run_report.json")
    markdown = report_markdown(report)
    with atomic_path(out_dir / "run_report.md") as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    with atomic_path(out_dir / "run_report.html") as tmp:
        tmp.write_text(report_html(report, markdown), encoding="utf-8")
