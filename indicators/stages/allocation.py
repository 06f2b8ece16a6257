"""IRIS -> QPV weights (sql/weights/iris_qpv_pieces.sql then iris_qpv.sql), and their calibration to control totals.

Weights are computed per zone in the CRS of INSEE's 200 m grid there (AREA_CRS): areas in degrees
mean nothing, and in the grid's own CRS the cells are exact squares, cut by a rectangle
(carreaux.py). For metropolitan France that is ETRS89-LAEA (EPSG:3035), an equal-area projection,
which Lambert-93 (conformal) is not; overseas, each département's legal CRS. Every weight records its
source: `carreaux_200m` (two-class dasymetric on Filosofi cells) or `surface` (area, the last
resort), and, when calibrated, the factor applied.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import shapely

from indicators.db import run_sql, table_from_frame, table_names
from indicators.stages import parallel
from indicators.stages.carreaux import MARGIN, candidates, in_qpv, zone_cells
from indicators.stages.geometry import to_epsg

# each zone's legal CRS (where the establishments' coordinates are located: plateformes.py)
ZONES = {"metropole": 2154, "971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
# where the weights' areas are measured: INSEE's grid is in LAEA in metropolitan France
AREA_CRS = {**ZONES, "metropole": 3035}
SEUIL_CLASSE = 0.9


def zone_of(departement: str) -> str:
    return departement if departement in ZONES else "metropole"


def _register(con, name: str, frame: pd.DataFrame, geoms: np.ndarray) -> None:
    """A table `name` of frame's columns and `geoms` as its geom column."""
    cols = "".join(f"{c}, " for c in frame.columns)
    table_from_frame(con, name, frame.assign(wkb=shapely.to_wkb(geoms)),
                     f"{cols}ST_GeomFromWKB(CAST(wkb AS BLOB)) AS geom")


def compute_weights(con, iris: pd.DataFrame, qpv: pd.DataFrame, cells: pd.DataFrame | None,
                    emprise: pd.DataFrame | None, seuil: float = SEUIL_CLASSE) -> pd.DataFrame:
    """iris: code_iris, code_departement, geometry, epsg; qpv: code_qpv, geometry, epsg (valid).
    Returns code_iris, code_qpv, poids_surface, poids_carreaux, iris_couverte, zone, poids, source_poids."""
    iris = iris.assign(zone=iris["code_departement"].map(zone_of))
    before = table_names(con)
    out = [w.assign(zone=zone) for zone, part in iris.groupby("zone")
           if (w := zone_weights(con, part, qpv, cells, emprise, AREA_CRS[zone], seuil)) is not None]
    # the spatial pieces (hundreds of MB nationally) would otherwise stay in the connection to the
    # end of the computation, under everything allocated after
    for table in sorted(table_names(con) - before):
        con.execute(f"DROP TABLE {table}")
    cols = ["code_iris", "code_qpv", "poids_surface", "poids_carreaux", "iris_couverte", "zone"]
    weights = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
    weights["poids"] = weights["poids_carreaux"].where(weights["poids_carreaux"].notna(), weights["poids_surface"])
    weights["source_poids"] = np.where(weights["poids_carreaux"].notna(), "carreaux_200m", "surface")
    return weights.sort_values(["code_qpv", "code_iris"]).reset_index(drop=True)


def zone_weights(con, part: pd.DataFrame, qpv: pd.DataFrame, cells: pd.DataFrame | None,
                 emprise: pd.DataFrame | None, epsg: int, seuil: float) -> pd.DataFrame | None:
    """The weights of one zone's IRIS (`part`), computed in `epsg`; None when no QPV is near."""
    qz = to_epsg(np.asarray(qpv["geometry"], dtype=object), qpv["epsg"].to_numpy(), epsg)
    geoms, epsgs = np.asarray(part["geometry"], dtype=object), part["epsg"].to_numpy()
    # the zone's ground, a superset: the envelopes' corners reprojected, a margin for their bent edges
    x0, y0, x1, y1 = shapely.total_bounds(to_epsg(shapely.envelope(geoms), epsgs, epsg))
    env = shapely.box(x0 - MARGIN, y0 - MARGIN, x1 + MARGIN, y1 + MARGIN)
    near = shapely.intersects(qz, env)
    if not near.any():
        return None
    qz, qcodes = qz[near], qpv["code_qpv"].to_numpy()[near]
    # only the ground around QPVs is reprojected and enters the SQL: nationally, most of France's
    # 49 000 IRIS and 2 million cells cannot change a weight (carreaux says which can)
    kept = candidates(geoms, epsgs, qz, epsg)
    igeom, codes = to_epsg(geoms[kept], epsgs[kept], epsg), part["code_iris"].to_numpy()[kept]
    useful = np.zeros(len(igeom), dtype=bool)
    useful[np.unique(shapely.STRtree(qz).query(igeom, predicate="intersects")[0])] = True
    cut, any_cell, useful = zone_cells(cells, igeom, useful, env, epsg)
    _register(con, "z_qpv", pd.DataFrame({"code_qpv": qcodes}), qz)
    _register(con, "z_iris", pd.DataFrame({"code_iris": codes[useful]}), igeom[useful])
    cover = cover_of(any_cell, emprise, epsg)
    _register(con, "z_cover", pd.DataFrame(index=range(len(cover))), cover)
    register_pieces(con, cut, codes[useful], qz, qcodes)
    with threads(con, parallel.THREADS):   # the overlay, its rows then sorted (its SQL says why)
        run_sql(con, "weights/iris_qpv_pieces")
    with threads(con, 1):   # the same sums in the same order: the same weights at every run
        run_sql(con, "weights/iris_qpv", params={"seuil": seuil})
    return con.sql("SELECT * FROM w_zone").df()


def cover_of(any_cell: bool, emprise: pd.DataFrame | None, epsg: int) -> np.ndarray:
    """What the cells cover, in `epsg`: nothing listed for a national file (it covers everything);
    a speck when the zone has no cell at all, so that every IRIS falls back to area."""
    if not any_cell:
        return np.array([shapely.Point(0, 0).buffer(1e-9)], dtype=object)
    if emprise is not None and len(emprise):
        rect = shapely.box(emprise["xmin"], emprise["ymin"], emprise["xmax"], emprise["ymax"])
        return to_epsg(rect, emprise["epsg"].to_numpy(), epsg)
    return np.empty(0, dtype=object)


def register_pieces(con, cut: pd.DataFrame, codes: np.ndarray, qz: np.ndarray, qcodes: np.ndarray) -> None:
    """w_ci (the cells' pieces: idcar, ind, cell_area, code_iris, a) and w_in (their parts in each
    QPV: idcar, code_iris, code_qpv, a), in the order the one-thread sums of weights/iris_qpv.sql
    read them (stages/carreaux.py cuts them)."""
    cut = cut.assign(code_iris=codes[cut["i"].to_numpy()])
    piece, q, area = in_qpv(cut["geometry"].to_numpy(), qz)
    w_ci = cut[["idcar", "ind", "cell_area", "code_iris", "a"]].sort_values(["idcar", "code_iris"])
    w_in = pd.DataFrame({"idcar": cut["idcar"].to_numpy()[piece], "code_iris": cut["code_iris"].to_numpy()[piece],
                         "code_qpv": qcodes[q], "a": area}).sort_values(["idcar", "code_iris", "code_qpv"])
    table_from_frame(con, "w_ci", w_ci.reset_index(drop=True))
    table_from_frame(con, "w_in", w_in.reset_index(drop=True))


@contextmanager
def threads(con, n: int):
    """DuckDB on n threads for the block. One for sums: its parallel sums add their terms in the
    order threads finish, and floating-point addition is not associative."""
    before = con.sql("SELECT current_setting('threads')").fetchone()[0]
    con.execute(f"SET threads = {int(n)}")
    try:
        yield con
    finally:
        con.execute(f"SET threads = {int(before)}")


def calibrate(weights: pd.DataFrame, iris_population: pd.Series, targets: pd.Series,
              iterations: int = 200, tolerance: float = 1e-9) -> pd.DataFrame:
    """Scale each QPV's weights so that its allocated population meets its published one, while no
    IRIS gives more than all its people (iterative proportional fitting with a cap of 1 per IRIS).
    QPVs without a target keep their weights. Adds `facteur_calibration`."""
    w = weights.copy()
    pop = w["code_iris"].map(iris_population).fillna(0.0).to_numpy()
    base = w["poids"].to_numpy(float)
    cur = base.copy()
    target = w["code_qpv"].map(targets).to_numpy(float)
    has_target = ~np.isnan(target)
    qcodes = w["code_qpv"].to_numpy()
    icodes = w["code_iris"].to_numpy()
    for _ in range(iterations):
        est = pd.Series(cur * pop).groupby(qcodes).transform("sum").to_numpy()
        factor = np.where(has_target & (est > 0), target / np.where(est > 0, est, 1), 1.0)
        cur = cur * factor
        total = pd.Series(cur).groupby(icodes).transform("sum").to_numpy()
        cur = np.where(total > 1, cur / total, cur)
        est = pd.Series(cur * pop).groupby(qcodes).transform("sum").to_numpy()
        gap = np.abs(est - target)[has_target & (pop > 0)]
        if not len(gap) or gap.max() < tolerance * max(1.0, np.nanmax(target)):
            break
    w["facteur_calibration"] = np.where(base > 0, cur / np.where(base > 0, base, 1), np.nan)
    w["poids"] = cur
    return w
