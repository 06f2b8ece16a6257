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
    assert set(reliability_columns()) <= set(df.columns) and reliability_columns()[0] == "fiabilite"


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
    communes = pd.read_parquet(out / "communes.parquet")
    bagert = communes[communes["nom_commune"] == "Bagert"].iloc[0]
    assert bagert["fiable_familles_monoparentales"] == False  # noqa: E712
    assert bagert["fiabilite"] >= 1
    big = communes.loc[communes["population"].idxmax()]
    assert big["fiabilite"] == 0


def test_every_layer_has_the_columns_and_the_report_counts_flagged_units(sample_run):
    import geopandas as gpd

    out, report = sample_run
    counted = report["stats"]["fiabilite"]["par_couche"]
    for level in ("iris", "communes", "epci", "departements", "regions", "qpv"):
        for path in (out / f"{level}.parquet", out / f"{level}.gpkg"):
            layer = gpd.read_file(path) if path.suffix == ".gpkg" else gpd.read_parquet(path)
            assert set(reliability_columns()) <= set(layer.columns), (path, level)
        flagged = int((layer["fiabilite"] > 0).sum())
        assert counted[level]["unites_signalees"] == flagged and counted[level]["unites"] == len(layer)
    assert counted["communes"]["unites_signalees"] > 0 and counted["regions"]["unites_signalees"] == 0
    markdown = (out / "run_report.md").read_text(encoding="utf-8")
    line = next(x for x in markdown.splitlines() if x.startswith("| communes |") and "%" in x)
    assert f"| {counted['communes']['unites_signalees']} (" in line
    described = __import__("json").loads((out / "dictionary.json").read_text(encoding="utf-8"))
    assert described["fiabilite"]["effectif_minimal"] == MIN_DENOMINATOR
    assert "maniés avec précaution" in described["fiabilite"]["source"]
    assert "fiable_familles_monoparentales" in described["columns"]


def test_explain_shows_each_flag(sample_run):
    from typer.testing import CliRunner

    from indicators.cli import app

    out, _ = sample_run
    communes = pd.read_parquet(out / "communes.parquet", columns=["code_commune", "nom_commune", "fiabilite"])
    code = communes.loc[communes["nom_commune"] == "Bagert", "code_commune"].iloc[0]
    result = CliRunner().invoke(app, ["explain", code, "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "familles_monoparentales" in line)
    assert "YES" in row                                    # the "small count" column
    assert "fiabilite = " in result.output and "quantiles" in result.output
