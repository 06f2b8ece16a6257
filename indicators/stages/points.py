"""The establishments' points placed in the IRIS and QPV polygons (pf_poly), zone by zone.

GEOS in the process (shapely) rather than DuckDB's spatial join: the polygons are already
shapely geometries here, and handing 49 000 IRIS polygons to DuckDB (WKB out, parsed back) cost
more than the placing itself. Each polygon is prepared once and tests only the points under its
envelope (an STRtree of the points).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from indicators.stages import parallel
from indicators.stages.geometry import to_epsg, transform_xy

# overseas zones are chosen by the commune code's prefix; the rest is the mainland
OVERSEAS = ["971", "972", "973", "974", "976"]


def place(points: pd.DataFrame, iris_src: pd.DataFrame, qpv_src: pd.DataFrame | None,
          zones: dict[str, int]) -> pd.DataFrame:
    """points: siret, px, py, pepsg (a known CRS), code_commune. Returns siret, iris_polygone
    (None: in no IRIS), qpv_polygone ('' in no QPV; None without QPV contours), one row per point
    of a zone that has IRIS. A point on a boundary shared by two polygons takes the smaller code,
    so that the result does not depend on the order of the rows."""
    iris_zone = iris_src["code_departement"].map(lambda d: d if d in zones else "metropole")
    prefix = points["code_commune"].fillna("").str[:3]
    # 975, 977, 978 (Saint-Pierre-et-Miquelon, the Antilles' collectivités) have no IRIS: no zone
    point_zone = prefix.where(prefix.isin(OVERSEAS), np.where(prefix.str[:2] == "97", None, "metropole"))
    out = []
    for zone, part in iris_src.groupby(iris_zone):
        epsg = zones[zone]
        p = points[(point_zone == zone).to_numpy()]
        xy = np.empty((len(p), 2))
        for src, idx in p.groupby("pepsg").indices.items():
            xy[idx, 0], xy[idx, 1] = transform_xy(p["px"].to_numpy(float)[idx], p["py"].to_numpy(float)[idx],
                                                  int(src), epsg)
        geom = shapely.points(xy)
        igeom = to_epsg(np.asarray(part["geometry"], dtype=object), part["epsg"].to_numpy(), epsg)
        found = p[["siret"]].reset_index(drop=True)
        found["iris_polygone"] = smallest_code(geom, igeom, part["code_iris"].to_numpy())
        if qpv_src is not None:
            qgeom = to_epsg(np.asarray(qpv_src["geometry"], dtype=object), qpv_src["epsg"].to_numpy(), epsg)
            found["qpv_polygone"] = smallest_code(geom, qgeom, qpv_src["code_qpv"].to_numpy()).fillna("")
        else:
            found["qpv_polygone"] = None
        out.append(found)
    if not out:
        return pd.DataFrame({"siret": pd.Series(dtype=str), "iris_polygone": pd.Series(dtype=str),
                             "qpv_polygone": pd.Series(dtype=str)})
    return pd.concat(out, ignore_index=True)


def smallest_code(points: np.ndarray, polygons: np.ndarray, codes: np.ndarray) -> pd.Series:
    """For each point, the smallest code of the polygons containing it (None: none does)."""
    result = pd.Series([None] * len(points), dtype=object)
    if not len(points) or not len(polygons):
        return result
    polygon, point = parallel.query(shapely.STRtree(points), polygons, "contains")
    if len(point):
        best = pd.Series(codes[polygon]).groupby(point).min()
        result.iloc[best.index.to_numpy()] = best.to_numpy()
    return result
