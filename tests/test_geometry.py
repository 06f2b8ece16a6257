"""Dissolving polygons level by level: the coverage shortcut where it is right, the general union
where it is not, and the same ground either way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from indicators.stages.geometry import dissolve, dissolve_group
from indicators.sources.registry import resolve_inputs
from indicators.sources.staging import read_source


def _sym_area(a, b) -> float:
    return float(shapely.area(shapely.symmetric_difference(a, b)))


def test_a_clean_coverage_is_dissolved_by_the_shortcut():
    # four squares sharing their corners and edges exactly, as IGN's IRIS do
    squares = np.array([shapely.box(x, y, x + 1, y + 1) for x in (0, 1) for y in (0, 1)], dtype=object)
    merged, ok = dissolve_group(squares)
    assert ok
    assert _sym_area(merged, shapely.box(0, 0, 2, 2)) < 1e-12


def test_unshared_vertices_fall_back_to_the_general_union():
    # a T-junction: the right square's corner (1, 0.5) is not a vertex of the left one
    left = shapely.box(0, 0, 1, 1)
    right_top, right_bottom = shapely.box(1, 0.5, 2, 1), shapely.box(1, 0, 2, 0.5)
    merged, ok = dissolve_group(np.array([left, right_top, right_bottom], dtype=object))
    assert not ok
    assert shapely.is_valid(merged) and _sym_area(merged, shapely.box(0, 0, 2, 1)) < 1e-12


def test_overlapping_parts_fall_back_and_keep_the_true_area():
    a, b = shapely.box(0, 0, 2, 1), shapely.box(1, 0, 3, 1)   # overlap of area 1
    merged, ok = dissolve_group(np.array([a, b], dtype=object))
    assert not ok
    assert abs(merged.area - 3.0) < 1e-12


def test_dissolve_groups_by_parent_and_counts_the_unclean_ones():
    geoms = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1),      # "A": clean
                      shapely.box(5, 0, 7, 1), shapely.box(6, 0, 8, 1),      # "B": overlapping
                      None, shapely.box(9, 9, 10, 10)], dtype=object)
    parents = np.array(["A", "A", "B", "B", "A", None], dtype=object)
    merged, unclean = dissolve(parents, geoms)
    assert list(merged.index) == ["A", "B"] and unclean == 1
    assert merged["A"].area == 2.0 and merged["B"].area == 3.0


def test_real_iris_contours_are_a_coverage_and_both_unions_agree():
    """The real CONTOURS-IRIS of the sample (IGN): every split commune dissolves by the shortcut,
    and to the same ground as GEOS's general union."""
    contours, _, _ = read_source("contours_iris", resolve_inputs({})["contours_iris"])
    geoms = shapely.make_valid(shapely.from_wkb(contours["wkb"].to_numpy()))
    communes = contours["code_iris"].str[:5].to_numpy(dtype=object)
    merged, unclean = dissolve(communes, geoms)
    assert unclean == 0
    split = pd.Series(communes).value_counts()
    split = split[split > 1].index[:40]
    assert len(split) >= 20
    for code in split:
        general = shapely.union_all(geoms[communes == code])
        assert _sym_area(merged[code], general) <= 1e-6 * general.area, code
