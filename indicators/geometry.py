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

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

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


def _transform(geoms: np.ndarray, source: int, target: int) -> np.ndarray:
    if source == target:
        return geoms
    t = Transformer.from_crs(source, target, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


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
