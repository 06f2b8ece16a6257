"""The Filosofi 200 m cells on the ground of the IRIS x QPV weights, and their pieces (cell x IRIS).

Only the cells that can change a weight are made into polygons (a national grid holds 2.3 million
of them), and each is cut by the IRIS it touches. In the cells' own CRS (EPSG:3035 for
metropolitan France, which allocation.py computes in) a cell is an axis-aligned square, and
cutting a polygon by a rectangle (GEOS's clip_by_rect, one pass over the IRIS's ring) costs a
third of a general overlay; a cell of another CRS is reprojected and cut by an overlay.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import shapely

from indicators.stages import parallel
from indicators.stages.geometry import to_epsg, transform_xy

# metres around an envelope reprojected by its corners: its edges bend in another CRS, and a cell
# (283 m across at most) on an IRIS near a QPV reaches that far
MARGIN = 1_000.0


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
        if int(cell_epsg) == epsg:
            out[idx] = shapely.box(x0[idx], y0[idx], x0[idx] + size[idx], y0[idx] + size[idx])
            continue
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


def zone_cells(cells: pd.DataFrame | None, igeom: np.ndarray, useful: np.ndarray, env, epsg: int
               ) -> tuple[pd.DataFrame, bool, np.ndarray]:
    """The pieces (pieces()) of the cells that can change a weight in this zone, whether the zone
    has any cell at all, and the IRIS kept (`useful` grown). Kept, as the SQL needs them: the IRIS
    holding a QPV (`useful`), the cells on them, every IRIS those cells touch (a cell's people are
    shared among all its pieces), and the cells on these (each kept IRIS's own density is measured
    on all its cells). Squares are only made for cells near these IRIS (cells_near)."""
    if cells is None or not len(cells):
        return pieces(cells, np.empty(0, dtype=object), igeom, np.empty(0, int), np.empty(0, int), epsg), False, useful
    any_cell = bool(cells_near(cells, np.array([env], dtype=object), epsg).any())
    made = np.full(len(cells), None, dtype=object)   # squares already made: the second pass reuses them

    def squares_on(iris: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Cells touching these IRIS (indices into cells, their squares) and the touching pairs
        (indices into `iris`, into the cells returned)."""
        near = np.flatnonzero(cells_near(cells, shapely.envelope(igeom[iris]), epsg))
        todo = near[shapely.is_missing(made[near])]
        made[todo] = cell_squares(cells.iloc[todo], epsg)
        sq = made[near]
        inside = parallel.elementwise(partial(shapely.intersects, env), sq)
        near, sq = near[inside], sq[inside]
        at, cell = parallel.query(shapely.STRtree(sq), igeom[iris], "intersects")
        hit, cell = np.unique(cell, return_inverse=True)
        return near[hit], sq[hit], at, cell

    _, first, _, _ = squares_on(useful)
    if len(first):
        useful = useful.copy()
        useful[np.unique(parallel.query(shapely.STRtree(first), igeom, "intersects")[0])] = True
    on, sq, at, cell = squares_on(useful)
    return pieces(cells.iloc[on], sq, igeom[useful], at, cell, epsg), any_cell, useful


def pieces(cells: pd.DataFrame | None, squares: np.ndarray, igeom: np.ndarray, at: np.ndarray,
           cell: np.ndarray, epsg: int) -> pd.DataFrame:
    """Each touching (cell, IRIS) pair's piece: the cell itself when the IRIS contains it (most
    of them), else their intersection. Columns: idcar, ind, cell_area, i (index into igeom),
    a (the piece's area), geometry."""
    if cells is None or not len(at):
        return pd.DataFrame({"idcar": pd.Series(dtype=str), "ind": pd.Series(dtype=float),
                             "cell_area": pd.Series(dtype=float), "i": pd.Series(dtype=int),
                             "a": pd.Series(dtype=float), "geometry": pd.Series(dtype=object)})
    shapely.prepare(igeom)
    geom = squares[cell]
    cut = np.flatnonzero(~parallel.elementwise(shapely.contains, igeom[at], geom, keys=at))   # `at` ascends (query)
    square = cells["epsg"].to_numpy()[cell[cut]] == epsg      # exact squares: clipped by their rectangle
    x0, y0 = cells["x0"].to_numpy(float)[cell[cut]], cells["y0"].to_numpy(float)[cell[cut]]
    size = cells["size"].to_numpy(float)[cell[cut]]
    # shapely's clip_by_rect takes one rectangle; its ufunc takes one per geometry
    x0, y0, size = x0[square], y0[square], size[square]
    geom[cut[square]] = parallel.elementwise(shapely.lib.clip_by_rect, igeom[at[cut[square]]], x0, y0, x0 + size, y0 + size)
    other = cut[~square]
    geom[other] = parallel.elementwise(shapely.intersection, geom[other], igeom[at[other]])
    # clip_by_rect does not promise a valid result (none seen on national data): repaired, since
    # the QPV overlay that follows would fail on it
    bad = cut[~parallel.elementwise(shapely.is_valid, geom[cut])]
    geom[bad] = shapely.make_valid(geom[bad])
    area = shapely.area(squares)
    return pd.DataFrame({"idcar": cells["idcar"].to_numpy()[cell], "ind": cells["ind"].to_numpy()[cell],
                         "cell_area": area[cell], "i": at, "a": shapely.area(geom), "geometry": geom})


def in_qpv(geom: np.ndarray, qpv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parts of the pieces (`geom`) inside each QPV they touch: (piece, qpv, area) arrays."""
    piece, q = parallel.query(shapely.STRtree(qpv), geom, "intersects")
    return piece, q, shapely.area(parallel.elementwise(shapely.intersection, geom[piece], qpv[q]))


def candidates(geoms: np.ndarray, epsgs: np.ndarray, qpv: np.ndarray, epsg: int) -> np.ndarray:
    """The IRIS (indices) that may enter the weights, found on their envelopes before any IRIS is
    reprojected: those near a QPV, and those near these (a cell on the first may touch them; a
    cell is 283 m across at most). A superset: a kilometre of margin covers the cells and the
    bending of an envelope's edges in another CRS (they are cut every 5 km)."""
    boxes = to_epsg(shapely.segmentize(shapely.envelope(geoms), 5_000.0), epsgs, epsg)
    grown = shapely.box(*(shapely.bounds(boxes) + [-MARGIN, -MARGIN, MARGIN, MARGIN]).T)
    tree = shapely.STRtree(grown)
    first = np.unique(tree.query(qpv, predicate="intersects")[1])
    return np.unique(tree.query(grown[first], predicate="intersects")[1])

