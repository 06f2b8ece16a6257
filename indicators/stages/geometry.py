"""Polygons: parsed once, repaired once, reprojected once, dissolved level by level.

Why dissolve in GEOS through shapely rather than DuckDB's ST_Union_Agg: the aggregate unions
its inputs one by one, and a département of 300 densified communes took 25 s of the 3-minute
national refresh. IGN's IRIS contours are a coverage (neighbours share their vertices, no
overlaps: checked on the real sample), which GEOS dissolves by dropping the shared edges, without
noding anything (`coverage_union_all`). That shortcut is only right on a true coverage, and GEOS
does not promise to refuse every other input, so its result is checked (valid, and its area the
sum of its parts' areas) and, when the check fails, the group is unioned the general way
(`union_all`, cascaded). Groups are dissolved on two threads: GEOS releases the GIL.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from indicators.stages import parallel
from indicators.stages.levels import LEVEL_KEY, LEVELS
from indicators.stages.stage_cache import StageCache, StageResult

# a coverage union's area equals the sum of its parts' to float precision; an overlap does not
AREA_TOLERANCE = 1e-9


def from_wkb(values: pd.Series) -> np.ndarray:
    # DuckDB hands BLOBs back as bytearray, which shapely does not take
    return shapely.from_wkb(np.array([bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else None
                                     for v in values], dtype=object))


def polygonal(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """MultiPolygons only, valid: repairs invalid rings, drops slivers of lower dimension."""
    geoms = np.asarray(geoms, dtype=object)
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    fixed = geoms.copy()
    if invalid.any():
        fixed[invalid] = shapely.make_valid(geoms[invalid])
    out = np.empty(len(fixed), dtype=object)
    kind = shapely.get_type_id(fixed)
    full = ~shapely.is_empty(fixed) & ~shapely.is_missing(fixed)
    # the common cases at once: a MultiPolygon stays, a Polygon becomes a MultiPolygon of one
    multi, single = full & (kind == 6), full & (kind == 3)
    out[multi] = fixed[multi]
    if single.any():
        out[single] = shapely.multipolygons(fixed[single], indices=np.arange(int(single.sum())))
    for i in np.flatnonzero(~multi & ~single):   # collections from make_valid, empties
        g = fixed[i]
        if g is None or g.is_empty:
            out[i] = None
            continue
        polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        parts = []
        for p in polys:
            parts.extend(shapely.get_parts(p) if p.geom_type == "MultiPolygon" else [p])
        out[i] = shapely.MultiPolygon(parts) if parts else None
    return out, int(invalid.sum())


@functools.lru_cache(maxsize=64)
def _transformer(source: int, target: int, thread: int) -> Transformer:
    """One per CRS pair and thread: a Transformer is not to be shared between threads."""
    return Transformer.from_crs(source, target, always_xy=True)


def _project(x: np.ndarray, y: np.ndarray, source: int, target: int) -> np.ndarray:
    return np.stack(_transformer(source, target, threading.get_ident()).transform(x, y), axis=1)


def _projected(x: np.ndarray, y: np.ndarray, source: int, target: int) -> np.ndarray:
    """(n, 2) coordinates in `target`, halves on two cores (PROJ leaves the GIL): the same
    numbers, point by point."""
    return parallel.elementwise(functools.partial(_project, source=int(source), target=int(target)), x, y)


def transform_xy(x: np.ndarray, y: np.ndarray, source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    if source == target:
        return x, y
    xy = _projected(x, y, source, target)
    return np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])


def _transform(geoms: np.ndarray, source: int, target: int) -> np.ndarray:
    if source == target:
        return geoms
    return shapely.transform(geoms, lambda xy: _projected(xy[:, 0], xy[:, 1], source, target))


def to_epsg(geoms: np.ndarray, epsgs: np.ndarray, target: int) -> np.ndarray:
    out = np.empty(len(geoms), dtype=object)
    for e in np.unique(epsgs):
        m = epsgs == e
        out[m] = _transform(geoms[m], int(e), target)
    return out


def dissolve_group(parts: np.ndarray) -> tuple[shapely.Geometry, bool]:
    """The union of one group's polygons, and whether the coverage shortcut was right for it."""
    if len(parts) == 1:
        return parts[0], True
    try:
        merged = shapely.coverage_union_all(parts)
        expected = float(shapely.area(parts).sum())
        if (shapely.is_valid(merged)
                and abs(shapely.area(merged) - expected) <= AREA_TOLERANCE * max(expected, 1.0)):
            return merged, True
    except shapely.errors.GEOSException:   # "incorrectly noded inputs", "overlapping inputs"
        pass
    return shapely.union_all(parts), False


def dissolve(parents: np.ndarray, geoms: np.ndarray, threads: int | None = None) -> tuple[pd.Series, int]:
    """Union of `geoms` by `parents` code: a Series of geometries indexed by sorted parent code,
    and the number of groups that were not a clean coverage (unioned the general way).
    Rows with no parent or no geometry are left out. Deterministic: parts keep their input order."""
    keep = pd.notna(parents) & ~shapely.is_missing(geoms)
    parents, geoms = np.asarray(parents[keep], dtype=object), geoms[keep]
    order = np.argsort(parents, kind="stable")
    parents, geoms = parents[order], geoms[order]
    if len(parents) == 0:
        return pd.Series([], dtype=object), 0
    starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
    groups = np.split(geoms, starts[1:])
    with ThreadPoolExecutor(threads or min(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(dissolve_group, groups))
    merged = pd.Series([g for g, _ in results], index=parents[starts], dtype=object)
    return merged, sum(not ok for _, ok in results)


OVERSEAS_CRS = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
METRO_CRS = 2154
MIXED_CRS = 4326


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


def iris_polygons(con, source_table: str, notes: list[str]) -> pd.DataFrame:
    """The IRIS polygons of the run (code_iris, epsg, geometry, code_departement), parsed and
    repaired once, in the CRS they were delivered in."""
    src = con.sql(f"SELECT g.code_iris, g.epsg, g.wkb, s.code_departement FROM {source_table} g "
                  "JOIN stg_iris s USING (code_iris)").df()
    src = src.assign(geometry=from_wkb(src["wkb"]))
    src["geometry"], repaired = polygonal(src["geometry"].to_numpy())
    if repaired:
        notes.append(f"{repaired} IRIS polygons were invalid as delivered and were repaired (make_valid)")
    return src


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
        # by a hash lookup: isin on these codes took a quarter of a second for the IRIS
        links = links[children.index.unique().get_indexer(links[child_key].to_numpy(dtype=object)) >= 0]
        merged, not_coverage = dissolve(links[LEVEL_KEY[level]].to_numpy(),
                                        children.reindex(links[child_key].to_numpy()).to_numpy())
        if not_coverage:
            notes.append(f"{level}: {not_coverage} units' parts were not a clean coverage (overlaps or "
                         "unshared vertices) and were dissolved by a general union")
        polys, _ = polygonal(merged.to_numpy())
        shapes[level] = pd.Series(polys, index=merged.index)
        geometry[level] = pd.Series(shapely.to_wkb(polys), index=merged.index)
    return geometry, notes


def kept_level_polygons(stages: StageCache, key: str, iris_src: pd.DataFrame, parents: pd.DataFrame,
                        epsg: int) -> tuple[dict[str, pd.Series], list[str]]:
    """level_polygons, kept between refreshes under `key` (the IRIS polygons and their parents)
    and the layers' CRS: a refresh whose contours and hierarchy did not change dissolves nothing."""
    def run() -> StageResult:
        geometry, notes = level_polygons(iris_src, parents, epsg)
        return StageResult(frames={level: pd.DataFrame({"code": s.index.to_numpy(), "wkb": s.to_numpy()})
                                   for level, s in geometry.items()}, meta={"notes": notes})

    result = stages.run(None, "polygones", stages.key("polygones", key, epsg), run)
    geometry = {level: pd.Series(f["wkb"].to_numpy(), index=f["code"].to_numpy()) for level, f in result.frames.items()}
    return geometry, list(result.meta["notes"])


def reprojected_wkb(frame: pd.DataFrame, code: str, epsg: int) -> pd.Series:
    """A table's `wkb` polygons (each in its `epsg`) in the layers' CRS, indexed by `code`."""
    polys, _ = polygonal(to_epsg(from_wkb(frame["wkb"]), frame["epsg"].to_numpy(), epsg))
    return pd.Series(shapely.to_wkb(polys), index=frame[code].to_numpy())
