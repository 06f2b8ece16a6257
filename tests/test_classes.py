"""Class schemes (stages/classes.py): quintiles robust to outliers, Fisher-Jenks, the kit's equal widths."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from indicators.errors import FragiliteError
from indicators.stages.methods import SCORES
from indicators.stages.scoring import read_thresholds, score_table
from indicators.stages.classes import (FISHER_JENKS_EXACT_MAX, add_classes, classify, quintile_cuts,
                                       resolve_scheme)

from .conftest import FIXTURES


def skewed(n: int = 3000, seed: int = 1) -> pd.Series:
    """Scores like the sample's communes: a bulk around 90 and a few tiny communes near 240."""
    rng = np.random.default_rng(seed)
    values = rng.normal(90, 15, n)
    values[:8] = rng.uniform(200, 245, 8)
    return pd.Series(values)


@pytest.mark.parametrize("values", [skewed().to_numpy(), np.array([96.4, 129.0]), np.arange(12.0),
                                    np.r_[np.full(60, 100.0), np.arange(40.0)]])
def test_quintiles_are_mapclassify_quantiles(values):
    import mapclassify

    expected = mapclassify.Quantiles(values, k=5).bins[:-1]
    assert quintile_cuts(values) == pytest.approx(list(expected), rel=1e-12)


def test_quintiles_hold_outliers_equal_widths_do_not():
    values = skewed()
    quint, info = classify(values, "quantiles")
    equal, _ = classify(values, "equal-width")
    assert quint.value_counts(normalize=True).max() <= 0.21
    assert equal.value_counts(normalize=True).max() > 0.5          # the one-colour map
    assert info["bornes"][0] == values.min() and info["bornes"][-1] == values.max()
    assert len(info["bornes"]) == 6 and sum(info["effectifs"].values()) == len(values)
    # a value on a cut point goes to the lower class (mapclassify's rule), as `regle` says
    cut = info["coupures"][1]
    on_cut, _ = classify(pd.concat([values, pd.Series([cut])], ignore_index=True), "quantiles")
    assert "inférieure" in info["regle"] and on_cut.iloc[-1] <= 2


def test_equal_width_is_the_kit_rule_exactly():
    values = skewed()
    got, info = classify(values, "equal-width")
    lo, width = values.min(), (values.max() - values.min()) / 5
    kit = 1 + sum((values >= lo + k * width).astype(int) for k in range(1, 5))    # sheet 5.Quintiles
    assert (got == kit).all() and got.loc[values.idxmax()] == 5
    assert "supérieure" in info["regle"]


def test_kit_2020_classes_still_reproduce_sicoval():
    table = pd.read_csv(FIXTURES / "sicoval" / "indicators.csv", dtype=str, keep_default_na=False)
    scored = score_table(table, "kit-2020", read_thresholds(FIXTURES / "sicoval" / "thresholds.csv"))
    expected = pd.read_csv(FIXTURES / "sicoval" / "expected.csv", dtype={"code": str}).set_index("code")
    add_classes(scored, resolve_scheme("auto", "kit-2020"))
    got = scored.set_index("code").loc[expected.index]
    for score in SCORES:
        col = "classe_" + score.removeprefix("score_")
        assert (got[col].astype(int) == expected[col]).all(), col


def test_fisher_jenks_is_deterministic_and_leaves_numpy_alone():
    values = skewed(FISHER_JENKS_EXACT_MAX + 500)
    np.random.seed(7)
    state = np.random.get_state()[1].copy()
    first, info = classify(values, "fisher-jenks")
    second, _ = classify(values, "fisher-jenks")
    assert (first == second).all()
    assert (np.random.get_state()[1] == state).all()
    assert max(info["effectifs"].values()) < 0.6 * len(values)
    small, small_info = classify(skewed(300), "fisher-jenks")     # exact below the sampling size
    assert sorted(small_info["effectifs"]) == ["1", "2", "3", "4", "5"]


def test_nulls_ties_and_tiny_layers():
    values = pd.Series([np.nan, 100.0, 100.0, 100.0, np.nan])
    cls, info = classify(values, "quantiles")
    assert cls.isna().tolist() == [True, False, False, False, True] and cls.dropna().nunique() == 1
    two, _ = classify(pd.Series([96.4, 129.0]), "quantiles")
    assert two.tolist() == [1, 5]                                 # as with equal widths
    empty, info = classify(pd.Series([np.nan, np.nan]), "quantiles")
    assert empty.isna().all() and info["bornes"] == []


def test_scheme_option():
    assert resolve_scheme("auto", "ifn-2020") == "quantiles"
    assert resolve_scheme(None, "kit-2020") == "equal-width"
    assert resolve_scheme("auto", "d4g-2020") == "equal-width"
    assert resolve_scheme("fisher-jenks", "kit-2020") == "fisher-jenks"
    with pytest.raises(FragiliteError, match="unknown class scheme"):
        resolve_scheme("jenks", "ifn-2020")


def test_sample_communes_no_class_holds_half(sample_run):
    """The issue: equal widths put 83 % of the sample's communes in class 2; ifn-2020's default
    scheme must not put more than half of them in any class, and the dictionary gives the bounds."""
    out, report = sample_run
    communes = pd.read_parquet(out / "communes.parquet", columns=["score_global", "classe_global", "methode_classes"])
    shares = communes["classe_global"].value_counts(normalize=True)
    assert shares.max() <= 0.5 and sorted(shares.index) == [1, 2, 3, 4, 5]
    assert set(communes["methode_classes"]) == {"quantiles"}
    described = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))["classes"]
    assert described["schema"] == "quantiles"
    glob = described["par_couche"]["communes"]["classe_global"]
    bounds = glob["bornes"]
    assert len(bounds) == 6 and bounds[0] == communes["score_global"].min() and bounds[-1] == communes["score_global"].max()
    for k in range(1, 6):   # every unit of class k lies within its published bounds
        inside = communes.loc[communes["classe_global"] == k, "score_global"]
        assert inside.min() >= bounds[k - 1] and inside.max() <= bounds[k]
        assert glob["effectifs"][str(k)] == len(inside)
    assert report["stats"]["classes"]["par_couche"]["communes"]["classe_global"]["bornes"] == bounds
