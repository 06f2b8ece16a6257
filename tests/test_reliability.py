"""Reliability flags (stages/reliability.py): indicators resting on census counts under 200."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from indicators.stages.reliability import (CENSUS_INDICATORS, MIN_DENOMINATOR, add_reliability,
                                           reliability_columns, summary)


def units() -> pd.DataFrame:
    df = pd.DataFrame({"code": ["a", "b", "c", "d"]})
    for ind in CENSUS_INDICATORS:
        df[f"num_{ind}"] = [10.0, 50.0, 0.0, np.nan]
        df[f"den_{ind}"] = [5.0, 1000.0, 0.0, np.nan]
        df[f"ind_{ind}"] = df[f"num_{ind}"] / df[f"den_{ind}"].where(df[f"den_{ind}"] > 0)
        df[f"pts_{ind}"] = df[f"ind_{ind}"] * 100
    return df


def test_flags_small_denominators_only():
    df = add_reliability(units())
    fam = df["fiable_familles_monoparentales"]
    assert fam.iloc[0] == False and fam.iloc[1] == True  # noqa: E712  5 families / 1 000
    assert pd.isna(fam.iloc[2]) and pd.isna(fam.iloc[3])             # no value: no verdict
    assert df["fiabilite"].tolist() == [len(CENSUS_INDICATORS), 0, 0, 0]
    assert list(df.columns[-len(reliability_columns()):]) == reliability_columns()


def test_only_indicators_in_the_score_count():
    df = units()
    df.loc[0, "pts_peu_diplomes"] = np.nan          # left out of the score (e.g. a d4g indicator set)
    df = add_reliability(df)
    assert df.loc[0, "fiable_peu_diplomes"] == False  # noqa: E712  flagged all the same
    assert df.loc[0, "fiabilite"] == len(CENSUS_INDICATORS) - 1


def test_threshold_is_an_option():
    df = units()
    df["den_personnes_65_plus"] = [150.0, 250.0, 0.0, np.nan]
    df["ind_personnes_65_plus"] = [0.1, 0.1, np.nan, np.nan]
    assert MIN_DENOMINATOR == 200
    default = add_reliability(df.copy())
    lower = add_reliability(df.copy(), min_denominator=100)
    assert default.loc[0, "fiable_personnes_65_plus"] == False  # noqa: E712
    assert lower.loc[0, "fiable_personnes_65_plus"] == True  # noqa: E712
    with pytest.raises(ValueError):
        add_reliability(df.copy(), min_denominator=-1)
    s = summary(default)
    assert s["unites"] == 4 and s["unites_signalees"] == 1 and s["par_indicateur"]["personnes_65_plus"] == 1


def test_sample_tiny_communes_are_flagged(sample_run):
    """The issue's example: Bagert (38 inhabitants, about 5 families, all single-parent)."""
    out, _ = sample_run
    communes = add_reliability(pd.read_parquet(out / "communes.parquet"))
    bagert = communes[communes["nom_commune"] == "Bagert"].iloc[0]
    assert bagert["fiable_familles_monoparentales"] == False  # noqa: E712
    assert bagert["fiabilite"] >= 1
    big = communes.loc[communes["population"].idxmax()]
    assert big["fiabilite"] == 0
