"""The refresh on the embedded real sample: layers, contract, read-back, rejects, atomicity."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest

from indicators.stages.compute import RunOptions
from indicators.db import connect
from indicators.errors import FragiliteError, InputError
from indicators.outputs.layers import layer_columns
from indicators.stages.methods import IDS, SCORES, score_frame
from indicators.pipeline import run_local
from indicators.sources.readers import read_contours_iris, read_rp_iris
from indicators.stages.scoring import indicator_values
from indicators.outputs.validate import validate_file
from indicators import SAMPLE_DIR

LAYERS = ["iris", "communes", "epci", "departements", "regions"]


def test_sample_run_writes_five_valid_layers(sample_run):
    out, report = sample_run
    for level in LAYERS:
        path = out / f"{level}.parquet"
        r = validate_file(path, strict=True)
        assert r.ok, (level, r.errors)
        gdf = gpd.read_parquet(path)
        assert list(gdf.columns) == layer_columns(level, "ifn-2020")
        assert len(gdf) == report["outputs"][level]["rows"] > 0
        # the GeoPackage twin, for GIS tools whose GDAL has no Parquet driver
        gpkg = pyogrio.read_dataframe(out / f"{level}.gpkg")
        assert len(gpkg) == len(gdf)
        assert gpkg.crs == gdf.crs
    assert (out / "dictionary.json").exists() and (out / "run_report.md").exists()
    assert not [p for p in out.glob(".*") if p.name != ".fragilite"], "no temporary file left behind"


def test_sample_mixed_territories_are_lon_lat(sample_run):
    out, _ = sample_run
    geo = json.loads(pq.read_schema(out / "iris.parquet").metadata[b"geo"])
    assert geo["columns"]["geometry"]["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert "bbox" in geo["columns"]["geometry"]["covering"]


def test_duckdb_reads_layers(sample_run):
    out, _ = sample_run
    con = connect()
    n, area = con.execute("SELECT count(*), sum(ST_Area(geometry)) FROM read_parquet(?)",
                          [str(out / "departements.parquet")]).fetchone()
    assert n == 12 and area > 0


def test_layer_columns_are_all_compressed(sample_run):
    """The geometry in zstd, every other column (the bbox covering's too) in snappy: a column
    missing from the writer's per-column codecs would be written uncompressed."""
    out, _ = sample_run
    for layer in ("iris", "communes", "qpv"):
        meta = pq.ParquetFile(out / f"{layer}.parquet").metadata
        codecs = {meta.row_group(g).column(c).path_in_schema: meta.row_group(g).column(c).compression
                  for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
        assert codecs.pop("geometry") == "ZSTD", layer
        assert {"bbox.xmin", "bbox.ymax"} <= set(codecs) and set(codecs.values()) == {"SNAPPY"}, layer


def test_only_text_columns_are_dictionary_encoded(sample_run):
    """Codes and names in dictionaries (a few values, repeated); scores, rates and the geometry
    plain: nearly all distinct, a dictionary only cost the writer time and the file bytes."""
    out, _ = sample_run
    meta = pq.ParquetFile(out / "iris.parquet").metadata
    encodings = {meta.row_group(0).column(c).path_in_schema: set(meta.row_group(0).column(c).encodings)
                 for c in range(meta.num_columns)}
    dictionary = {name for name, kinds in encodings.items() if kinds & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}}
    assert {"code_iris", "nom_commune", "methode"} <= dictionary
    assert not dictionary & {"geometry", "score_global", "population", "bbox.xmin"}


def test_every_input_iris_is_in_layer_or_rejects(sample_run):
    out, _ = sample_run
    rp = read_rp_iris(SAMPLE_DIR / "rp_population/2016/base-ic-evol-struct-pop-2016.zip", "rp_population").frame
    contours = read_contours_iris(SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z")
    inputs = set(rp["code_iris"]) | set(contours["code_iris"])
    layer = set(gpd.read_parquet(out / "iris.parquet")["code_iris"])
    rejects = pd.read_csv(out / "rejects.csv", dtype=str)
    rejected = set(rejects.loc[rejects["niveau"] == "iris", "code"])
    assert inputs == layer | rejected
    assert not layer & rejected
    assert rejects["raison"].notna().all()


def test_aggregates_are_sums_of_iris(sample_run):
    out, _ = sample_run
    iris = gpd.read_parquet(out / "iris.parquet")
    communes = gpd.read_parquet(out / "communes.parquet").set_index("code_commune")
    regions = gpd.read_parquet(out / "regions.parquet").set_index("code_region")
    nimes = iris[iris["code_commune"] == "30189"]
    assert len(nimes) > 20
    for col in ("population", "num_familles_monoparentales", "den_peu_diplomes"):
        assert nimes[col].sum() == pytest.approx(communes.loc["30189", col])
    # region totals include the 2 rejected IRIS' counts too (zero population): compare with communes
    assert communes.groupby("code_region")["population"].sum().loc["76"] == pytest.approx(regions.loc["76", "population"])


def test_ifn_commune_score_equals_score_of_summed_counts(sample_run):
    """METHODS 1.3: a commune split into IRIS is scored from its summed counts."""
    out, _ = sample_run
    iris = gpd.read_parquet(out / "iris.parquet")
    commune = gpd.read_parquet(out / "communes.parquet").set_index("code_commune").loc["30189"]
    parts = iris[iris["code_commune"] == "30189"]
    counts = pd.DataFrame({c: [parts[c].sum(min_count=1)] for c in parts.columns if c.startswith(("num_", "den_"))})
    counts["val_revenu_median"] = commune["ind_revenu_median"]   # a median is not a sum
    values = indicator_values(counts)
    thresholds = pd.DataFrame({i: [commune[f"seuil_{i}"]] for i in IDS})
    scored = score_frame("ifn-2020", values, thresholds)
    for s in SCORES:
        assert scored[s].iloc[0] == pytest.approx(commune[s], rel=1e-12)
    assert scored["n_indicateurs"].iloc[0] == commune["n_indicateurs"]


def test_ifn_secret_input_scores_over_the_rest(sample_run):
    out, _ = sample_run
    iris = gpd.read_parquet(out / "iris.parquet")
    secret = iris[(iris["source_revenu"] == "iris") & iris["ind_taux_pauvrete"].isna()]
    full = iris[(iris["source_revenu"] == "iris") & iris["ind_taux_pauvrete"].notna()]
    assert len(secret) > 0
    assert (secret["n_indicateurs"] == full["n_indicateurs"].max() - 1).all()
    row = secret.iloc[0]
    pts = [row[f"pts_{i}"] for i in IDS if pd.notna(row[f"pts_{i}"])]
    assert len(pts) == row["n_indicateurs"]
    assert row["score_global"] == pytest.approx(np.mean(pts))


def test_metropolitan_territory_is_lambert93(tmp_path):
    report = run_local({}, tmp_path, RunOptions(territory=["30"]))
    assert report["crs"] == "EPSG:2154"
    iris = gpd.read_parquet(tmp_path / "iris.parquet")
    assert iris.crs.to_epsg() == 2154 and set(iris["code_departement"]) == {"30"}
    # thresholds do not depend on the territory shown: still pooled over the whole région loaded
    assert iris["code_reference"].eq("76").all()
    minx, miny, maxx, maxy = iris.total_bounds
    assert 700_000 < minx < maxx < 900_000 and 6_250_000 < miny < maxy < 6_450_000


def test_unknown_territory_is_an_error(tmp_path):
    with pytest.raises(FragiliteError, match="no IRIS of these départements"):
        run_local({}, tmp_path, RunOptions(territory=["2A"]))


def test_thresholds_file_per_reference(tmp_path):
    thr = tmp_path / "seuils.csv"
    # the régions themselves are scored against France: a table for --reference region needs its FR row
    thr.write_text("reference;personnes_65_plus;peu_diplomes\n76;0.25;0.30\n02;0.20;0.40\n")
    with pytest.raises(FragiliteError, match=r"regions layer.*\['FR'\]"):
        run_local({}, tmp_path / "out", RunOptions(thresholds=thr, reference="region"))
    thr.write_text("reference;personnes_65_plus;peu_diplomes\n76;0.25;0.30\n02;0.20;0.40\nFR;0.22;0.33\n")
    run_local({}, tmp_path / "out", RunOptions(thresholds=thr, reference="region"))
    iris = gpd.read_parquet(tmp_path / "out" / "iris.parquet").set_index("code_iris")
    row = iris.loc["301890101"]
    assert row["seuil_personnes_65_plus"] == 0.25
    assert row["pts_personnes_65_plus"] == pytest.approx(100 * row["ind_personnes_65_plus"] / 0.25)
    assert np.isnan(row["pts_familles_monoparentales"])   # not in the table: left out
    assert iris.loc["972090401", "seuil_peu_diplomes"] == 0.40


def test_failed_run_leaves_previous_outputs_intact(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_local({}, out, RunOptions(territory=["48"]))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    import indicators.outputs.export as export

    calls = {"n": 0}
    real = export.write_gpkg

    def crash_on_third(gdf, target, layer, *style):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(gdf, target, layer, *style)

    monkeypatch.setattr(export, "write_gpkg", crash_on_third)
    with pytest.raises(OSError):
        run_local({}, out, RunOptions(territory=["48"], method="kit-2020"))
    # every file is whole: old or new, never half-written; no temporary file remains
    for p in out.iterdir():
        assert not p.name.startswith(".") or p.name == ".fragilite", p
        if p.suffix == ".parquet":
            assert validate_file(p, strict=True).ok
    assert set(before) == {p.name for p in out.iterdir() if p.is_file()}


@pytest.mark.parametrize("breaker,expected", [
    ("truncate_contours", "truncated"),
    ("non_numeric", "P16_POP65P"),
    ("missing_column", "C16_FAMMONO"),
    ("duplicate_iris", "duplicated"),
    ("wrong_separator", "wrong separator"),
])
def test_bad_input_gives_clear_error_and_no_layer(tmp_path, sample_copy, breaker, expected):
    import zipfile

    from .helpers import csv_text, write_zip

    given = {}
    if breaker == "truncate_contours":
        src = sample_copy / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z"
        src.write_bytes(src.read_bytes()[:100_000])
        given["contours_iris"] = [src]
    else:
        zpath = sample_copy / ("rp_familles/2016/base-ic-couples-familles-menages-2016.zip" if breaker == "missing_column"
                               else "rp_population/2016/base-ic-evol-struct-pop-2016.zip")
        with zipfile.ZipFile(zpath) as zf:
            member = next(n for n in zf.namelist() if not n.startswith("meta"))
            df = pd.read_csv(zf.open(member), sep=";", dtype=str, keep_default_na=False)
        sep = ";"
        if breaker == "non_numeric":
            df.loc[10, "P16_POP65P"] = "n/a?"
        elif breaker == "missing_column":
            df = df.drop(columns="C16_FAMMONO")
        elif breaker == "duplicate_iris":
            df.loc[5, "IRIS"] = df.loc[4, "IRIS"]
        elif breaker == "wrong_separator":
            sep = ","
        write_zip(zpath, {member: csv_text(df, sep=sep)})
        given["rp_familles" if breaker == "missing_column" else "rp_population"] = [zpath]
    out = tmp_path / "out"
    with pytest.raises(InputError) as exc:
        run_local(given, out, RunOptions())
    message = str(exc.value)
    assert expected in message and str(sample_copy) in message
    if breaker == "non_numeric":
        assert exc.value.column == "P16_POP65P" and exc.value.rows == [12]
    assert not any(p.suffix in {".parquet", ".gpkg"} for p in out.glob("*")), "no layer written"


def _set_files(out) -> dict[str, bytes]:
    """The current output set's files, but its manifest and run report (run id, times)."""
    folder = (out / ".fragilite" / "current").resolve()
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and not p.name.startswith("run_report")}


def test_run_local_writes_the_bytes_of_the_flow(sample_run, tmp_path):
    """run_local hands the computed tables to the export in memory, the Prefect flow through
    Parquet files between its tasks: the same outputs, byte for byte."""
    flow_out, _ = sample_run
    run_local({}, tmp_path / "out", RunOptions())
    local, flow = _set_files(tmp_path / "out"), _set_files(flow_out)
    assert local.keys() == flow.keys() and {"iris.parquet", "iris.gpkg", "dictionary.json"} <= local.keys()
    assert [name for name in local if local[name] != flow[name]] == []
