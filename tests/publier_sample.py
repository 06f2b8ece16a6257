"""Phase 1 of issue 12 (until the export calls them): what the export will do with a run's layers,
classes, reliability columns, styled GeoPackages (version 1.2), .qml files, maps and the HTML
report, done here on the layers of the sample run so that the tests check the pieces."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd

from indicators.stages.methods import SCORES
from indicators.outputs.maps import write_maps
from indicators.outputs.report_html import maps_markdown, report_html
from indicators.outputs.styles import add_gpkg_style, qml
from indicators.stages.classes import add_classes
from indicators.stages.reliability import add_reliability

LEVELS = ["iris", "communes", "epci", "departements", "regions", "qpv"]


def publish(run_out: Path, target: Path) -> dict:
    target.mkdir(parents=True, exist_ok=True)
    layers, bounds = {}, {}
    for level in LEVELS:
        gdf = gpd.read_parquet(run_out / f"{level}.parquet")
        described = add_classes(gdf, list(SCORES), "quantiles")
        add_reliability(gdf)
        layers[level], bounds[level] = gdf, described["classe_global"]["bornes"]
        out = gdf.copy()
        for col in out.columns:
            if str(out[col].dtype) in ("Int64", "boolean"):
                out[col] = out[col].astype("float64")
        out.to_file(target / f"{level}.gpkg", driver="GPKG", layer=level, engine="pyogrio",
                    dataset_options={"VERSION": "1.2"})
        add_gpkg_style(target / f"{level}.gpkg", level, bounds[level], "quantiles")
        (target / f"{level}.qml").write_text(qml(bounds[level], level), encoding="utf-8")
    report = json.loads((run_out / "run_report.json").read_text(encoding="utf-8"))
    maps = write_maps(layers, target, report["inputs"], "Méthode ifn-2020, classes : quintiles.",
                      report["finished"][:10], bounds)
    markdown = (run_out / "run_report.md").read_text(encoding="utf-8") + "\n".join(maps_markdown(maps))
    (target / "run_report.html").write_text(report_html(report, markdown), encoding="utf-8")
    return {"layers": layers, "bounds": bounds, "maps": maps}
