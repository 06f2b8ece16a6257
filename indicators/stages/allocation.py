"""IRIS -> QPV weights (sql/weights/iris_qpv_pieces.sql then iris_qpv.sql), and their calibration to control totals.

Weights are computed per zone in a metric CRS (Lambert-93 for metropolitan France, the legal CRS
of each overseas département), because areas in degrees mean nothing. Every weight records its
source: `carreaux_200m` (two-class dasymetric on Filosofi cells) or `surface` (area, the last
resort), and, when calibrated, the factor applied.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import shapely

from indicators.db import run_sql, table_names
from indicators.stages.geometry import to_epsg, transform_xy

ZONES = {"metropole": 2154, "971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
SEUIL_CLASSE = 0.9


def zone_of(departement: str) -> str:
    return departement if departement in ZONES else "metropole"


def cell_squares(cells: pd.DataFrame, epsg: int | None = None) -> np.ndarray:
    """The cells' squares, in `epsg` if given. Neighbouring cells share their corners: each grid
    node is reprojected once (a quarter of the points), the rings written as shapely.box does."""
    x0, y0, size = cells["x0"].to_numpy(float), cells["y0"].to_numpy(float), cells["size"].to_numpy(float)
    if epsg is None:
        return shapely.box(x0, y0, x0 + size, y0 + size)
    out = np.empty(len(cells), dtype=object)
    # box's ring: (x1, y0) (x1, y1) (x0, y1) (x0, y0) (x1, y0), as steps on the grid
    dx, dy = np.array([1, 1, 0, 0, 1]), np.array([0, 1, 1, 0, 0])
    for (cell_epsg, step), idx in cells.groupby(["epsg", "size"]).indices.items():
        ix = ((x0[idx] - x0[idx].min()) // step).astype(np.int64)
        iy = ((y0[idx] - y0[idx].min()) // step).astype(np.int64)
        width = int(iy.max()) + 2
        node = ((ix[:, None] + dx) * width + iy[:, None] + dy).ravel()
        unique, inverse = np.unique(node, return_inverse=True)
        nx = x0[idx].min() + (unique // width) * float(step)
        ny = y0[idx].min() + (unique % width) * float(step)
        tx, ty = transform_xy(nx, ny, int(cell_epsg), epsg)
        out[idx] = shapely.polygons(np.stack([tx[inverse], ty[inverse]], axis=-1).reshape(-1, 5, 2))
    return out


def _register(con, name: str, frame: pd.DataFrame, geoms: np.ndarray) -> None:
    data = frame.copy()
    data["wkb"] = shapely.to_wkb(geoms)
    con.register(f"{name}_df", data)
    cols = ", ".join(c for c in frame.columns)
    sep = ", " if cols else ""
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {cols}{sep}ST_GeomFromWKB(CAST(wkb AS BLOB)) AS geom FROM {name}_df")
    con.unregister(f"{name}_df")


def compute_weights(con, iris: pd.DataFrame, qpv: pd.DataFrame, cells: pd.DataFrame | None,
                    emprise: pd.DataFrame | None, seuil: float = SEUIL_CLASSE) -> pd.DataFrame:
    """iris: code_iris, code_departement, geometry, epsg; qpv: code_qpv, geometry, epsg (valid).
    Returns code_iris, code_qpv, poids_surface, poids_carreaux, iris_couverte, zone."""
    out = []
    iris = iris.assign(zone=iris["code_departement"].map(zone_of))
    qgeom = np.asarray(qpv["geometry"], dtype=object)
    before = table_names(con)
    for zone, part in iris.groupby("zone"):
        epsg = ZONES[zone]
        igeom = to_epsg(np.asarray(part["geometry"], dtype=object), part["epsg"].to_numpy(), epsg)
        qz = to_epsg(qgeom, qpv["epsg"].to_numpy(), epsg)
        env = shapely.box(*shapely.total_bounds(igeom))
        near = shapely.intersects(qz, env)
        if not near.any():
            continue
        _register(con, "z_qpv", qpv.loc[near, ["code_qpv"]].reset_index(drop=True), qz[near])
        # only the ground around QPVs enters the SQL: nationally, most of France's 49 000 IRIS and
        # 2 million cells cannot change a weight (_zone_cells says which can)
        useful = np.zeros(len(igeom), dtype=bool)
        useful[np.unique(shapely.STRtree(qz[near]).query(igeom, predicate="intersects")[0])] = True
        zone_cells, cgeom, any_cell, useful = _zone_cells(cells, igeom, useful, env, epsg)
        cover = np.empty(0, dtype=object)           # a national file covers everything
        if any_cell and emprise is not None and len(emprise):
            rect = shapely.box(emprise["xmin"], emprise["ymin"], emprise["xmax"], emprise["ymax"])
            cover = to_epsg(rect, emprise["epsg"].to_numpy(), epsg)
        if not any_cell:
            # no cells on this ground: cover nothing, so that every IRIS falls back to area
            cover = np.array([shapely.Point(0, 0).buffer(1e-9)], dtype=object)
        _register(con, "z_iris", part.loc[useful, ["code_iris"]].reset_index(drop=True), igeom[useful])
        _register(con, "z_cells", zone_cells, cgeom)
        _register(con, "z_cover", pd.DataFrame(index=range(len(cover))), cover)
        run_sql(con, "weights/iris_qpv_pieces")
        with one_thread(con):   # the same sums in the same order: the same weights at every run
            run_sql(con, "weights/iris_qpv", params={"seuil": seuil})
        w = con.sql("SELECT * FROM w_zone").df()
        w["zone"] = zone
        out.append(w)
    # the spatial pieces (hundreds of MB nationally) would otherwise stay in the connection to the
    # end of the computation, under everything allocated after
    for table in sorted(table_names(con) - before):
        con.execute(f"DROP TABLE {table}")
    cols = ["code_iris", "code_qpv", "poids_surface", "poids_carreaux", "iris_couverte", "zone"]
    weights = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
    weights["poids"] = weights["poids_carreaux"].where(weights["poids_carreaux"].notna(), weights["poids_surface"])
    weights["source_poids"] = np.where(weights["poids_carreaux"].notna(), "carreaux_200m", "surface")
    return weights.sort_values(["code_qpv", "code_iris"]).reset_index(drop=True)


@contextmanager
def one_thread(con):
    """DuckDB on one thread for the block: its parallel sums add their terms in the order threads
    finish, and floating-point addition is not associative."""
    threads = con.sql("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        yield con
    finally:
        con.execute(f"SET threads = {int(threads)}")


def cells_near(cells: pd.DataFrame, rects: np.ndarray, epsg: int) -> np.ndarray:
    """Which cells may touch one of `rects` (polygons in `epsg`): a superset, found on the cells'
    integer grid (the rectangles' bounds in the cells' CRS, one cell round) before any square is
    made, so that a national grid of 2.3 million cells costs a few array operations."""
    keep = np.zeros(len(cells), dtype=bool)
    if not len(rects) or not len(cells):
        return keep
    rects = shapely.segmentize(np.asarray(rects, dtype=object), 1_000.0)   # edges bend when reprojected
    for (cell_epsg, size), idx in cells.groupby(["epsg", "size"]).indices.items():
        x0, y0 = cells["x0"].to_numpy()[idx], cells["y0"].to_numpy()[idx]
        gx, gy = int(x0.min()), int(y0.min())
        ix, iy = (x0 - gx) // size, (y0 - gy) // size
        mask = np.zeros((int(iy.max()) + 1, int(ix.max()) + 1), dtype=bool)
        bounds = shapely.bounds(to_epsg(rects, np.full(len(rects), epsg), int(cell_epsg)))
        lo = np.floor((bounds[:, :2] - [gx, gy]) / size).astype(np.int64) - 1
        hi = np.floor((bounds[:, 2:] - [gx, gy]) / size).astype(np.int64) + 2
        for (c0, r0), (c1, r1) in zip(lo.clip(0), hi.clip(0)):
            mask[r0:r1, c0:c1] = True
        keep[idx] = mask[iy, ix]
    return keep


def _zone_cells(cells: pd.DataFrame | None, igeom: np.ndarray, useful: np.ndarray, env, epsg: int
                ) -> tuple[pd.DataFrame, np.ndarray, bool, np.ndarray]:
    """The cells that can change a weight in this zone, their squares in the zone's CRS, whether
    the zone has any cell at all, and the IRIS kept (`useful` grown). Kept, as the SQL needs them:
    the IRIS holding a QPV (`useful`), the cells on them, every IRIS those cells touch (a cell's
    people are shared among all its pieces), and the cells on these (each kept IRIS's own density
    is measured on all its cells). Squares are only made for cells near these IRIS (cells_near)."""
    empty = pd.DataFrame(columns=["idcar", "ind"]), np.empty(0, dtype=object)
    if cells is None or not len(cells):
        return *empty, False, useful
    any_cell = bool(cells_near(cells, np.array([env], dtype=object), epsg).any())
    made = np.full(len(cells), None, dtype=object)   # squares already made: the second pass reuses them

    def squares_on(iris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices (into cells) and squares of the cells touching these IRIS, in cell order."""
        near = np.flatnonzero(cells_near(cells, shapely.envelope(igeom[iris]), epsg))
        todo = near[shapely.is_missing(made[near])]
        made[todo] = cell_squares(cells.iloc[todo], epsg)
        sq = made[near]
        inside = shapely.intersects(sq, env)
        near, sq = near[inside], sq[inside]
        hit = np.unique(shapely.STRtree(sq).query(igeom[iris], predicate="intersects")[1])
        return near[hit], sq[hit]

    _, first = squares_on(useful)
    if len(first):
        useful = useful.copy()
        useful[np.unique(shapely.STRtree(first).query(igeom, predicate="intersects")[0])] = True
    on, sq = squares_on(useful)
    return cells.iloc[on][["idcar", "ind"]].reset_index(drop=True), sq, any_cell, useful


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
