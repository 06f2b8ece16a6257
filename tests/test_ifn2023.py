"""ifn-2023, the 2023-like reconstruction of the portal's index (METHODS 1.4): deciles, the tie
rule, cut points written and read back, scores aggregated by population."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from typer.testing import CliRunner

from indicators import SAMPLE_DIR
from indicators.cli import app
from indicators.errors import FragiliteError, InputError
from indicators.outputs.explain import compact, explanation, find_unit, read_dictionary
from indicators.outputs.styles import DOT_LAYERS, DOT_SCALE
from indicators.pipeline import check_options, run_local
from indicators.stages.deciles import (BOUND_COLUMNS, cut_point_table, cut_points, decile_scores,
                                       read_cut_points, scores_from_cut_points, total, weighted_mean)
from indicators.stages.compute import RunOptions
from indicators.stages.ifn2023 import score_levels

from .test_carte import browser  # noqa: F401  (the Chromium fixture)

runner = CliRunner()
SCORED = ["non_couverture_thd", "65_plus", "peu_diplomes", "pauvrete"]   # the sample has no 4G figures


def test_deciles_of_ten_values_are_one_to_ten():
    # 10 x 3 / 10 is 3.0000000000000004 in floats: a float ceil would give 4
    assert decile_scores(pd.Series(np.arange(10.0))).tolist() == list(range(1, 11))
    assert decile_scores(pd.Series(np.arange(20.0))).tolist() == [s for s in range(1, 11) for _ in range(2)]


def test_ties_share_the_highest_score_and_missing_stays_missing():
    values = pd.Series([0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, np.nan])
    # half the units at 0: F(0) = 0.5, so all of them score 5, as the portal's 4G scores (5-10)
    assert decile_scores(values).tolist() == [5] * 5 + [6, 7, 8, 9, 10, pd.NA]
    # fewer units than scores: F = 1/3, 2/3, 1
    assert decile_scores(pd.Series([3.0, 1.0, 2.0])).tolist() == [10, 4, 7]
    assert decile_scores(pd.Series([np.nan, np.nan])).isna().all()


@pytest.mark.parametrize("seed", range(6))
def test_scoring_against_own_cut_points_gives_the_deciles(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    values = pd.Series(rng.integers(0, int(rng.integers(2, 60)), n) / 7.0)   # many ties
    values[rng.random(n) < 0.1] = np.nan
    bounds = cut_points(values)
    assert scores_from_cut_points(values, bounds).equals(decile_scores(values))
    filled = bounds[~np.isnan(bounds)]
    assert np.all(np.diff(filled) >= 0)
    assert not np.isnan(bounds[np.argmax(~np.isnan(bounds)):]).any()    # empty bounds come first


def test_hand_made_cut_point_file_is_followed_exactly(tmp_path):
    path = tmp_path / "seuils.csv"
    # `;` and decimal commas, as a spreadsheet writes it; 65_plus: nobody scores below 3
    path.write_text("indicateur;borne_1;borne_2;borne_3;borne_4;borne_5;borne_6;borne_7;borne_8;borne_9\n"
                    "65_plus;;;0,1;0,15;0,2;0,25;0,3;0,35;0,4\n"
                    "pauvrete;0,05;0,1;0,1;0,12;0,14;0,16;0,18;0,2;0,3\n", encoding="utf-8")
    table = read_cut_points(path)
    assert table.loc["65_plus", "territoire"] == "fichier seuils.csv"
    age = pd.Series([0.0, 0.1, 0.1000001, 0.15, 0.2, 0.26, 0.35, 0.4, 0.41, 5.0])
    got = scores_from_cut_points(age, table.loc["65_plus", BOUND_COLUMNS].to_numpy(dtype="float64"))
    assert got.tolist() == [3, 3, 4, 4, 5, 7, 8, 9, 10, 10]
    poor = pd.Series([0.05, 0.06, 0.1, 0.11, 0.3, 0.31])
    # no value scores 3: a value on a repeated bound takes the lower score
    got = scores_from_cut_points(poor, table.loc["pauvrete", BOUND_COLUMNS].to_numpy(dtype="float64"))
    assert got.tolist() == [1, 2, 2, 4, 9, 10]


def test_cut_points_written_then_read_give_the_same_scores(tmp_path):
    rng = np.random.default_rng(7)
    values = pd.DataFrame({"65_plus": rng.random(500) / 3, "pauvrete": np.round(rng.random(500), 3),
                           "non_couverture_4g": np.where(rng.random(500) < 0.45, 0.0, rng.random(500))})
    table = cut_point_table(values, "départements 30, 34")
    path = tmp_path / "seuils_deciles.csv"
    table.to_csv(path, index=False)              # as a run writes it
    back = read_cut_points(path)
    assert back["territoire"].eq("départements 30, 34").all() and back["n_unites"].eq(500).all()
    for name in values:
        assert np.array_equal(back.loc[name, BOUND_COLUMNS].to_numpy(dtype="float64"),
                              table.set_index("indicateur").loc[name, BOUND_COLUMNS].to_numpy(dtype="float64"),
                              equal_nan=True), name
        again = scores_from_cut_points(values[name], back.loc[name, BOUND_COLUMNS].to_numpy(dtype="float64"))
        assert again.equals(decile_scores(values[name])), name
    assert np.isnan(back.loc["non_couverture_4g", "borne_1"])     # 45 % tied at 0 score 5


@pytest.mark.parametrize("text, column, rows", [
    ("indicateur,borne_1\n65_plus,0.1\n", "borne_2", []),
    ("indicateur," + ",".join(BOUND_COLUMNS) + "\nrevenu,1,2,3,4,5,6,7,8,9\n", "indicateur", [2]),
    ("indicateur," + ",".join(BOUND_COLUMNS) + "\n65_plus,1,2,3,4,5,6,7,8,9\n65_plus,1,2,3,4,5,6,7,8,9\n",
     "indicateur", [2, 3]),
    ("indicateur," + ",".join(BOUND_COLUMNS) + "\n65_plus,1,2,3,4,5,6,7,8,9\npauvrete,1,2,3,5,4,6,7,8,9\n",
     "borne_1", [3]),
    ("indicateur," + ",".join(BOUND_COLUMNS) + "\n65_plus,1,,3,4,5,6,7,8,9\n", "borne_1", [2]),
    ("indicateur," + ",".join(BOUND_COLUMNS) + "\n65_plus,1,2,x,4,5,6,7,8,9\n", "borne_3", [2]),
])
def test_bad_cut_point_files_are_named(tmp_path, text, column, rows):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_cut_points(path)
    assert err.value.column == column and err.value.rows == rows and "bad.csv" in str(err.value)


def test_weighted_mean_leaves_out_missing_scores_and_zero_weights():
    scores = pd.DataFrame({"a": [1, 3, np.nan, 10, 4], "b": [2, 2, 2, np.nan, np.nan]})
    out = weighted_mean(scores, pd.Series([1.0, 3.0, 5.0, 2.0, 0.0]), pd.Series(["x", "x", "x", "y", "z"]))
    assert out.loc["x", "a"] == pytest.approx((1 + 9) / 4) and out.loc["x", "b"] == pytest.approx(2.0)
    assert out.loc["y", "a"] == 10 and np.isnan(out.loc["y", "b"])
    assert np.isnan(out.loc["z", "a"])          # its only unit weighs nothing
    mean, n = total(pd.DataFrame({"a": [1, np.nan], "b": [4, np.nan]}))
    assert mean[0] == 2.5 and n.tolist() == [2, 0] and np.isnan(mean[1])


def test_commune_figures_reach_iris_and_pool_above():
    """THD: an IRIS takes its commune's rate, a territory pools the premises; 4G: the commune's value,
    population-weighted above; scores of a territory: population-weighted means of its units'."""
    parents = {"code_epci": "E", "code_departement": "30", "code_region": "76"}
    iris = pd.DataFrame({"code": ["A01", "A02", "B00", "C00"], "code_commune": ["A", "A", "B", "C"],
                         "population": [100.0, 300.0, 50.0, 50.0], **parents})
    communes = pd.DataFrame({"code": ["A", "B", "C"], "population": [400.0, 50.0, 50.0], **parents})
    top = {level: pd.DataFrame({"code": [code], "population": [500.0]})
           for level, code in [("epci", "E"), ("departements", "30"), ("regions", "76")]}
    inputs = pd.DataFrame({"num_non_couverture_thd": [10.0, 30.0, 5.0, np.nan],
                           "den_non_couverture_thd": [25.0, 75.0, 50.0, np.nan],
                           "val_non_couverture_thd": [0.4, 0.4, 0.1, np.nan],
                           "val_non_couverture_4g": [np.nan, np.nan, 0.2, 0.6]}, index=["A01", "A02", "B00", "C00"])
    got = score_levels({"iris": iris, "communes": communes, **top}, inputs, None, None, "test").levels
    assert got["iris"]["val_non_couverture_thd"].tolist()[:3] == [0.4, 0.4, 0.1]
    assert got["iris"]["score_non_couverture_thd"].tolist()[:3] == [10, 10, 4] and \
        pd.isna(got["iris"]["score_non_couverture_thd"].iloc[3])
    assert got["communes"].loc["A", "val_non_couverture_thd"] == pytest.approx(0.4)
    assert got["epci"].loc["E", "val_non_couverture_thd"] == pytest.approx(45 / 150)
    assert got["epci"].loc["E", "val_non_couverture_4g"] == pytest.approx(0.4)
    assert got["iris"]["score_non_couverture_4g"].tolist()[2:] == [5, 10]
    assert got["epci"].loc["E", "score_non_couverture_thd"] == pytest.approx((400 * 10 + 50 * 4) / 450)
    assert got["epci"].loc["E", "n_indicateurs"] == 2 and got["communes"].loc["C", "n_indicateurs"] == 1


def run_2023(out: Path, seuils: Path | None = None) -> dict:
    return run_local({}, out, RunOptions(method="ifn-2023", seuils_deciles=seuils))


@pytest.fixture(scope="module")
def sample_2023(tmp_path_factory) -> tuple[Path, dict]:
    """ifn-2023 on the embedded sample, its own deciles (no Prefect: run_local chains the stages)."""
    out = tmp_path_factory.mktemp("ifn2023")
    return out, run_2023(out)


def layer(out: Path, level: str) -> pd.DataFrame:
    return pd.read_parquet(out / f"{level}.parquet").drop(columns=["geometry", "bbox"], errors="ignore")


def test_sample_units_have_integer_scores_spread_over_ten_deciles(sample_2023):
    out, _ = sample_2023
    iris = layer(out, "iris")
    assert (iris["methode"] == "ifn-2023").all()
    for name in SCORED:
        values, scores = iris[f"val_{name}"], iris[f"score_{name}"]
        assert str(scores.dtype) == "Int64" and scores.notna().equals(values.notna()), name
        known = scores.dropna().astype(int)
        assert known.between(1, 10).all() and len(known) > 500, name
        n = len(known)
        ordered = np.sort(values.dropna().to_numpy())
        if pd.Series(ordered).value_counts().max() < 0.01 * n:   # no big tie: all ten scores
            assert known.value_counts().index.size == 10, name
        for s in range(1, 11):
            at_most = int((known <= s).sum())
            # ties excepted: the units scored at most s are as many as fit in s tenths, and the tie
            # group that comes next (all of it scored above s) would not have fitted
            assert 10 * at_most <= s * n, (name, s)
            if at_most < n:
                assert 10 * int((ordered <= ordered[at_most]).sum()) > s * n, (name, s)
            if pd.Series(ordered).value_counts().max() < 0.01 * n:   # no big tie: within one point
                assert abs((known == s).mean() - 0.1) <= 0.01, (name, s)
        tied = values.round(12).duplicated(keep=False) & values.notna()
        assert tied.any() or name != "pauvrete"     # rates published to 0.1 %: ties, sharing a score
        assert (iris[tied].groupby(values[tied].round(12))[f"score_{name}"].nunique() == 1).all(), name


def test_thd_non_coverage_is_arceps_share_below_30_mbits(sample_2023):
    out, _ = sample_2023
    arcep = pd.read_csv(SAMPLE_DIR / "arcep_fixe/2019/commune-debit-beta.csv", sep=";", skiprows=1,
                        dtype={"code_insee": str}).set_index("code_insee")
    below = 1 - (arcep["elig_thd30"] + arcep["elig_thd100"] + arcep["elig_thd1g"]) / arcep["nbr"]
    communes = layer(out, "communes").set_index("code_commune")
    both = communes.index.intersection(below.index)
    assert len(both) > 3000
    assert np.abs(communes.loc[both, "val_non_couverture_thd"] - below[both]).max() < 1e-9
    iris = layer(out, "iris")
    known = iris["code_commune"].isin(both)
    assert np.abs(iris.loc[known, "val_non_couverture_thd"] - iris.loc[known, "code_commune"].map(below)).max() < 1e-9


def weighted(rows: pd.DataFrame, col: str) -> float | None:
    known = rows[col].notna()
    if not known.any():
        return None
    w = rows.loc[known, "population"]
    return float((w * rows.loc[known, col].astype(float)).sum() / w.sum())


def test_sample_territories_are_weighted_means_of_their_units(sample_2023):
    out, _ = sample_2023
    iris, communes, epci = layer(out, "iris"), layer(out, "communes").set_index("code_commune"), \
        layer(out, "epci").set_index("code_epci")
    cols = [f"score_{n}" for n in SCORED]
    sizes = iris.groupby("code_commune").size()
    assert (sizes > 1).sum() > 20
    for code, rows in iris.groupby("code_commune"):
        for col in cols:
            expected = weighted(rows, col)
            got = communes.loc[code, col]
            assert (expected is None and pd.isna(got)) or abs(got - expected) < 1e-9, (code, col)
            if sizes[code] == 1 and expected is not None:
                assert got == rows[col].iloc[0]          # a commune not split is its one unit
    for code, rows in communes.groupby("code_epci"):
        for col in cols + ["score_total"]:
            expected = weighted(rows, col) if col != "score_total" else None
            if expected is not None:
                assert abs(epci.loc[code, col] - expected) < 1e-9, (code, col)
    assert np.allclose(epci["score_total"], epci[cols].mean(axis=1), equal_nan=True)
    assert (epci["n_indicateurs"] == epci[cols].notna().sum(axis=1)).all()
    qpv = layer(out, "qpv")
    assert len(qpv) == 64 and qpv["score_65_plus"].between(1, 10).all()


def test_sample_cut_points_written_and_described(sample_2023):
    out, report = sample_2023
    written = read_cut_points(out / "seuils_deciles.csv")
    iris = layer(out, "iris")
    # read back, the cut points give every unit its score again (the round trip of a later run)
    for name in SCORED:
        again = scores_from_cut_points(iris[f"val_{name}"], written.loc[name, BOUND_COLUMNS].to_numpy(dtype="float64"))
        assert again.equals(iris[f"score_{name}"]), name
    assert sorted(written.index) == sorted(SCORED)     # no 4G input here: not ranked
    assert written["territoire"].str.startswith("départements 09, 11").all()
    md = (out / "run_report.md").read_text(encoding="utf-8")
    assert "**Not all of France:**" in md and "seuils_deciles.csv" in md
    assert report["stats"]["deciles"]["france_entiere"] is False
    doc = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))
    assert "2023-like" in doc["method_label"] and doc["method"] == "ifn-2023"
    for level in ("iris", "communes", "epci", "departements", "regions", "qpv"):
        cols = list(layer(out, level).columns)
        assert cols == [c for c in doc["layers"][level] if c != "geometry"], level
        assert all(c in doc["columns"] for c in cols), level
    assert not any(c.startswith(("pts_", "seuil_")) for c in doc["layers"]["iris"])
    assert [c for c in doc["layers"]["iris"] if c.startswith("classe_")] == ["classe_total"]   # deciles: not classed


def test_regional_run_scored_against_given_cut_points(sample_2023, tmp_path):
    """A hand-made cut-point file: every unit's score follows it exactly, and it is what the run
    writes out; an indicator the file lacks is left out of the scores. With 4G figures the user
    gives for some communes (indicateurs_communes), their IRIS are scored on 4G too."""
    out, _ = sample_2023
    given = read_cut_points(out / "seuils_deciles.csv").loc[["65_plus", "peu_diplomes"], BOUND_COLUMNS]
    given.loc["65_plus"] = [np.nan, np.nan, 0.1, 0.15, 0.2, 0.2, 0.25, 0.3, 0.4]
    given.loc["peu_diplomes"] = given.loc["peu_diplomes"] + 0.05
    given.loc["non_couverture_4g"] = [np.nan] * 4 + [0.0, 0.05, 0.1, 0.15, 0.2]
    path = tmp_path / "nationales.csv"
    given.reset_index().assign(territoire="France (test)").to_csv(path, sep=";", index=False, decimal=",")
    communes = layer(out, "communes")["code_commune"]
    gard = communes[communes.str.startswith("30")].sort_values().to_numpy()
    coverage = pd.DataFrame({"code_commune": gard,
                             "couverture_4g": [[1.0, 0.97, 0.88, 0.5][i % 4] for i in range(len(gard))]})
    figures = tmp_path / "4g.csv"
    coverage.to_csv(figures, sep=";", index=False)
    second = tmp_path / "out"
    report = run_local({"indicateurs_communes": [figures]}, second,
                       RunOptions(method="ifn-2023", seuils_deciles=path))
    iris = layer(second, "iris")
    for name in ("65_plus", "peu_diplomes", "non_couverture_4g"):
        bounds = given.loc[name].to_numpy(dtype="float64")
        v = iris[f"val_{name}"].dropna()
        expected = 1 + (np.isnan(bounds)[None, :] | (v.to_numpy()[:, None] > bounds[None, :])).sum(axis=1)
        assert (iris.loc[v.index, f"score_{name}"].astype(int).to_numpy() == expected).all(), name
    assert iris["score_65_plus"].min() == 3 and (iris["score_65_plus"] != 6).all()
    in_gard = iris["code_commune"].isin(gard)
    want_4g = 1 - iris.loc[in_gard, "code_commune"].map(coverage.set_index("code_commune")["couverture_4g"])
    assert np.allclose(iris.loc[in_gard, "val_non_couverture_4g"], want_4g)
    assert iris.loc[~in_gard, "val_non_couverture_4g"].isna().all()
    assert sorted(iris.loc[in_gard, "score_non_couverture_4g"].unique()) == [5, 6, 8, 10]
    assert iris["score_pauvrete"].isna().all() and iris["score_non_couverture_thd"].isna().all()
    assert (iris["n_indicateurs"] == 2 + in_gard).all()
    back = read_cut_points(second / "seuils_deciles.csv")
    assert np.array_equal(back[BOUND_COLUMNS].to_numpy(dtype="float64"),
                          given.loc[back.index].to_numpy(dtype="float64"), equal_nan=True)
    assert (back["territoire"] == "France (test)").all()
    assert report["stats"]["deciles"]["fichier"] == str(path)
    assert any("no cut points for non_couverture_thd, pauvrete" in n for n in report["notes"])
    assert "Scored against the cut points of" in (second / "run_report.md").read_text(encoding="utf-8")


def test_explain_shows_the_scores_and_cut_points(sample_2023):
    out, _ = sample_2023
    unit = runner.invoke(app, ["explain", "301890101", "--out", str(out)], env={"COLUMNS": "160"})
    assert unit.exit_code == 0, unit.output
    iris = layer(out, "iris").set_index("code_iris").loc["301890101"]
    assert "ifn-2023" in unit.output and "cut points around the value" in unit.output
    for name in SCORED:
        line = next(l for l in unit.output.splitlines() if f" {name} " in l)
        assert f" {int(iris[f'score_{name}'])} " in line, line
    # the explanation the web map shares: the unit's value lies between the cut points it names
    expl = explanation(*find_unit(out, "301890101"), read_dictionary(out))
    for d in expl["deciles"]:
        if d["score"] is not None:
            assert (d["borne_basse"] is None or d["borne_basse"] < d["value"]) and \
                (d["borne_haute"] is None or d["value"] <= d["borne_haute"]), d
    assert [d["score"] for i, d in enumerate(expl["deciles"]) if i != 1] == [float(iris[f"score_{n}"]) for n in SCORED]
    assert compact(expl)["deciles"][2] == [iris["val_65_plus"], iris["score_65_plus"], not iris["fiable_65_plus"]]
    assert expl["scores"][0]["class"] == iris["classe_total"] and expl["class_scheme"] == "quantiles"
    assert expl["fiabilite"] == iris["fiabilite"] and expl["deciles"][2]["denominator"] == iris["den_65_plus"]
    assert f"class {iris['classe_total']} of 5 (quantiles)" in unit.output and "fiabilite =" in unit.output
    commune = runner.invoke(app, ["explain", "30189", "--out", str(out)], env={"COLUMNS": "160"})
    assert commune.exit_code == 0 and "population-weighted mean" in commune.output
    com = layer(out, "communes").set_index("code_commune").loc["30189"]
    assert f"{com['score_65_plus']:.2f}" in commune.output


def test_cut_points_belong_to_ifn_2023(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("indicateur," + ",".join(BOUND_COLUMNS) + "\n65_plus,1,2,3,4,5,6,7,8,9\n", encoding="utf-8")
    with pytest.raises(FragiliteError, match="--seuils-deciles is for --method ifn-2023"):
        check_options(RunOptions(method="ifn-2020", seuils_deciles=path))
    with pytest.raises(FragiliteError, match="no such file"):
        check_options(RunOptions(method="ifn-2023", seuils_deciles=tmp_path / "absent.csv"))
    with pytest.raises(FragiliteError, match="10 Mbit/s"):   # not a bound of ARCEP's speed classes
        check_options(RunOptions(method="ifn-2023", debit_thd=10))
    table = tmp_path / "t.csv"
    table.write_text("code,personnes_65_plus\nA,0.2\n", encoding="utf-8")
    result = runner.invoke(app, ["score", str(table), "--method", "ifn-2023", "-o", str(tmp_path / "o.csv")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "fragilite run --method ifn-2023" in result.output


# ---------------------------------------------------------------- published like the 2020 methods

LEVELS_2023 = ["iris", "communes", "epci", "departements", "regions", "qpv"]


def test_score_total_is_classed_in_quintiles_with_its_bounds(sample_2023):
    """classe_total: quintiles of each layer's score_total (fixed 1-10 bins would leave the ends
    nearly empty: a mean of deciles gathers around 5.5), bounds in the dictionary."""
    out, report = sample_2023
    dictionary = read_dictionary(out)
    assert dictionary["classes"]["schema"] == "quantiles" and "classe_total" in dictionary["columns"]
    assert "quintiles" in dictionary["columns"]["classe_total"]["label"]
    for level in LEVELS_2023:
        df = layer(out, level)
        classes, total_ = df["classe_total"], df["score_total"].astype("float64")
        assert str(classes.dtype) == "Int64" and classes.notna().equals(total_.notna()), level
        assert (df["methode_classes"] == "quantiles").all(), level
        info = dictionary["classes"]["par_couche"][level]["classe_total"]
        bounds = info["bornes"]
        for k, members in total_.groupby(classes.astype("float64")):     # each unit within its class's bounds
            assert bounds[int(k) - 1] - 1e-9 <= members.min() and members.max() <= bounds[int(k)] + 1e-9, (level, k)
        assert {str(k): int(n) for k, n in classes.value_counts().items()} == info["effectifs"], level
        if len(df) >= 200:   # quintiles: no class holds much more than a fifth (ties on a cut point aside)
            assert classes.value_counts(normalize=True).max() < 0.3 and classes.nunique() == 5, level
    assert "bounds of classe_total" in (out / "run_report.md").read_text(encoding="utf-8")


def test_census_rates_are_flagged_on_small_denominators(sample_2023):
    out, report = sample_2023
    flagged_units = 0
    for level in LEVELS_2023:
        df = layer(out, level)
        for name in ("65_plus", "peu_diplomes"):
            known = df[f"val_{name}"].notna()
            assert np.allclose(df.loc[known, f"num_{name}"] / df.loc[known, f"den_{name}"],
                               df.loc[known, f"val_{name}"]), (level, name)
            flag = df[f"fiable_{name}"]
            assert str(flag.dtype) == "boolean" and flag.notna().equals(known & df[f"den_{name}"].notna())
            assert (flag[known] == (df.loc[known, f"den_{name}"] >= 200)).all(), (level, name)
        expected = sum(((df[f"fiable_{n}"] == False) & df[f"score_{n}"].notna()).fillna(False).astype(int)  # noqa: E712
                       for n in ("65_plus", "peu_diplomes"))
        assert (df["fiabilite"].astype(int) == expected).all(), level
        counted = report["stats"]["fiabilite"]["par_couche"][level]
        assert counted["unites_signalees"] == int((df["fiabilite"] > 0).sum()), level
        flagged_units += counted["unites_signalees"]
    assert flagged_units > 0          # the sample's small communes
    assert "fiable_65_plus" in read_dictionary(out)["columns"]
    assert "## Reliability" in (out / "run_report.md").read_text(encoding="utf-8")


def test_layers_open_styled_on_classe_total_and_report_maps_use_it(sample_2023):
    import sqlite3
    import xml.etree.ElementTree as ET

    from PIL import Image

    out, report = sample_2023
    bounds_of = read_dictionary(out)["classes"]["par_couche"]
    for level in LEVELS_2023:
        with sqlite3.connect(out / f"{level}.gpkg") as con:
            (style, default), = con.execute("SELECT styleQML, useAsDefault FROM layer_styles").fetchall()
        assert default == 1 and style == (out / f"{level}.qml").read_text(encoding="utf-8")
        root = ET.fromstring(style.split("\n", 1)[1])
        renderer = root.find("renderer-v2")
        assert renderer.get("attr") == "classe_total", level
        first = renderer.find("categories/category").get("label")
        assert first.startswith("1 – moins fragile (") and f"{bounds_of[level]['classe_total']['bornes'][0]:.1f}".replace(".", ",") in first
        dots = {f"@map_scale > {DOT_SCALE}"} if level in DOT_LAYERS else set()   # the QPVs' dots when zoomed out
        assert {e.get("value") for e in root.iter("Option") if e.get("name") == "expression"} == {'"fiabilite" > 0', *dots}
        png = out / "cartes_rapport" / f"{level}_score_total.png"
        assert png.exists() and f"cartes_rapport/{level}_score_total.png" in report["cartes"][level]
        described = Image.open(png).text["Description"]
        assert "ifn-2023" in described and "quintiles" in described and "seuils de la région" not in described


def test_qgis_opens_ifn_2023_layers_styled(sample_2023, tmp_path):
    import os
    import subprocess

    from indicators.outputs.palette import CLASS_COLOURS

    from .test_styles import QGIS_CHECK, SYSTEM_PYTHON

    out, _ = sample_2023
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([SYSTEM_PYTHON, str(QGIS_CHECK), str(out), str(tmp_path / "png"), "communes", "epci"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.stdout.strip(), f"QGIS check printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for level in ("communes", "epci"):
        for kind in ("gpkg", "qml"):
            assert seen[level][kind]["valid"] and seen[level][kind]["attribute"] == "classe_total", (level, kind)
        drawn = [c for c, n in seen[level]["gpkg"]["render"]["pixels_per_colour"].items() if n > 20]
        assert len([c for c in drawn if c in CLASS_COLOURS.values()]) >= 4, seen[level]["gpkg"]["render"]


def test_web_map_legend_fiche_and_hatching_of_ifn_2023(sample_2023, browser):
    """The map of an ifn-2023 set: the legend is classe_total's, with the dictionary's bounds; the
    explanation shows the unit's class and its small counts; flagged units are hatched."""
    from indicators.outputs import palette

    from .test_carte import NIMES_ARENES, Page

    out, _ = sample_2023
    built = runner.invoke(app, ["carte", "--out", str(out)])
    assert built.exit_code == 0, built.output
    iris = layer(out, "iris").set_index("code_iris").loc[NIMES_ARENES]
    bounds = read_dictionary(out)["classes"]["par_couche"]["iris"]["classe_total"]["bornes"]
    p = Page(browser)
    try:
        page = p.open((out / "carte" / "index.html").as_uri() + "#" + NIMES_ARENES)
        legend = page.inner_text("#legende")
        assert "Score total (1 à 10)" in legend and "dictionnaire du calcul" in legend
        assert f"({bounds[4]:.1f} – {bounds[5]:.1f})".replace(".", ",") in legend
        page.wait_for_selector("#fiche:not([hidden]) .score-principal .valeur", timeout=30_000)
        fiche = page.inner_text("#fiche")
        assert f"classe {iris['classe_total']} sur 5" in fiche and "Fiabilité" in fiche
        colour = page.eval_on_selector("#fiche .score-principal .pastille", "e => getComputedStyle(e).backgroundColor")
        r, g, b = palette.hex_to_rgb(palette.CLASS_COLOURS[int(iris["classe_total"])])
        assert colour == f"rgb({r}, {g}, {b})"
        assert page.evaluate("!!window.FRAGILITE.map.getLayer('h-iris')")
        assert p.errors == [] and p.refused == []
    finally:
        p.close()
