"""GEOS and PROJ work split over two cores gives what one call gives (stages/parallel.py)."""

import numpy as np
import pytest
import shapely

from indicators.stages import parallel
from indicators.stages.geometry import transform_xy


@pytest.fixture
def squares():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 1_000, (2, parallel.MIN_SPLIT + 501))
    return shapely.box(x, y, x + 3, y + 3)


def test_elementwise_and_query_equal_one_call(squares):
    discs = shapely.buffer(shapely.points(np.linspace(0, 1_000, 4_000), np.linspace(0, 1_000, 4_000)), 4)
    assert np.array_equal(parallel.elementwise(shapely.area, squares, threads=2), shapely.area(squares))
    cut = parallel.elementwise(shapely.intersection, squares, discs[np.arange(len(squares)) % len(discs)], threads=2)
    assert shapely.equals_exact(cut, shapely.intersection(squares, discs[np.arange(len(squares)) % len(discs)]), 0).all()
    tree = shapely.STRtree(squares)
    split, whole = parallel.query(tree, discs, "intersects", threads=2), tree.query(discs, predicate="intersects")
    assert split.shape[1] > 1_000 and np.array_equal(split, whole)


def test_parts_keep_a_key_in_one_part():
    keys = np.repeat(np.arange(7), [1, 5, 3, 9, 2, 2, 8])
    for threads in (2, 3, 4):
        parts = parallel._parts(len(keys), threads, keys)
        assert parts[0].start == 0 and parts[-1].stop == len(keys)
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        for a, b in zip(parts, parts[1:]):
            if a.stop > a.start and b.stop > b.start:
                assert keys[a.stop - 1] != keys[b.start]


def test_reprojection_in_halves_equals_one_transform():
    from pyproj import Transformer

    rng = np.random.default_rng(3)
    x, y = rng.uniform(100_000, 1_200_000, parallel.MIN_SPLIT * 2), rng.uniform(6_100_000, 7_100_000, parallel.MIN_SPLIT * 2)
    tx, ty = transform_xy(x, y, 2154, 3035)
    ex, ey = Transformer.from_crs(2154, 3035, always_xy=True).transform(x, y)
    assert np.array_equal(tx, ex) and np.array_equal(ty, ey)
