"""QGIS styles of the layers: a categorized renderer on `classe_global` (ifn-2023: `classe_total`)
in the project's palette.

Each GeoPackage carries its style in the `layer_styles` table that QGIS reads when it opens the
layer (the default style of f_table_name / f_geometry_column, `useAsDefault` true); each
GeoParquet layer gets a `.qml` beside it (`iris.parquet` -> `iris.qml`), which QGIS loads for a
file-based layer. Both say the same thing:

- one category per class 1-5, ColorBrewer YlOrRd (outputs/palette.py, shared with the report
  maps and the web map), labelled "1 – moins fragile (20,5 – 76,2)" ... with the layer's bounds;
  a grey "non classé" category for a unit without a class;
- units whose score rests on small census counts (`fiabilite` > 0, stages/reliability.py)
  hatched: a thin diagonal line pattern, switched on per feature by the expression
  "fiabilite" > 0 (a data-defined "enabled" of the symbol layer), so the renderer stays
  categorized on classe_global and the class colour still reads under the hatching;
- the QPVs (DOT_LAYERS), a few hundred metres across, also get a dot of their class colour on
  their surface when the map is zoomed out beyond DOT_SCALE (a département or more in view,
  where their polygons are specks), switched on the same way by `@map_scale`, as the report
  maps draw them.

The QML is written by hand (no QGIS at run time) in the layout QGIS 3.22 writes and reads; a
test loads every layer in Debian's QGIS and renders it. The SLD (`styleSLD`) is for other
clients (GeoServer...), one rule per class and one hatching rule.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from indicators.outputs.palette import (CLASS_COLOURS, NO_DATA_COLOUR, NO_DATA_LABEL, OUTLINE_COLOUR,
                                        UNRELIABLE_COLOUR, class_labels, hex_to_rgb)

CLASS_ATTRIBUTE = "classe_global"   # the 2020 methods'; ifn-2023's is classe_total (methods.main_score)
FLAG_EXPRESSION = '"fiabilite" > 0'
STYLE_DATE = pd.Timestamp("2000-01-01T00:00:00Z")   # fixed: same inputs, same bytes
QGIS_VERSION = "3.22.16-Białowieża"
DOT_LAYERS = {"qpv"}
DOT_SCALE = 250_000   # 1:250 000: a QPV of 500 m is 2 mm on the screen


def _rgba(colour: str, alpha: int = 255) -> str:
    return ",".join(str(c) for c in (*hex_to_rgb(colour), alpha))


def _options(parent: ET.Element, values: dict[str, str]) -> None:
    opt = ET.SubElement(parent, "Option", type="Map")
    for name, value in values.items():
        ET.SubElement(opt, "Option", name=name, value=str(value), type="QString")


def _enabled_when(parent: ET.Element, expression: str) -> None:
    ddp = ET.SubElement(parent, "data_defined_properties")
    root = ET.SubElement(ddp, "Option", type="Map")
    ET.SubElement(root, "Option", name="name", value="", type="QString")
    props = ET.SubElement(root, "Option", name="properties", type="Map")
    enabled = ET.SubElement(props, "Option", name="enabled", type="Map")
    ET.SubElement(enabled, "Option", name="active", value="true", type="bool")
    ET.SubElement(enabled, "Option", name="expression", value=expression, type="QString")
    ET.SubElement(enabled, "Option", name="type", value="3", type="int")
    ET.SubElement(root, "Option", name="type", value="collection", type="QString")


def _dot(symbol: ET.Element, name: str, colour: str) -> None:
    """A dot of `colour` on the polygon's surface, drawn only when zoomed out beyond DOT_SCALE."""
    centroid = ET.SubElement(symbol, "layer", {"class": "CentroidFill", "enabled": "1", "locked": "0", "pass": "0"})
    _options(centroid, {"point_on_surface": "1", "point_on_all_parts": "0", "clip_points": "0",
                        "clip_on_current_part_only": "0"})
    _enabled_when(centroid, f"@map_scale > {DOT_SCALE}")
    marker = ET.SubElement(centroid, "symbol", name=f"@{name}@2", type="marker", alpha="1", clip_to_extent="1",
                           force_rhr="0")
    simple = ET.SubElement(marker, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0", "pass": "0"})
    _options(simple, {"name": "circle", "color": _rgba(colour), "outline_color": _rgba(UNRELIABLE_COLOUR),
                      "outline_style": "solid", "outline_width": "0.2", "outline_width_unit": "MM",
                      "size": "2.2", "size_unit": "MM", "joinstyle": "bevel"})


def _fill_symbol(parent: ET.Element, name: str, colour: str, hatch: bool, dot: bool = False) -> None:
    symbol = ET.SubElement(parent, "symbol", name=name, type="fill", alpha="1", clip_to_extent="1",
                           force_rhr="0")
    fill = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
    _options(fill, {"color": _rgba(colour), "style": "solid", "outline_color": _rgba(OUTLINE_COLOUR),
                    "outline_style": "solid", "outline_width": "0.1", "outline_width_unit": "MM",
                    "joinstyle": "bevel"})
    if hatch:
        _hatch(symbol, name)
    if dot:
        _dot(symbol, name, colour)


def _hatch(symbol: ET.Element, name: str) -> None:
    """Diagonal hatching, drawn only where fiabilite > 0."""
    pattern = ET.SubElement(symbol, "layer", {"class": "LinePatternFill", "enabled": "1", "locked": "0",
                                              "pass": "0"})
    _options(pattern, {"angle": "45", "distance": "1.6", "distance_unit": "MM", "color": _rgba(UNRELIABLE_COLOUR),
                       "line_width": "0.15", "line_width_unit": "MM", "offset": "0", "offset_unit": "MM"})
    _enabled_when(pattern, FLAG_EXPRESSION)
    line = ET.SubElement(pattern, "symbol", name=f"@{name}@1", type="line", alpha="0.8", clip_to_extent="1",
                         force_rhr="0")
    simple = ET.SubElement(line, "layer", {"class": "SimpleLine", "enabled": "1", "locked": "0", "pass": "0"})
    _options(simple, {"line_color": _rgba(UNRELIABLE_COLOUR), "line_style": "solid", "line_width": "0.15",
                      "line_width_unit": "MM", "capstyle": "flat", "joinstyle": "bevel"})


def qml(bounds: list[float] | None = None, title: str = "", attribute: str = CLASS_ATTRIBUTE,
        dots: bool = False) -> str:
    """The QML of a layer: categories on `attribute`, hatching where fiabilite > 0; `dots`: a dot
    per unit when zoomed out (the QPVs)."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology")
    renderer = ET.SubElement(root, "renderer-v2", type="categorizedSymbol", attr=attribute,
                             symbollevels="0", enableorderby="0", forceraster="0", referencescale="-1")
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    labels = class_labels(bounds)
    for i, (k, colour) in enumerate(CLASS_COLOURS.items()):
        ET.SubElement(categories, "category", value=str(k), symbol=str(i), label=labels[k], render="true")
        _fill_symbol(symbols, str(i), colour, hatch=True, dot=dots)
    n = len(CLASS_COLOURS)
    ET.SubElement(categories, "category", value="", symbol=str(n), label=NO_DATA_LABEL, render="true")
    _fill_symbol(symbols, str(n), NO_DATA_COLOUR, hatch=True, dot=dots)
    ET.SubElement(renderer, "rotation")
    ET.SubElement(renderer, "sizescale")
    if title:
        ET.SubElement(root, "layerTitle").text = title   # shown nowhere by QGIS, kept for readers
    ET.SubElement(root, "layerGeometryType").text = "2"
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def sld(layer: str, bounds: list[float] | None = None, attribute: str = CLASS_ATTRIBUTE) -> str:
    """SLD 1.1 of the same style, for clients other than QGIS."""
    ns = {"": "http://www.opengis.net/sld", "se": "http://www.opengis.net/se", "ogc": "http://www.opengis.net/ogc"}
    se, ogc = "{%s}" % ns["se"], "{%s}" % ns["ogc"]
    for prefix, uri in ns.items():
        ET.register_namespace(prefix, uri)
    root = ET.Element("{%s}StyledLayerDescriptor" % ns[""], version="1.1.0")
    named = ET.SubElement(root, "{%s}NamedLayer" % ns[""])
    ET.SubElement(named, se + "Name").text = layer
    style = ET.SubElement(ET.SubElement(named, "{%s}UserStyle" % ns[""]), se + "FeatureTypeStyle")

    def rule(title: str, condition: ET.Element) -> ET.Element:
        r = ET.SubElement(style, se + "Rule")
        ET.SubElement(r, se + "Name").text = title
        ET.SubElement(ET.SubElement(r, se + "Description"), se + "Title").text = title
        ET.SubElement(r, ogc + "Filter").append(condition)
        return r

    def compare(op: str, value: str | None, prop: str) -> ET.Element:
        c = ET.Element(ogc + op)
        ET.SubElement(c, ogc + "PropertyName").text = prop
        if value is not None:
            ET.SubElement(c, ogc + "Literal").text = value
        return c

    def polygon(r: ET.Element, colour: str) -> None:
        sym = ET.SubElement(r, se + "PolygonSymbolizer")
        ET.SubElement(ET.SubElement(sym, se + "Fill"), se + "SvgParameter", name="fill").text = colour
        stroke = ET.SubElement(sym, se + "Stroke")
        ET.SubElement(stroke, se + "SvgParameter", name="stroke").text = OUTLINE_COLOUR
        ET.SubElement(stroke, se + "SvgParameter", name="stroke-width").text = "0.3"

    labels = class_labels(bounds)
    for k, colour in CLASS_COLOURS.items():
        polygon(rule(labels[k], compare("PropertyIsEqualTo", str(k), attribute)), colour)
    polygon(rule(NO_DATA_LABEL, compare("PropertyIsNull", None, attribute)), NO_DATA_COLOUR)
    hatch = rule("score reposant sur de petits effectifs", compare("PropertyIsGreaterThan", "0", "fiabilite"))
    graphic = ET.SubElement(ET.SubElement(ET.SubElement(ET.SubElement(hatch, se + "PolygonSymbolizer"),
                                                        se + "Fill"), se + "GraphicFill"), se + "Graphic")
    mark = ET.SubElement(graphic, se + "Mark")
    ET.SubElement(mark, se + "WellKnownName").text = "horline"
    stroke = ET.SubElement(mark, se + "Stroke")
    ET.SubElement(stroke, se + "SvgParameter", name="stroke").text = UNRELIABLE_COLOUR
    ET.SubElement(stroke, se + "SvgParameter", name="stroke-width").text = "0.5"
    ET.SubElement(graphic, se + "Size").text = "6"
    ET.SubElement(ET.SubElement(graphic, se + "Rotation"), ogc + "Literal").text = "45"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def style_table(layer: str, bounds: list[float] | None, scheme: str, geometry_column: str = "geom",
                attribute: str = CLASS_ATTRIBUTE) -> pd.DataFrame:
    """The one row of the GeoPackage's layer_styles table, in the columns QGIS creates."""
    return pd.DataFrame({
        "f_table_catalog": [""], "f_table_schema": [""], "f_table_name": [layer],
        "f_geometry_column": [geometry_column],
        "styleName": [f"fragilite {layer}"],
        "styleQML": [qml(bounds, title=layer, attribute=attribute, dots=layer in DOT_LAYERS)],
        "styleSLD": [sld(layer, bounds, attribute)],
        "useAsDefault": [True],
        "description": [f"Classes de {attribute} ({scheme}), palette YlOrRd ; hachures : fiabilite > 0 "
                        "(indicateurs reposant sur moins de l'effectif minimal du recensement)"],
        "owner": [""], "ui": [""], "update_time": [STYLE_DATE],
    })


def add_gpkg_style(gpkg, layer: str, bounds: list[float] | None, scheme: str,
                   geometry_column: str = "geom", attribute: str = CLASS_ATTRIBUTE) -> None:
    """Add the layer_styles table (registered in gpkg_contents, as QGIS does) to a GeoPackage."""
    import pyogrio

    pyogrio.write_dataframe(style_table(layer, bounds, scheme, geometry_column, attribute), gpkg,
                            layer="layer_styles", driver="GPKG")
