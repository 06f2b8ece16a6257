"""Open layers in QGIS as a user would, render them, report what QGIS saw (JSON on stdout).

Run by tests/test_styles.py with Debian's system Python and python3-qgis (not the venv):
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py OUT_DIR PNG_DIR LAYER...
For each layer: OUT_DIR/LAYER.gpkg opened by its layer name (QGIS applies the default style of
its layer_styles table), then OUT_DIR/LAYER.qml loaded on it (the style a GeoParquet user gets),
each rendered to PNG_DIR/LAYER-<gpkg|qml>.png; a style with dots (the QPVs) is drawn with and
without them, whole and zoomed on one unit. Every GDAL error or warning and every QGIS message
logged meanwhile is reported, so that a "GeoPackage version ... may only be partially supported"
warning fails the test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from osgeo import gdal
from qgis.core import (QgsApplication, QgsExpressionContext, QgsExpressionContextUtils, QgsFeatureRequest,
                       QgsMapRendererSequentialJob, QgsMapSettings, QgsRectangle, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtXml import QDomDocument

OVERSEAS_REGIONS = "('01', '02', '03', '04', '06')"

MESSAGES: list[str] = []


def gdal_handler(level, number, text):
    MESSAGES.append(f"GDAL {level} {number}: {text}")


def describe(layer: QgsVectorLayer) -> dict:
    renderer = layer.renderer()
    info = {"valid": layer.isValid(), "features": layer.featureCount(), "renderer": renderer.type()}
    if renderer.type() == "categorizedSymbol":
        info["attribute"] = renderer.classAttribute()
        info["categories"] = [{"value": str(c.value()), "label": c.label(),
                               "colour": c.symbol().color().name()} for c in renderer.categories()]
        info["symbol_layers"] = [[sl.layerType() for sl in c.symbol().symbolLayers()] for c in renderer.categories()]
    return info


def mainland_extent(layer: QgsVectorLayer) -> QgsRectangle:
    """The extent of the metropolitan units: a layer mixing the mainland and overseas in
    EPSG:4326 spans the Atlantic, where the units are specks."""
    request = QgsFeatureRequest().setFilterExpression(f'"code_region" NOT IN {OVERSEAS_REGIONS}')
    extent = QgsRectangle()
    extent.setMinimal()
    for feature in layer.getFeatures(request):
        extent.combineExtentWith(feature.geometry().boundingBox())
    return extent if not extent.isEmpty() else layer.extent()


def draw(layer: QgsVectorLayer, extent: QgsRectangle) -> tuple:
    """The layer drawn at 600 x 600 pixels, with the map's variables (@map_scale...) in the
    expression context, as QGIS's canvas and print layouts give them."""
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(600, 600))
    settings.setBackgroundColor(QColor("white"))
    context = QgsExpressionContext()
    context.appendScope(QgsExpressionContextUtils.mapSettingsScope(settings))
    settings.setExpressionContext(context)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage(), settings.scale()


def without_dots(layer: QgsVectorLayer) -> QgsVectorLayer:
    """The layer with its style less the dots of its polygons (CentroidFill symbol layers)."""
    renderer = layer.renderer().clone()
    for i, category in enumerate(renderer.categories()):
        symbol = category.symbol().clone()
        for j in reversed(range(symbol.symbolLayerCount())):
            if symbol.symbolLayer(j).layerType() == "CentroidFill":
                symbol.deleteSymbolLayer(j)
        renderer.updateCategorySymbol(i, symbol)
    copy = layer.clone()
    copy.setRenderer(renderer)
    return copy


def dots(layer: QgsVectorLayer) -> dict:
    """How many pixels the dots change, over the whole (mainland) layer and zoomed on one unit."""
    plain = without_dots(layer)
    unit = next(layer.getFeatures()).geometry().boundingBox()
    unit.grow(max(unit.width(), unit.height()))
    out = {}
    for name, extent in (("full", mainland_extent(layer)), ("zoomed", unit)):
        (a, scale), (b, _) = draw(layer, extent), draw(plain, extent)
        out[name] = sum(a.pixel(x, y) != b.pixel(x, y) for y in range(a.height()) for x in range(a.width()))
        out[f"{name}_scale"] = round(scale)
    return out


def render(layer: QgsVectorLayer, png: Path, colours: list[str]) -> dict:
    image, _ = draw(layer, mainland_extent(layer))
    image.save(str(png), "PNG")
    wanted = {QColor(c).rgb() & 0xFFFFFF: c for c in colours}
    counts = {c: 0 for c in colours}
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            rgb = image.pixel(x, y) & 0xFFFFFF
            if rgb in wanted:
                counts[wanted[rgb]] += 1
    return {"png": str(png), "pixels_per_colour": counts}


def main() -> None:
    out_dir, png_dir, layers = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    png_dir.mkdir(parents=True, exist_ok=True)
    gdal.PushErrorHandler(gdal_handler)
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    QgsApplication.messageLog().messageReceived.connect(
        lambda message, tag, level: MESSAGES.append(f"QGIS {tag} {int(level)}: {message}"))
    report = {}
    for name in layers:
        layer = QgsVectorLayer(f"{out_dir / (name + '.gpkg')}|layername={name}", name, "ogr")
        app.processEvents()
        entry = {"gpkg": describe(layer)}
        colours = [c["colour"] for c in entry["gpkg"].get("categories", [])]
        entry["gpkg"]["render"] = render(layer, png_dir / f"{name}-gpkg.png", colours)
        if any("CentroidFill" in layers for layers in entry["gpkg"].get("symbol_layers", [])):
            entry["gpkg"]["dots"] = dots(layer)
        plain = QgsVectorLayer(f"{out_dir / (name + '.gpkg')}|layername={name}", name, "ogr")
        doc = QDomDocument()
        parsed = doc.setContent((out_dir / f"{name}.qml").read_text(encoding="utf-8"))
        ok, message = plain.importNamedStyle(doc)
        entry["qml"] = {"parsed": bool(parsed), "loaded": bool(ok), "message": message, **describe(plain)}
        entry["qml"]["render"] = render(plain, png_dir / f"{name}-qml.png", colours)
        report[name] = entry
    app.processEvents()
    report["_messages"] = list(MESSAGES)
    print(json.dumps(report, ensure_ascii=False), flush=True)
    os._exit(0)   # exitQgis() can crash while Python tears the layers down; the report is out


if __name__ == "__main__":
    main()
