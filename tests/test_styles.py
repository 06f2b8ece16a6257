"""QGIS opens the layers styled: layer_styles in each GeoPackage, a .qml beside each layer.

The check that matters runs Debian's QGIS (python3-qgis, under the system Python, not the venv)
headless on the layers, as a user opening them would: tests/qgis_check.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from indicators.outputs.palette import CLASS_COLOURS, NO_DATA_COLOUR
from indicators.outputs.styles import DOT_SCALE, qml, sld

LEVELS = ["iris", "communes", "epci", "departements", "regions", "qpv"]

SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_CHECK = Path(__file__).parent / "qgis_check.py"


def test_qml_and_sld_say_the_palette_and_the_bounds():
    bounds = [20.5, 76.2, 84.4, 92.7, 103.1, 242.1]
    root = ET.fromstring(qml(bounds).split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "classe_global"
    cats = renderer.findall("categories/category")
    assert [c.get("value") for c in cats] == ["1", "2", "3", "4", "5", ""]
    assert cats[0].get("label") == "1 – moins fragile (20,5 – 76,2)"
    assert cats[4].get("label") == "5 – plus fragile (103,1 – 242,1)"
    hatch = root.findall(".//layer[@class='LinePatternFill']")
    assert len(hatch) == 6 and all(h.find(".//Option[@name='expression']").get("value") == '"fiabilite" > 0'
                                   for h in hatch)
    doc = ET.fromstring(sld("communes", bounds).split("\n", 1)[1])
    fills = [e.text for e in doc.iter("{http://www.opengis.net/se}SvgParameter") if e.get("name") == "fill"]
    assert fills == [*CLASS_COLOURS.values(), NO_DATA_COLOUR]
    # the QPVs' style only: a dot on each unit, switched on by the map's scale
    dotted = ET.fromstring(qml(bounds, dots=True).split("\n", 1)[1])
    centroids = dotted.findall(".//layer[@class='CentroidFill']")
    assert len(centroids) == 6 and all(c.find(".//Option[@name='expression']").get("value") == f"@map_scale > {DOT_SCALE}"
                                       for c in centroids)
    assert not root.findall(".//layer[@class='CentroidFill']")
    # fewer than five classes (tied cut points): each class made keeps its bounds, no other made up
    tied = ET.fromstring(qml([0.0, 0.0, 3.5, 9.0]).split("\n", 1)[1]).findall(".//category")
    assert [c.get("label") for c in tied[:4]] == ["1 – moins fragile (0,0)", "2 (0,0 – 3,5)", "3 (3,5 – 9,0)", "4"]


def test_gpkg_is_version_1_2_with_a_default_style(sample_run):
    target, _ = sample_run
    for level in LEVELS:
        with sqlite3.connect(target / f"{level}.gpkg") as con:
            assert con.execute("PRAGMA user_version").fetchone()[0] == 10200
            contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
            assert contents == {level: "features", "layer_styles": "attributes"}
            row = con.execute("SELECT f_table_name, f_geometry_column, useAsDefault, styleQML, styleSLD "
                              "FROM layer_styles").fetchall()
            geom = con.execute("SELECT column_name FROM gpkg_geometry_columns").fetchone()[0]
        assert len(row) == 1 and row[0][:3] == (level, geom, 1)
        assert 'attr="classe_global"' in row[0][3] and "StyledLayerDescriptor" in row[0][4]
        assert (target / f"{level}.qml").read_text(encoding="utf-8") == row[0][3]


def test_qgis_opens_every_layer_styled_and_renders_it(sample_run, tmp_path):
    target, _ = sample_run
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([SYSTEM_PYTHON, str(QGIS_CHECK), str(target), str(tmp_path / "png"), *LEVELS],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.stdout.strip(), f"QGIS check printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    warnings = [m for m in report.pop("_messages") if "version" in m.lower() or "GeoPackage" in m]
    assert not warnings, warnings
    assert "partially supported" not in done.stderr
    for level in LEVELS:
        for kind in ("gpkg", "qml"):
            seen = report[level][kind]
            assert seen["valid"] and seen["renderer"] == "categorizedSymbol", (level, kind, seen)
            assert seen["attribute"] == "classe_global"
            assert [c["colour"] for c in seen["categories"]] == [*CLASS_COLOURS.values(), NO_DATA_COLOUR]
            assert all("LinePatternFill" in layers for layers in seen["symbol_layers"])
            assert Path(seen["render"]["png"]).stat().st_size > 1000
        assert report[level]["qml"]["loaded"], report[level]["qml"]["message"]
    # QPVs (a few hundred metres) get a dot of their class when zoomed out, and only when zoomed out
    for level in LEVELS:
        with_dots = ["CentroidFill" in layers for layers in report[level]["gpkg"]["symbol_layers"]]
        assert all(with_dots) if level == "qpv" else not any(with_dots), level
    dots = report["qpv"]["gpkg"]["dots"]
    assert dots["full"] > 500 and dots["full_scale"] > DOT_SCALE, dots
    assert dots["zoomed"] == 0 and dots["zoomed_scale"] < DOT_SCALE, dots
    # the maps QGIS drew show several classes (the regions layer has two units)
    for level in ("iris", "communes", "epci", "departements", "qpv"):
        drawn = [c for c, n in report[level]["gpkg"]["render"]["pixels_per_colour"].items() if n > 20]
        assert len(drawn) >= 4, (level, report[level]["gpkg"]["render"])
