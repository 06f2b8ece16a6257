"""The three scoring methods against published numbers, and the ifn-2020 properties."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from indicators.stages.compute import RunOptions
from indicators.stages.classes import equal_width_classes
from indicators.stages.methods import IDS, SCORES, score_frame
from indicators.pipeline import run_local
from indicators.sources.readers.mednum import canonical_header, published_scores, read_mednum
from indicators.stages.scoring import read_thresholds, score_table

from .conftest import FIXTURES, MEDNUM_DIR, SHARED
from .helpers import csv_text

SICOVAL = FIXTURES / "sicoval"


def test_kit_2020_reproduces_sicoval_workbook():
    table = pd.read_csv(SICOVAL / "indicators.csv", dtype=str, keep_default_na=False)
    out = score_table(table, "kit-2020", read_thresholds(SICOVAL / "thresholds.csv")).set_index("code")
    expected = pd.read_csv(SICOVAL / "expected.csv", dtype={"code": str}).set_index("code")
    for score in SCORES:
        assert np.abs(out.loc[expected.index, score] - expected[score]).max() < 1e-9, score
        cls = "classe_" + score.removeprefix("score_")
        assert (out.loc[expected.index, cls].astype(int) == expected[cls]).all(), cls


@pytest.mark.skipif(not (SHARED / "data/real/ifn_method").exists(), reason="../shared not beside the checkout")
def test_sicoval_fixture_matches_workbook(tmp_path):
    """The committed fixture is what its script makes from the workbook, byte for byte."""
    import subprocess
    import sys

    subprocess.run([sys.executable, str(FIXTURES / "make_fixtures.py"), "--shared", str(SHARED),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ("indicators.csv", "thresholds.csv", "expected.csv"):
        assert (tmp_path / "sicoval" / name).read_bytes() == (SICOVAL / name).read_bytes(), name


def test_kit_blank_counts_as_zero_and_ifn_leaves_it_out():
    values = pd.DataFrame({i: [0.2] for i in IDS})
    values["revenu_median"] = [20000.0]
    values["couverture_fixe"] = [0.9]
    values["couverture_mobile"] = [0.95]
    thresholds = values.copy()
    values.loc[0, "familles_monoparentales"] = np.nan
    kit = score_frame("kit-2020", values, thresholds)
    ifn = score_frame("ifn-2020", values, thresholds)
    assert kit["pts_familles_monoparentales"].iloc[0] == 0           # Excel: blank = 0
    assert ifn["pts_familles_monoparentales"].isna().iloc[0]
    assert ifn["n_indicateurs"].iloc[0] == 10
    # every other indicator is at its threshold: 100 points, except coverage in the kit
    assert ifn["score_acces_information"].iloc[0] == pytest.approx(100.0)
    assert kit["score_acces_information"].iloc[0] == pytest.approx(200 / 3)
    # the kit divides non-coverage by the coverage threshold; ifn-2020 by the non-coverage one
    assert kit["pts_couverture_fixe"].iloc[0] == pytest.approx(100 * 0.1 / 0.9)
    assert ifn["pts_couverture_fixe"].iloc[0] == pytest.approx(100.0)


def test_income_direction_per_method():
    values = pd.DataFrame({"revenu_median": [30000.0]})
    thr = pd.DataFrame({"revenu_median": [20000.0]})
    assert score_frame("ifn-2020", values, thr)["pts_revenu_median"].iloc[0] == pytest.approx(50.0)
    assert score_frame("kit-2020", values, thr)["pts_revenu_median"].iloc[0] == pytest.approx(50.0)
    # the 2020 national file did not invert income: richer scores more fragile
    assert score_frame("d4g-2020", values, thr)["pts_revenu_median"].iloc[0] == pytest.approx(150.0)


def test_equal_width_classes_bounds():
    v = pd.Series([0.0, 1.9999, 2.0, 5.0, 9.9999, 10.0, np.nan])
    assert equal_width_classes(v).tolist() == [1, 1, 2, 3, 5, 5, pd.NA]


def _d4g_run(tmp_path: Path, mednum: Path, reference: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = tmp_path / reference
    run_local({"mednum_kit_2020": [mednum]}, out, RunOptions(method="d4g-2020", reference=reference))
    got = pd.read_parquet(out / "iris.parquet").set_index("code_iris")
    published = published_scores(read_mednum(mednum), reference).set_index("code_iris")
    return got, published


@pytest.mark.parametrize("reference", ["departement", "epci", "region"])
def test_d4g_2020_reproduces_published_scores(tmp_path, reference):
    got, published = _d4g_run(tmp_path, MEDNUM_DIR / "09.csv.gz", reference)
    assert set(published.index) <= set(got.index), "every IRIS of the file is scored"
    for score in SCORES:
        err = (got.loc[published.index, score] - published[score]).abs().max()
        assert err < 1e-5, f"{score}: {err}"
    if reference == "region":
        for score in SCORES:
            assert (got.loc[published.index, f"{score}_entier"] == published[f"{score}_entier"]).all()


def test_d4g_2020_overseas_with_header_and_padded_codes(tmp_path):
    header = canonical_header()
    with gzip.open(MEDNUM_DIR / "972.csv.gz", "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh, sep=";", header=None, names=header, dtype=str, keep_default_na=False)
    df["Insee Com"] = df["Insee Com"].str.zfill(5)
    path = tmp_path / "972.csv"
    path.write_text("\ufeff" + csv_text(df), encoding="utf-8")
    got, published = _d4g_run(tmp_path, path, "region")
    assert len(got) == len(published) == 141
    for score in SCORES:
        assert (got.loc[published.index, score] - published[score]).abs().max() < 1e-5
        assert (got.loc[published.index, f"{score}_entier"] == published[f"{score}_entier"]).all()
    import pyarrow.parquet as pq, json
    crs = json.loads(pq.read_schema(tmp_path / "region" / "iris.parquet").metadata[b"geo"])["columns"]["geometry"]["crs"]
    assert crs["id"]["code"] == 5490     # Martinique alone: its own CRS, RGAF09 / UTM 20N


def _mednum_copy(tmp_path: Path, edit) -> Path:
    header = canonical_header()
    with gzip.open(MEDNUM_DIR / "09.csv.gz", "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh, sep=";", header=None, names=header, dtype=str, keep_default_na=False)
    edit(df)
    path = tmp_path / "09.csv"
    df.to_csv(path, sep=";", index=False, header=False)
    return path


def test_iris_without_polygon_is_scored_and_kept(tmp_path):
    def blank(df):
        df.loc[3, "Geo Shape"] = ""
    path = _mednum_copy(tmp_path, blank)
    report = run_local({"mednum_kit_2020": [path]}, tmp_path / "out", RunOptions(method="d4g-2020"))
    iris = pd.read_parquet(tmp_path / "out" / "iris.parquet")
    assert len(iris) == 341 and iris["geometry"].isna().sum() == 1
    assert iris["score_global"].notna().all()
    assert any("null geometry" in n for n in report["notes"])


def test_unreadable_geojson_names_row(tmp_path):
    from indicators.errors import InputError

    def cut(df):
        df.loc[5, "Geo Shape"] = '{"type": "Polygon", "coord'
    path = _mednum_copy(tmp_path, cut)
    with pytest.raises(InputError) as exc:
        run_local({"mednum_kit_2020": [path]}, tmp_path / "out", RunOptions())
    assert exc.value.column == "Geo Shape" and exc.value.rows == [6]   # no header row: line 6
