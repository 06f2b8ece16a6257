"""PNG maps of a run for its report: score_global (ifn-2023: score_total) per level, platform-worker
rates when present.

Each map is a choropleth of the layer's classes in the project's palette (outputs/palette.py:
the colours of the QGIS styles and of the web map), with its legend (class bounds), a title, the
sources and their vintages, the method and the date. Units whose score rests on small census
counts (`fiabilite` > 0) are hatched (a QPV's dot gets a cross). A map whose data rest on SYNTHETIC files (the registry's rule:
the sample's SIRENE, a dataset marked by SYNTHETIQUE.json) names them in red across its top, under
a watermark: a score map for the score's sources, a platform-worker map for SIRENE and the rest.

Geometry: the mainland is drawn in Lambert-93 (EPSG:2154), each overseas région in an inset in
its own legal CRS (the layers of a run mixing both are in EPSG:4326, where the mainland and
Martinique are two specks on either side of the Atlantic). Polygons are simplified to about a
pixel before drawing; the layers themselves are not touched. A layer's polygons are simplified
together, as a coverage (shapely.coverage_simplify: a shared edge stays shared, so no white
slivers between neighbours), when it is affordable: the départements drawn under the QPVs
always, any other layer up to COVERAGE_MAX_VERTICES; beyond, each polygon on its own. Units
narrower than FINE_PIXELS get no grey outline (a town's IRIS on a national map), only an edge in
their own colour.

matplotlib draws without pyplot (no global state, any thread), each class as one patch.
"""

from __future__ import annotations

import textwrap
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from indicators.outputs.explain import NAME
from indicators.outputs.files import atomic_path
from indicators.outputs.map_cache import MapCache, layer_digest
from indicators.outputs.palette import (CLASS_COLOURS, CLASS_LABELS, NO_DATA_COLOUR, NO_DATA_LABEL, OUTLINE_COLOUR,
                                        RATE_LABELS, UNRELIABLE_COLOUR, class_labels)
from indicators.stages.classes import classify
from indicators.stages.methods import class_column
from indicators.stages.options import MIN_DENOMINATOR

MAPS_DIR = "cartes_rapport"   # the report's PNG maps (the web map is in carte/)
# overseas régions: name and legal CRS (the layers' CRS when a run holds one of them alone)
OVERSEAS = {"01": ("Guadeloupe", 5490), "02": ("Martinique", 5490), "03": ("Guyane", 2972),
            "04": ("La Réunion", 2975), "06": ("Mayotte", 4471)}
MAINLAND_CRS = 2154
LEVEL_TITLES = {"iris": "IRIS", "communes": "communes", "epci": "EPCI", "departements": "départements",
                "regions": "régions", "qpv": "quartiers prioritaires (QPV)"}
RATES = {"livreurs_pour_mille": "Livreurs pour 1 000 actifs occupés résidents",
         "vtc_pour_mille": "Chauffeurs VTC pour 1 000 actifs occupés résidents"}
SOURCE_LABELS = {"rp_": "Insee, recensement de la population", "filosofi_iris": "Insee, Filosofi",
                 "filosofi_communes": "Insee, Filosofi", "arcep_fixe": "Arcep, Ma connexion internet",
                 "insee_bpe": "Insee, BPE", "indicateurs_communes": "indicateurs communaux fournis",
                 "contours_iris": "IGN, CONTOURS-IRIS",
                 "mednum_kit_2020": "La MedNum, kit de l'IFN", "qpv_contours": "ANCT, contours des QPV",
                 "sirene_etablissements": "Insee, SIRENE",
                 # named only when synthetic (sources_line's prefixes leave them out of the footer)
                 "sirene_": "Insee, SIRENE", "epci_composition": "Insee, composition des EPCI",
                 "filosofi_200m": "Insee, Filosofi carroyé", "insee_qpv": "Insee, données des QPV",
                 "anct_qpv": "ANCT, indicateurs des QPV"}
SIRENE_LABEL = SOURCE_LABELS["sirene_etablissements"]
WIDTH_IN, HEIGHT_IN, DPI = 9.0, 7.2, 150
SMALL_COUNT_MARKER = "x"   # on a QPV's dot (polygons are hatched instead)


def preload_matplotlib() -> None:
    """Import matplotlib's drawing modules on a thread, to be ready when the maps are drawn: the
    import costs about 1.5 s of one core, which the stages, mostly DuckDB outside the GIL, leave
    free (it is most of what a SIRENE-only refresh would otherwise wait for before its maps)."""
    def load() -> None:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, name="matplotlib-preload", daemon=True).start()


@dataclass
class MapText:
    """What every map of a run says besides its data."""
    sources: str
    method: str
    date: str
    synthetic: list[str] = field(default_factory=list)   # labels of the SYNTHETIC sources the map rests on
    extra: list[str] = field(default_factory=list)

    def synthetic_line(self) -> str:
        return (f"Fichiers SYNTHÉTIQUES (générés par un script) : {' ; '.join(self.synthetic)}. "
                "Cette carte ne décrit rien de réel.") if self.synthetic else ""


@dataclass
class SmallCounts:
    """The units a map marks as resting on small census counts, and its legend's words for them."""
    units: pd.Series          # boolean, on the layer's index
    label: str


def small_counts(gdf: gpd.GeoDataFrame, rate: str | None, seuil: float = MIN_DENOMINATOR) -> SmallCounts | None:
    """What a map marks: on a score map, the units whose score rests on an indicator over a census
    count under `seuil` (fiabilite > 0); on a platform-worker map, the units whose rate divides by
    fewer than `seuil` employed residents (its own census denominator: the score's flags say
    nothing of it). None: the layer has no such column."""
    if rate is None:
        if "fiabilite" not in gdf:
            return None
        return SmallCounts((gdf["fiabilite"].fillna(0) > 0).astype(bool),
                           f"score reposant sur de petits\neffectifs (moins de {seuil:g})")
    if "actifs_occupes" not in gdf:
        return None
    return SmallCounts((gdf["actifs_occupes"] < seuil).fillna(False).astype(bool) & gdf[rate].notna(),
                       f"taux rapporté à moins de\n{seuil:g} actifs occupés")


def sources_line(provenance: dict, prefixes: tuple[str, ...]) -> str:
    """"Insee, recensement de la population 2016 ; IGN, CONTOURS-IRIS 2016 ..." from a run's inputs."""
    seen: dict[str, set] = {}
    for sid, info in provenance.items():
        if not sid.startswith(prefixes):
            continue
        label = next((v for k, v in SOURCE_LABELS.items() if sid.startswith(k)), None)
        if label:
            vintage = info.get("millesime")
            seen.setdefault(label, set()).update([str(vintage)] if vintage else [])
    return " ; ".join(f"{label} {', '.join(sorted(v))}".strip() for label, v in seen.items())


def split_territories(gdf: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The polygons of the mainland ("metropole") and of each overseas région, each in its own CRS."""
    # the polygons alone: filtering a whole layer copies its sixty columns (1.3 s nationally)
    region = (gdf["code_region"].astype(object).fillna("").to_numpy() if "code_region" in gdf else
              np.full(len(gdf), "", dtype=object))
    drawn = ~(gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()   # a unit without a polygon is not drawn
    gdf, region = gpd.GeoDataFrame(geometry=gdf.geometry[drawn], crs=gdf.crs), region[drawn]
    parts = {}
    mainland = gdf[~np.isin(region, list(OVERSEAS))]
    if len(mainland):
        parts["metropole"] = _in_crs(mainland, MAINLAND_CRS)
    for code, (_, epsg) in OVERSEAS.items():
        part = gdf[region == code]
        if len(part):
            parts[code] = _in_crs(part, epsg)
    return parts


def _in_crs(gdf: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """gdf in EPSG:epsg. A layer already there is taken as it is: PROJ's identity transform gives
    the same coordinates but costs about a second for 49 000 IRIS (geopandas does not skip it)."""
    if gdf.crs is None or gdf.crs.to_epsg() == epsg:
        return gdf
    return gdf.to_crs(epsg)


# coverage_simplify costs about 1-2 µs a vertex here (the sample's 4 010 IRIS, 0.69 M vertices:
# 0.9 s; the national benchmark's 49 000 IRIS, 5.9 M: 14 s, against 0.2 s for plain simplify):
# a national IRIS or commune layer is simplified polygon by polygon. A count, not a time: the same
# layer gives the same picture on any machine.
COVERAGE_MAX_VERTICES = 1_000_000


def _pixel(gdf: gpd.GeoDataFrame, pixels: float) -> float:
    """A pixel's size, in the layer's units, when its extent is drawn `pixels` wide."""
    xmin, ymin, xmax, ymax = gdf.total_bounds
    return max(xmax - xmin, ymax - ymin) / pixels


def _simplified(gdf: gpd.GeoDataFrame, pixels: float, coverage: bool = False) -> np.ndarray:
    tolerance = _pixel(gdf, pixels)
    geoms = gdf.geometry.to_numpy()
    if coverage:
        try:
            shapes = shapely.coverage_simplify(geoms, tolerance)
        except (shapely.errors.GEOSException, TypeError, ValueError):
            pass   # a part that is not a polygon (a repaired unit as a collection): polygon by polygon
        else:
            # overlapping units (not a coverage) are simplified all the same, edge by edge; a polygon
            # left invalid by it is taken on its own
            bad = ~shapely.is_valid(shapes)
            if bad.any():
                shapes[bad] = shapely.simplify(geoms[bad], tolerance, preserve_topology=False)
            return shapes
    shapes = shapely.simplify(geoms, tolerance, preserve_topology=False)
    # a unit narrower than the tolerance vanishes (a town's IRIS: a white hole in the map); these
    # are simplified keeping their topology, which never empties a polygon (nationally 10 000
    # city IRIS: 42 000 vertices drawn instead of their 1.1 million)
    gone = shapely.is_empty(shapes) & ~shapely.is_empty(geoms)
    shapes[gone] = shapely.simplify(geoms[gone], tolerance, preserve_topology=True)
    still = gone & shapely.is_empty(shapes)
    shapes[still] = geoms[still]
    return shapes


MAIN_PIXELS, INSET_PIXELS = WIDTH_IN * DPI * 0.7, WIDTH_IN * DPI * 0.22
# A unit narrower than this, in pixels of its frame, gets no grey outline: at 0.15 pt (a third of
# a pixel) outlines greyed over every town of a national map, the places with QPVs among them
FINE_PIXELS = 4


@dataclass
class Territories:
    """A layer split into its territories (mainland, overseas régions), each reprojected once and
    simplified to about a pixel of the frame it is drawn in: every map of the layer (its score,
    each platform rate) draws these, which nationally saves reprojecting and simplifying 49 000
    IRIS for each map. `coverage`: simplified as a coverage (None: when the layer has at most
    COVERAGE_MAX_VERTICES vertices). `cache`: where the simplified polygons are kept between
    refreshes, under the layer's digest (MapCache.shapes). `prefetch` prepares all of it on a
    thread while the maps of the layers before are drawn."""
    layer: gpd.GeoDataFrame
    parts: dict[str, gpd.GeoDataFrame]
    main_key: str | None
    coverage: bool = False
    cache: MapCache = field(default_factory=lambda: MapCache(None))
    _shapes: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict)
    _rings: dict[tuple[str, bool], "Rings"] = field(default_factory=dict)
    _digest: str | None = None
    _prefetched: Future | None = None

    @classmethod
    def of(cls, gdf: gpd.GeoDataFrame, coverage: bool | None = None, cache: MapCache | None = None) -> "Territories":
        parts = split_territories(gdf)
        if coverage is None:
            coverage = int(shapely.get_num_coordinates(gdf.geometry.to_numpy()).sum()) <= COVERAGE_MAX_VERTICES
        return cls(gdf, parts, "metropole" if "metropole" in parts else next(iter(parts), None), coverage,
                   cache or MapCache(None))

    def prefetch(self, pool: Executor, polygons: bool = True) -> None:
        """The digest and, if `polygons` (not for a layer drawn as dots), every territory's
        rings, made on `pool`: simplifying is GEOS, which leaves the GIL to the maps being drawn
        (nationally 1-3 s a layer). The methods below wait for it; its error is raised there."""
        def prepare() -> None:
            self._digest_of()
            for key in self.parts if polygons else ():
                self._rings_of(key, key == self.main_key)

        self._prefetched = pool.submit(prepare)

    def _wait(self) -> None:
        if self._prefetched is not None:
            self._prefetched.result()

    @property
    def digest(self) -> str:
        """layer_digest: what the layer gives its maps besides classes and marks."""
        self._wait()
        return self._digest_of()

    def _digest_of(self) -> str:
        if self._digest is None:
            self._digest = layer_digest(self.layer)
        return self._digest

    def rings(self, key: str, main: bool) -> Rings:
        """The rings of the territory's polygons simplified for the main frame or for an inset."""
        self._wait()
        return self._rings_of(key, main)

    def _shapes_of(self, key: str, main: bool) -> np.ndarray:
        if (key, main) not in self._shapes:
            pixels = MAIN_PIXELS if main else INSET_PIXELS
            make = partial(_simplified, self.parts[key], pixels, self.coverage)
            self._shapes[key, main] = (self.cache.shapes(self._digest_of(), f"{key}/{pixels}/{self.coverage}", make)
                                       if self.cache.folder else make())
        return self._shapes[key, main]

    def _rings_of(self, key: str, main: bool) -> Rings:
        if (key, main) not in self._rings:
            pixel = _pixel(self.parts[key], MAIN_PIXELS if main else INSET_PIXELS)
            self._rings[key, main] = Rings.of(self._shapes_of(key, main), pixel)
        return self._rings[key, main]


@dataclass
class Rings:
    """Every ring of a territory's simplified polygons as one table of vertices, each with its
    unit: a class is then one matplotlib path (one patch, drawn in one pass: a collection of
    thousands of hatched patches takes seconds), cut from the table by the class's units rather
    than rebuilt by shapely for each map (0.1 s a class nationally)."""
    coords: np.ndarray       # (n, 2)
    codes: np.ndarray        # matplotlib path codes: each ring MOVETO, LINETO..., CLOSEPOLY
    unit: np.ndarray         # position in the territory of each vertex's unit
    fine: np.ndarray         # per unit: narrower than FINE_PIXELS in its frame

    @classmethod
    def of(cls, geoms: np.ndarray, pixel: float) -> "Rings":
        """`pixel`: a pixel's size in the frame, in the geometries' units."""
        from matplotlib.path import Path as MplPath

        present = np.flatnonzero(~shapely.is_missing(geoms))
        parts, part_unit = shapely.get_parts(geoms[present], return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, ring = shapely.get_coordinates(rings, return_index=True)
        codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
        codes[np.diff(ring, prepend=-1) != 0] = MplPath.MOVETO       # a ring's first vertex
        codes[np.diff(ring, append=-1) != 0] = MplPath.CLOSEPOLY     # and its last
        xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
        fine = np.nan_to_num(np.maximum(xmax - xmin, ymax - ymin)) < FINE_PIXELS * pixel
        return cls(coords, codes, present[part_unit[ring_part[ring]]], fine)

    def path(self, units: np.ndarray | None = None):
        """The path of the units where `units` (a boolean per unit) is true; None: all of them."""
        from matplotlib.path import Path as MplPath

        keep = slice(None) if units is None else units[self.unit]
        coords = self.coords[keep]
        return MplPath(coords, self.codes[keep]) if len(coords) else None


def _patch(ax, rings: Rings, units: np.ndarray | None = None, **style) -> None:
    from matplotlib.patches import PathPatch

    path = rings.path(units)
    if path is not None:   # add_artist, not add_patch: the limits are set once, from the bounds
        ax.add_artist(PathPatch(path, **style))


def _draw(ax, layer: Territories, key: str, classes: pd.Series, points: bool,
          background: Territories | None, flags: pd.Series | None = None) -> None:
    main = key == layer.main_key
    part = layer.parts[key]
    cls = classes.loc[part.index]
    frame = part
    if background is not None and key in background.parts:
        _patch(ax, background.rings(key, main), facecolor="#f0f0f0", edgecolor="#969696", linewidth=0.4)
        frame = background.parts[key]
    if points:   # QPVs are a few hundred metres wide: dots, on the départements
        xy = shapely.get_coordinates(shapely.point_on_surface(part.geometry.to_numpy()))
        colours = [CLASS_COLOURS.get(int(k), NO_DATA_COLOUR) if pd.notna(k) else NO_DATA_COLOUR for k in cls]
        ax.scatter(xy[:, 0], xy[:, 1], c=colours, edgecolors="#252525", linewidths=0.4, s=22, zorder=3)
        if flags is not None:   # a cross on the dot: Agg hatches each marker on its own (1.7 s nationally)
            flagged = flags.loc[part.index].to_numpy()
            ax.scatter(xy[flagged, 0], xy[flagged, 1], marker=SMALL_COUNT_MARKER, c=UNRELIABLE_COLOUR,
                       linewidths=0.6, s=9, zorder=4)
    else:
        rings = layer.rings(key, main)
        # units too narrow for an outline first, edged in their own colour (it closes the seams
        # antialiasing leaves between neighbours); the others over them, outlined in grey
        for outlined in (False, True):
            for k, colour in [*CLASS_COLOURS.items(), (None, NO_DATA_COLOUR)]:
                mask = (cls.isna() if k is None else cls == k).fillna(False).to_numpy() & (rings.fine != outlined)
                _patch(ax, rings, mask, facecolor=colour, edgecolor=OUTLINE_COLOUR if outlined else colour,
                       linewidth=0.15 if outlined else 0.3)
        if flags is not None:
            flagged = flags.loc[part.index].to_numpy()
            _patch(ax, layer.rings(key, main), flagged, facecolor="none", edgecolor=UNRELIABLE_COLOUR, linewidth=0,
                   hatch="//////", alpha=0.55)
    xmin, ymin, xmax, ymax = frame.total_bounds
    pad = 0.02 * max(xmax - xmin, ymax - ymin)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(ymin - pad, ymax + pad)
    ax.set_axis_off()
    ax.set_aspect("equal")


def _legend(fig, bounds: list[float] | None, labels: dict[int, str], present: set, flagged: str | None,
            no_data: bool, points: bool = False) -> None:
    """flagged: the legend line of the marked units (None: no unit marked)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    named = class_labels(bounds, labels)
    for k, colour in CLASS_COLOURS.items():
        if k in present:
            handles.append(Patch(facecolor=colour, edgecolor=OUTLINE_COLOUR, linewidth=0.4, label=named[k]))
    if no_data:
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor=OUTLINE_COLOUR, linewidth=0.4, label=NO_DATA_LABEL))
    if flagged:
        handles.append(Line2D([], [], linestyle="none", marker=SMALL_COUNT_MARKER, color=UNRELIABLE_COLOUR,
                              markeredgewidth=0.8, markersize=5, label=flagged) if points else
                       Patch(facecolor="white", edgecolor=UNRELIABLE_COLOUR, hatch="//////", linewidth=0.4,
                             label=flagged))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.72, 0.86), frameon=False, fontsize=7.5,
               title="Classes", title_fontsize=8.5, alignment="left")


def choropleth(layer: Territories, classes: pd.Series, bounds: list[float] | None, title: str,
               text: MapText, target: Path, labels: dict[int, str] | None = None,
               points: bool = False, background: Territories | None = None,
               small: SmallCounts | None = None) -> Path:
    """One map: mainland in the main frame, overseas régions in insets under the legend; the
    units of `small` hatched (a QPV's dot crossed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    gdf, main_key = layer.layer, layer.main_key
    main = fig.add_axes((0.01, 0.10, 0.70, 0.76))
    if main_key is None:   # a layer without units (no QPV in the territory, say): the map says so
        main.set_axis_off()
        main.text(0.5, 0.5, "Aucune unité dans cette couche", ha="center", va="center", fontsize=12, color="#636363")
    else:
        _draw(main, layer, main_key, classes, points, background, small.units if small else None)
    present = {int(k) for k in classes.dropna().unique()}
    flagged = small.label if small is not None and small.units.any() else None
    _legend(fig, bounds, labels or RATE_LABELS, present, flagged, bool(classes.isna().any()), points)
    insets = [k for k in layer.parts if k != main_key]
    size = min(0.20, 0.40 / max(len(insets), 1))    # under the legend (at most 8 lines, to y = 0.55)
    for i, code in enumerate(insets):
        ax = fig.add_axes((0.74, 0.52 - (i + 1) * size, 0.22, size - 0.03))
        _draw(ax, layer, code, classes, points, background, small.units if small else None)
        ax.set_title(f"{OVERSEAS.get(code, (code,))[0]} (autre échelle)", fontsize=7, pad=2)
    fig.text(0.01, 0.965, title, fontsize=13, fontweight="bold", va="top")
    fig.text(0.01, 0.915, text.method, fontsize=8, va="top", color="#404040")
    if text.synthetic:
        mark = "SIRENE SYNTHÉTIQUE" if text.synthetic == [SIRENE_LABEL] else "DONNÉES SYNTHÉTIQUES"
        fig.text(0.5, 0.5, mark, fontsize=40, color="#cb181d", alpha=0.25, rotation=25, ha="center", va="center")
        # two lines fit above the frame: about 125 bold characters a line at 7.5 pt, 150 at 6.5 pt
        # (a national benchmark run names ten synthetic sources)
        warning = textwrap.wrap(text.synthetic_line(), 120, break_on_hyphens=False)
        size = 8.5 if len(warning) == 1 else 7.5
        if len(warning) > 2:
            warning, size = textwrap.wrap(text.synthetic_line(), 150, break_on_hyphens=False), 6.5
        if len(warning) > 2:   # the whole list stays in the PNG's Description and the run report
            short = (f"Fichiers SYNTHÉTIQUES (générés par un script) : {len(text.synthetic)} sources, dont "
                     f"{' ; '.join(text.synthetic[:3])}… (liste dans le rapport du run). Cette carte ne décrit rien de réel.")
            warning = textwrap.wrap(short, 150, break_on_hyphens=False)
        fig.text(0.01, 0.885, "\n".join(warning), fontsize=size, color="#cb181d", fontweight="bold", va="top")
    footer = [line for part in [f"Sources : {text.sources}.", *text.extra] for line in textwrap.wrap(part, 160)]
    footer.append(f"Carte : fragilite, {text.date}.")
    fig.text(0.01, 0.015, "\n".join(footer), fontsize=6.5, va="bottom", color="#404040")
    description = " ".join(filter(None, [text.method, text.synthetic_line()]))
    save_png(fig, target, {"Title": title, "Source": text.sources, "Description": description})
    return target


def save_png(fig, target: Path, metadata: dict[str, str]) -> None:
    """The figure as an RGB PNG on white, with its texts in the PNG's chunks. RGB, not the RGBA
    savefig writes: a map has no transparent pixel, and the alpha channel made the file a tenth
    bigger and its encoding slower (0.15-0.20 s against 0.10-0.14 s for a national map)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    fig.set_facecolor("white")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
    info = PngInfo()
    for key, value in metadata.items():
        info.add_text(key, value)   # iTXt (UTF-8) when not Latin-1, as matplotlib does
    with atomic_path(target) as tmp:
        Image.fromarray(rgb, "RGB").save(tmp, format="png", pnginfo=info, dpi=(DPI, DPI))


def partial_line(gdf: gpd.GeoDataFrame, level: str, shown: int = 4) -> str | None:
    """A footer line naming the layer's units only partly in the inputs (`territoire_complet`
    false: stages/coverage.py), whose figures describe the part present; None: there are none."""
    if "territoire_complet" not in gdf:
        return None
    partial = gdf[gdf["territoire_complet"].eq(False).fillna(False).to_numpy(dtype=bool)]
    if partial.empty:
        return None
    name = NAME.get(level)
    names = [str(n) for n in (partial[name] if name in partial else partial.iloc[:, 0]).fillna("?")]
    more = f" et {len(names) - shown} autre(s)" if len(names) > shown else ""
    return (f"Territoire incomplet dans les fichiers d'entrée, chiffres de la seule partie présente : "
            f"{', '.join(names[:shown])}{more}.")


def level_maps(level: str, gdf: gpd.GeoDataFrame, texts: dict[str, MapText], out_dir: Path,
               bounds: list[float] | None, background: Territories | None = None,
               layer: Territories | None = None, cache: MapCache | None = None,
               seuil: float = MIN_DENOMINATOR) -> list[Path]:
    """The maps of one layer: score_global always, each platform rate that has values.
    texts: "score" and "plateformes" (the latter with SIRENE's sources and synthetic ones).
    layer: gdf already split and simplified (the départements, also the QPVs' background).
    cache: maps of an earlier refresh, copied when what they show has not changed (map_cache.py).
    seuil: the run's reliability threshold (--min-denominator), for the marked units."""
    cache = cache or MapCache(None)
    layer = layer or Territories.of(gdf, cache=cache)
    points = level == "qpv"
    partial = partial_line(gdf, level)
    if partial:   # every map of the layer says it, under its sources
        texts = {kind: replace(text, extra=[*text.extra, partial]) for kind, text in texts.items()}
    name = LEVEL_TITLES.get(level, level)
    digest = (layer.digest + (background.digest if background else "")) if cache.folder else ""

    def one(classes: pd.Series, bounds: list[float] | None, title: str, text: MapText, file: str,
            labels: dict[int, str], small: SmallCounts | None) -> Path:
        target = out_dir / MAPS_DIR / file
        marked = [small.units] if small is not None else []
        key = cache.key(digest, [classes, *marked], bounds, title, text, labels, points, file,
                        small.label if small else None) if cache.folder else ""
        return cache.draw(key, target, lambda: choropleth(layer, classes, bounds, title, text, target, labels=labels,
                                                          points=points, background=background, small=small))

    score, title = ("score_global", "Score global de fragilité numérique") if "score_global" in gdf else \
        ("score_total", "Score total 1-10 (ifn-2023)")
    classes = gdf[class_column(score)] if class_column(score) in gdf else None   # the layer's own classes
    if classes is None or bounds is None:
        fresh, info = classify(gdf[score], "quantiles")
        classes, bounds = (fresh, info["bornes"]) if classes is None else (classes, bounds)
    written = [one(classes, bounds, f"{title} : {name}", texts["score"], f"{level}_{score}.png", CLASS_LABELS,
                   small_counts(gdf, None, seuil))]
    for rate, label in RATES.items():
        if rate in gdf and gdf[rate].notna().any():
            classes, info = classify(gdf[rate], "quantiles")
            written.append(one(classes, info["bornes"], f"{label} : {name}", texts["plateformes"],
                               f"{level}_{rate}.png", RATE_LABELS, small_counts(gdf, rate, seuil)))
    return written


def synthetic_labels(provenance: dict, sirene: bool) -> list[str]:
    """The labels of a run's SYNTHETIC inputs (the provenance's flag, registry.is_synthetic) that a
    map rests on: every input feeds the layers' units and scores but SIRENE, which feeds only the
    platform counts (sirene=True: a platform-worker map, which rests on all of them)."""
    labels = []
    for sid, info in provenance.items():
        if (sirene or not sid.startswith("sirene_")) and any(f.get("synthetic") for f in info.get("files", [])):
            labels.append(next((v for k, v in SOURCE_LABELS.items() if sid.startswith(k)), sid))
    return list(dict.fromkeys(labels))


def write_maps(layers: dict[str, gpd.GeoDataFrame], out_dir: Path, provenance: dict, method_line: str,
               date: str, bounds: dict[str, list[float] | None] | None = None,
               cache: MapCache | None = None, seuil: float = MIN_DENOMINATOR) -> dict[str, list[str]]:
    """Every level's maps under out_dir/cartes_rapport/; returns their paths relative to out_dir.
    cache: where maps are kept between refreshes (map_cache.py); the ones not made now are dropped."""
    score = MapText(sources_line(provenance, ("rp_", "filosofi_iris", "filosofi_communes", "arcep_fixe", "insee_bpe",
                                              "indicateurs_communes", "contours_iris", "mednum_kit_2020",
                                              "qpv_contours")), method_line, date,
                    synthetic_labels(provenance, sirene=False))
    rates = MapText(sources_line(provenance, ("sirene_etablissements", "rp_")), method_line, date,
                    synthetic_labels(provenance, sirene=True), ["Classes : quintiles des unités de la couche."])
    # the QPVs' grey background: a coverage whatever its size (a border stays one line, no sliver
    # between neighbours), simplified once for its own map and the QPVs'
    background = (Territories.of(layers["departements"], coverage=True, cache=cache)
                  if "qpv" in layers and "departements" in layers else None)
    territories = {level: background if level == "departements" and background is not None else
                   Territories.of(gdf, cache=cache) for level, gdf in layers.items()}
    written = {}
    # one thread simplifies the next layers' polygons (GEOS, no GIL) while this one draws (GIL)
    with ThreadPoolExecutor(1, thread_name_prefix="map-shapes") as pool:
        for level, layer in territories.items():
            layer.prefetch(pool, polygons=level != "qpv")
        for level, gdf in layers.items():
            paths = level_maps(level, gdf, {"score": score, "plateformes": rates}, out_dir,
                               (bounds or {}).get(level), background if level == "qpv" else None,
                               territories[level], cache, seuil)
            written[level] = [str(p.relative_to(out_dir)) for p in paths]
    if cache is not None:
        cache.prune()
    return written
