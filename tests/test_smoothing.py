"""Empirical-Bayes smoothing of the census rates (--lissage bayes-empirique, stages/smoothing.py):
Marshall's estimator on a hand-computed example, then a run of the sample that says it everywhere."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from indicators.errors import FragiliteError
from indicators.pipeline import check_options, run_local
from indicators.stages.options import RunOptions
from indicators.stages.reliability import CENSUS_INDICATORS
from indicators.stages.smoothing import marshall, smooth_values


def test_marshall_on_a_hand_computed_example():
    # m = 46/154; s2 = sum(d (r - m)^2) / 154 = 0.0195438; A = s2 - m / (154/3) = 0.0137249;
    # w = A / (A + m/d): 0.155 for the unit of 4 people, 0.821 for 100, 0.697 for 50
    got = marshall(pd.Series([1.0, 40.0, 5.0]), pd.Series([4.0, 100.0, 50.0]))
    assert got.tolist() == pytest.approx([0.2911400, 0.3818943, 0.1602594], abs=1e-6)
    raw, m = np.array([0.25, 0.4, 0.1]), 46 / 154
    moved = np.abs(got.to_numpy() - raw) / np.abs(raw - m)
    assert moved[0] > moved[2] > moved[1]            # the smaller the denominator, the more it moves
    assert ((got.to_numpy() - m) * (raw - m) > 0).all()   # between its own rate and the area's


def test_spread_no_larger_than_sampling_noise_gives_the_area_rate():
    # s2 = 0.00229 < m / mean(den) = 0.0048: A = 0, every unit gets the pooled rate 31/118
    got = marshall(pd.Series([1.0, 30.0, 12.0]), pd.Series([4.0, 100.0, 60.0]))
    assert got.tolist() == pytest.approx([43 / 164] * 3)
    same = marshall(pd.Series([0.0, 0.0, np.nan]), pd.Series([10.0, 20.0, 5.0]))   # no events: kept at 0
    assert same.tolist()[:2] == [0.0, 0.0] and np.isnan(same.iloc[2])


def test_each_reference_territory_is_its_own_prior():
    counts = pd.DataFrame({"num_peu_diplomes": [1.0, 40.0, 5.0, 1.0, 40.0, 5.0, 3.0],
                           "den_peu_diplomes": [4.0, 100.0, 50.0, 4.0, 100.0, 50.0, 0.0]})
    values = pd.DataFrame({i: np.nan for i in CENSUS_INDICATORS}, index=counts.index)
    values["peu_diplomes"] = counts["num_peu_diplomes"] / counts["den_peu_diplomes"].where(counts["den_peu_diplomes"] > 0)
    areas = pd.Series(["76", "76", "76", "02", "02", "02", None])
    smoothed, summary = smooth_values(values, counts, areas)
    assert smoothed["peu_diplomes"].iloc[:3].tolist() == pytest.approx([0.2911400, 0.3818943, 0.1602594], abs=1e-6)
    assert smoothed["peu_diplomes"].iloc[3:6].tolist() == pytest.approx(smoothed["peu_diplomes"].iloc[:3].tolist())
    assert np.isnan(smoothed["peu_diplomes"].iloc[6])       # no rate: none made up
    assert summary["peu_diplomes"]["unites_modifiees"] == 6 and "chomeurs_15_64" not in summary


def test_bad_smoothing_options_are_refused():
    with pytest.raises(FragiliteError, match="unknown --lissage 'eb'"):
        check_options(RunOptions(lissage="eb"))
    with pytest.raises(FragiliteError, match="ifn-2023 ranks raw rates"):
        check_options(RunOptions(method="ifn-2023", lissage="bayes-empirique"))


def test_a_smoothed_run_says_so_in_layers_dictionary_and_report(sample_run, tmp_path):
    raw_out, _ = sample_run
    out = tmp_path / "out"
    report = run_local({}, out, RunOptions(lissage="bayes-empirique"))
    communes = pd.read_parquet(out / "communes.parquet")
    raw = pd.read_parquet(raw_out / "communes.parquet").set_index("code_commune").reindex(communes["code_commune"])
    assert (communes["lissage"] == "bayes-empirique").all() and (raw["lissage"] == "aucun").all()
    ind = "familles_monoparentales"
    rate = communes[f"num_{ind}"] / communes[f"den_{ind}"]
    assert np.allclose(raw[f"ind_{ind}"].dropna(), (raw[f"num_{ind}"] / raw[f"den_{ind}"]).dropna())
    small, large = communes[f"den_{ind}"] < 20, communes[f"den_{ind}"] > 2000
    moved = (communes[f"ind_{ind}"] - rate).abs()
    assert moved[small].mean() > 10 * moved[large].mean() and small.sum() > 100
    assert communes.loc[small, f"ind_{ind}"].max() < rate[small].max()   # the 100 % of 5 families is gone
    known = communes[f"pts_{ind}"].notna()        # points follow the smoothed value
    assert np.allclose(communes.loc[known, f"pts_{ind}"],
                       100 * communes.loc[known, f"ind_{ind}"] / communes.loc[known, f"seuil_{ind}"])
    pd.testing.assert_series_equal(communes["ind_revenu_median"].reset_index(drop=True),   # not a census rate
                                   raw["ind_revenu_median"].reset_index(drop=True), check_names=False)
    dictionary = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))
    assert "LISSÉ" in dictionary["columns"][f"ind_{ind}"]["label"] and dictionary["lissage"]["methode"] == "bayes-empirique"
    assert "LISSÉ" not in dictionary["columns"]["ind_revenu_median"]["label"]
    md = (out / "run_report.md").read_text(encoding="utf-8")
    assert "## Smoothing: `bayes-empirique`" in md and report["stats"]["lissage"]["par_couche"]["communes"][ind]["unites_modifiees"] > 0
    assert "## Smoothing" not in (raw_out / "run_report.md").read_text(encoding="utf-8")
    from indicators.outputs.carte.build import footer, read_report
    from indicators.outputs.explain import compact, explanation

    row = communes.drop(columns="geometry").iloc[0].to_dict()
    assert compact(explanation("communes", row, dictionary))["lissage"] == "bayes-empirique"   # the map's panel
    assert footer(read_report(out), dictionary, {"communes": communes})["lissage"] == "bayes-empirique"
    assert footer(read_report(raw_out), None, {"communes": raw.reset_index()})["lissage"] is None
