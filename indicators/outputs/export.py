"""Write the outputs of a computed refresh: the layers (GeoParquet + GeoPackage), the side tables,
the rejects, the dictionary and the run report. Every layer is built before the first file is
written, and every file is written under a temporary name and renamed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from indicators import __version__
from indicators.outputs.dictionary import dictionary, sirene_is_synthetic
from indicators.outputs.files import atomic_path, write_json
from indicators.outputs.layers import build_layer, write_geoparquet, write_gpkg
from indicators.outputs.report import report_markdown
from indicators.sources.registry import sha256_of
from indicators.stages.compute import Computed


def write_outputs(computed: Computed, out_dir: Path, method: str, reference: str,
                  provenance: dict, started: float, failures: list[str] | None = None,
                  public_dir: Path | None = None, run_id: str | None = None) -> dict:
    """Every output into out_dir (an output set being written: outputs/publish.py); the report
    names the files where readers find them once published, in public_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = public_dir or out_dir
    rp = [p.get("millesime") for sid, p in provenance.items() if sid.startswith("rp_") and p.get("millesime")]
    millesime_rp = rp[0] if rp else (2016 if "mednum_kit_2020" in provenance else None)
    sirene_synthetique = sirene_is_synthetic(provenance)
    written = {}
    layers = {}
    for level in computed.layers:
        df = pd.read_parquet(computed.layers[level])
        gdf = build_layer(level, df, method, reference, computed.epsg, millesime_rp, sirene_synthetique)
        layers[level] = gdf
    # build everything first, then write: a failure above leaves the old outputs untouched
    # two files at a time: GDAL, Arrow and GEOS release the GIL; each file is still atomic
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(write_geoparquet, gdf, out_dir / f"{level}.parquet") for level, gdf in layers.items()]
        jobs += [pool.submit(write_gpkg, gdf, out_dir / f"{level}.gpkg", level) for level, gdf in layers.items()]
        for job in jobs:
            job.result()
    for level, gdf in layers.items():
        written[level] = {"parquet": str(shown / f"{level}.parquet"), "gpkg": str(shown / f"{level}.gpkg"),
                          "rows": int(len(gdf))}
    rejects = pd.read_parquet(computed.rejects)
    with atomic_path(out_dir / "rejects.csv") as tmp:
        rejects.to_csv(tmp, index=False)
    for name, path in computed.tables.items():
        table = pd.read_parquet(path)
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
        written[name] = {"csv": str(shown / f"{name}.csv"), "rows": int(len(table))}
    write_json(dictionary(method, reference, provenance, computed.epsg, computed.stats.get("deciles"), computed.stats),
               out_dir / "dictionary.json")
    report = {
        "fragilite_version": __version__,
        "run_id": run_id,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.time() - started, 2),
        "method": method,
        "reference": reference,
        "crs": f"EPSG:{computed.epsg}",
        "inputs": provenance,
        "stats": computed.stats,
        "notes": computed.notes,
        "echecs": list(failures or []),
        "outputs": {level: {**info, "sha256": sha256_of(out_dir / Path(info.get("parquet") or info["csv"]).name)}
                    for level, info in written.items()},
        "rejects": {"file": str(shown / "rejects.csv"), "rows": int(len(rejects))},
    }
    write_json(report, out_dir / "run_report.json")
    with atomic_path(out_dir / "run_report.md") as tmp:
        tmp.write_text(report_markdown(report), encoding="utf-8")
    return report
