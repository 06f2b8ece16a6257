"""ifn-2023, the 2023-like reconstruction of the portal's index (METHODS 1.4): deciles, the tie
rule, cut points written and read back, scores aggregated by population."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from indicators.errors import InputError
from indicators.stages.deciles import (BOUND_COLUMNS, cut_point_table, cut_points, decile_scores,
                                       read_cut_points, scores_from_cut_points, total, weighted_mean)
from indicators.stages.ifn2023 import score_levels

LEVEL_KEYS = {"iris": "code_iris", "communes": "code_commune", "epci": "code_epci",
              "departements": "code_departement", "regions": "code_region", "qpv": "code_qpv"}
SCORED = ["65_plus", "peu_diplomes", "pauvrete"]


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


@pytest.fixture(scope="module")
def scored_sample(sample_run):
    """ifn-2023 on the counts of the sample run's layers (IRIS, communes, ... and QPV weights)."""
    out, _ = sample_run
    counts = {}
    for level, key in LEVEL_KEYS.items():
        layer = pd.read_parquet(out / f"{level}.parquet").drop(columns=["geometry", "bbox"], errors="ignore")
        counts[level] = layer.assign(code=layer[key].astype(str))
    weights = pd.read_csv(out / "poids_iris_qpv.csv", dtype={"code_iris": str, "code_qpv": str})
    return counts, score_levels(counts, None, weights, None, "test")


def test_sample_units_have_integer_scores_spread_over_ten_deciles(scored_sample):
    _, result = scored_sample
    iris = result.levels["iris"]
    for name in SCORED:
        values, scores = iris[f"val_{name}"], iris[f"score_{name}"]
        assert scores.notna().equals(values.notna()), name
        known = scores.dropna().astype(int)
        assert known.between(1, 10).all() and len(known) > 500, name
        n = len(known)
        ordered = np.sort(values.dropna().to_numpy())
        for s in range(1, 11):
            share = (known == s).mean()
            at_most = int((known <= s).sum())
            # ties excepted: the units at most s are as many as fit in s tenths, and the next tie
            # group (all of it scored above s) would not have fitted
            assert 10 * at_most <= s * n, (name, s)
            if at_most < n:
                nxt = ordered[at_most]
                assert 10 * int((ordered <= nxt).sum()) > s * n, (name, s)
            biggest_tie = pd.Series(ordered).value_counts().max()
            if biggest_tie < 0.01 * n:
                assert abs(share - 0.1) <= 0.01, (name, s, share)


def test_sample_territories_are_weighted_means_of_their_units(scored_sample):
    counts, result = scored_sample
    iris, communes = counts["iris"], counts["communes"].set_index("code")
    cols = [f"score_{n}" for n in SCORED]
    split = iris.groupby("code_commune").filter(lambda g: len(g) > 1)["code_commune"].unique()
    assert len(split) > 20
    unit = result.levels["iris"].join(iris.set_index("code")[["population", "code_commune"]])
    for code in split:
        rows = unit[unit["code_commune"] == code]
        for col in cols:
            known = rows[col].notna()
            if not known.any():
                continue
            w = rows.loc[known, "population"]
            expected = (w * rows.loc[known, col].astype(float)).sum() / w.sum()
            assert abs(result.levels["communes"].loc[code, col] - expected) < 1e-9, (code, col)
    com = result.levels["communes"].join(communes[["population", "code_epci"]])
    for code, rows in com.groupby("code_epci"):
        for col in cols:
            known = rows[col].notna()
            if known.any():
                w = rows.loc[known, "population"]
                expected = (w * rows.loc[known, col]).sum() / w.sum()
                assert abs(result.levels["epci"].loc[code, col] - expected) < 1e-9, (code, col)
    # a commune not split is its single IRIS
    single = iris.groupby("code_commune").filter(lambda g: len(g) == 1)
    one = result.levels["iris"].loc[single["code"], cols].to_numpy(dtype="float64")
    assert np.array_equal(result.levels["communes"].loc[single["code_commune"], cols].to_numpy(dtype="float64"),
                          one, equal_nan=True)
    qpv = result.levels["qpv"]
    assert qpv["score_65_plus"].notna().all() and qpv["score_65_plus"].between(1, 10).all()
    total_mean = result.levels["communes"][[f"score_{n}" for n in SCORED]].mean(axis=1)
    assert np.allclose(result.levels["communes"]["score_total"], total_mean, equal_nan=True)
