"""The cells' pieces (stages/carreaux.py): clipping by the cell's rectangle is the overlay's result,
and the IRIS kept for the weights are all those that can change one (real sample contours)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from indicators import SAMPLE_DIR
from indicators.sources.readers.contours import read_contours_iris
from indicators.sources.readers.qpv import read_qpv_contours
from indicators.stages.carreaux import candidates, cell_squares, in_qpv, pieces
from indicators.stages.geometry import to_epsg

CONTOURS = SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z"
QPV_ZIP = SAMPLE_DIR / "qpv_contours_2015/2015/qp-politiquedelaville-shp.zip"


@pytest.fixture(scope="module")
def ground():
    """The sample's metropolitan IRIS and QPVs in EPSG:3035, and a 200 m grid over Nîmes' QPVs."""
    iris = read_contours_iris(CONTOURS)
    iris = iris[iris["epsg"] == 2154].reset_index(drop=True)
    qpv = read_qpv_contours(QPV_ZIP, "2015")
    igeom = to_epsg(np.asarray(iris["geometry"]), iris["epsg"].to_numpy(), 3035)
    qgeom = to_epsg(np.asarray(qpv["geometry"]), qpv["epsg"].to_numpy(), 3035)
    x0, y0, x1, y1 = shapely.total_bounds(qgeom[qpv["code_qpv"].str.startswith("QP030").to_numpy()])
    xs, ys = np.meshgrid(np.arange(x0 // 200 * 200, x1 + 200, 200), np.arange(y0 // 200 * 200, y1 + 200, 200))
    cells = pd.DataFrame({"idcar": [f"c{i}" for i in range(xs.size)], "ind": 10.0, "x0": xs.ravel(),
                          "y0": ys.ravel(), "size": 200, "epsg": 3035})
    return iris, igeom, qpv, qgeom, cells


def test_pieces_are_the_overlay(ground):
    """Cells of the zone's CRS are clipped by their rectangle, others cut by the overlay: both
    give the intersection's area, and a cell inside its IRIS is its own piece."""
    iris, igeom, _, _, cells = ground
    squares = cell_squares(cells, 3035)
    at, cell = shapely.STRtree(squares).query(igeom, predicate="intersects")
    clipped = pieces(cells, squares, igeom, at, cell, 3035)
    overlaid = pieces(cells.assign(epsg=2154), squares, igeom, at, cell, 3035)   # not squares of 3035: overlay
    exact = shapely.area(shapely.intersection(squares[cell], igeom[at]))
    whole = shapely.contains(igeom[at], squares[cell])
    assert 0.2 < whole.mean() < 0.95          # both paths are exercised
    np.testing.assert_allclose(clipped["a"], exact, rtol=0, atol=1e-6)
    np.testing.assert_allclose(overlaid["a"], exact, rtol=0, atol=1e-6)
    assert (clipped["a"][whole] == 40_000.0).all() and shapely.is_valid(clipped["geometry"]).all()
    # the IRIS tile the ground: each cell's pieces add up to the cell
    inside = pd.Series(clipped["a"].to_numpy()).groupby(cell).sum()
    assert (inside <= 40_000 + 1e-6).all() and (inside > 40_000 - 1e-6).mean() > 0.9


def test_in_qpv_parts(ground):
    iris, igeom, qpv, qgeom, cells = ground
    squares = cell_squares(cells, 3035)
    piece, q, area = in_qpv(squares, qgeom)
    assert len(piece) and (area >= 0).all() and (area <= 40_000 + 1e-6).all()
    expected = shapely.area(shapely.intersection(squares[:, None], qgeom[None, :]))
    got = np.zeros_like(expected)
    got[piece, q] = area
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_candidates_keep_every_iris_that_can_matter(ground):
    """The IRIS found on envelopes before reprojection include those meeting a QPV and every IRIS
    meeting a cell that meets those (what the weights read), and leave most of the sample out."""
    iris, igeom, _, qgeom, _ = ground
    kept = candidates(np.asarray(iris["geometry"]), iris["epsg"].to_numpy(), qgeom, 3035)
    first = np.unique(shapely.STRtree(qgeom).query(igeom, predicate="intersects")[0])
    # every cell of France's grid that touches a first-ring IRIS, then every IRIS touching one
    x0, y0, x1, y1 = shapely.bounds(igeom[first]).T
    reach = shapely.box(x0 // 200 * 200 - 200, y0 // 200 * 200 - 200, x1 // 200 * 200 + 400, y1 // 200 * 200 + 400)
    second = np.unique(shapely.STRtree(reach).query(igeom, predicate="intersects")[0])
    assert set(first) <= set(kept) and set(second) <= set(kept)
    assert len(kept) < 0.5 * len(iris)


def test_candidates_skip_empty_polygons(ground):
    """A unit whose repaired polygon is empty has no envelope: it is no candidate, and the others'
    indices still point at the right IRIS."""
    iris, igeom, _, qgeom, _ = ground
    geoms = np.asarray(iris["geometry"]).copy()
    whole = candidates(geoms, iris["epsg"].to_numpy(), qgeom, 3035)
    geoms[whole[0]] = shapely.Polygon()
    kept = candidates(geoms, iris["epsg"].to_numpy(), qgeom, 3035)
    assert whole[0] not in kept and set(kept) == set(whole) - {whole[0]}
