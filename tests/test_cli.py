"""The command line contract of DESIGN.md: run, score, explain, sources, validate."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from indicators.cli import app
from indicators.stages.methods import SCORES

from .conftest import FIXTURES, SHARED

runner = CliRunner()
REFERENCE_FILES = SHARED / "geoparquet" / "test_data"


def test_score_command_reproduces_sicoval(tmp_path):
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(FIXTURES / "sicoval/indicators.csv"), "--method", "kit-2020",
                                 "--thresholds", str(FIXTURES / "sicoval/thresholds.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype={"code": str}).set_index("code")
    expected = pd.read_csv(FIXTURES / "sicoval/expected.csv", dtype={"code": str}).set_index("code")
    for s in SCORES:
        assert np.abs(got.loc[expected.index, s] - expected[s]).max() < 1e-9
        c = "classe_" + s.removeprefix("score_")
        assert (got.loc[expected.index, c] == expected[c]).all()


def test_score_command_bad_cell(tmp_path):
    table = pd.read_csv(FIXTURES / "sicoval/indicators.csv", dtype=str)
    table.loc[2, "peu_diplomes"] = "abc"
    bad = tmp_path / "bad.csv"
    table.to_csv(bad, index=False)
    result = runner.invoke(app, ["score", str(bad), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "peu_diplomes" in result.output and "rows 4" in result.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.skipif(not REFERENCE_FILES.exists(), reason="../shared not beside the checkout")
def test_validate_reads_specification_reference_files():
    files = sorted(REFERENCE_FILES.glob("*.parquet"))
    assert len(files) == 12
    result = runner.invoke(app, ["validate", *map(str, files)])
    assert result.exit_code == 0, result.output
    # and the geometries read are those of the WKT twins
    import geopandas as gpd

    for f in files:
        kind = f.name.split("-encoding")[0]
        wkt = pd.read_csv(REFERENCE_FILES / f"{kind}-wkt.csv")
        got = gpd.read_parquet(f).geometry.to_numpy()
        want = [shapely.from_wkt(w) if isinstance(w, str) else None for w in wkt["geometry"]]
        assert all((a is None and b is None) or (a is not None and b is not None and a.equals(b))
                   or (a is not None and a.is_empty and b is not None and b.is_empty) for a, b in zip(got, want)), f.name


def test_validate_rejects_a_broken_layer(sample_run, tmp_path):
    import json

    import pyarrow.parquet as pq

    out, _ = sample_run
    table = pq.read_table(out / "regions.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    geo["columns"]["geometry"]["encoding"] = "WKT"   # not a GeoParquet 1.1 encoding
    broken = tmp_path / "broken.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"geo": json.dumps(geo).encode()}), broken)
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 1
    assert "encoding" in result.output


def test_explain_prints_indicator_by_indicator(sample_run):
    out, _ = sample_run
    result = runner.invoke(app, ["explain", "301890101", "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "peu_diplomes" in result.output and "score_global" in result.output
    assert "thresholds of région 76" in result.output   # the IRIS of Nîmes: its région's


def test_explain_unknown_code(sample_run):
    out, _ = sample_run
    result = runner.invoke(app, ["explain", "999999999", "--out", str(out)])
    assert result.exit_code == 2 and "no unit" in result.output


def test_sources_lists_registry():
    result = runner.invoke(app, ["sources"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "rp_population" in result.output and "sample" in result.output


def test_run_with_bad_input_exits_non_zero(prefect_harness, tmp_path):
    result = runner.invoke(app, ["run", "--input", f"rp_population={tmp_path / 'nope.zip'}", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_run_with_one_broken_departement_exits_non_zero_with_layers(prefect_harness, tmp_path):
    import shutil

    from indicators import SAMPLE_DIR

    good = tmp_path / "09.csv.gz"
    bad = tmp_path / "972.csv.gz"
    shutil.copyfile(SAMPLE_DIR / "mednum_kit_2020/2020/09.csv.gz", good)
    bad.write_bytes((SAMPLE_DIR / "mednum_kit_2020/2020/972.csv.gz").read_bytes()[:3000])
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--method", "d4g-2020", "--input", f"mednum_kit_2020={good}",
                                 "--input", f"mednum_kit_2020={bad}", "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "972.csv.gz" in result.output and "failed" in result.output
    assert (out / "iris.parquet").exists() and "FAILED inputs" in (out / "run_report.md").read_text()
