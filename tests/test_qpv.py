"""The QPV layer on the real Occitanie QPVs, against INSEE's own QPV figures, and its edge cases."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from indicators import SAMPLE_DIR
from indicators.stages.compute import RunOptions
from indicators.outputs.layers import layer_columns
from indicators.pipeline import run_local
from indicators.sources.readers.qpv import read_qpv_contours
from indicators.outputs.validate import validate_file

QPV_ZIP = SAMPLE_DIR / "qpv_contours_2015/2015/qp-politiquedelaville-shp.zip"


@pytest.fixture(scope="module")
def qpv_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qpv")
    report = run_local({}, out, RunOptions())
    return out, report


def test_qpv_layer_has_every_qpv_of_the_territory(qpv_run):
    out, _ = qpv_run
    layer = gpd.read_parquet(out / "qpv.parquet")
    published = read_qpv_contours(QPV_ZIP, "2015")
    assert sorted(layer["code_qpv"]) == sorted(published["code_qpv"]) and len(layer) == 64
    assert list(layer.columns) == layer_columns("qpv", "ifn-2020")
    assert validate_file(out / "qpv.parquet", strict=True).ok
    assert layer.crs.to_epsg() == gpd.read_parquet(out / "iris.parquet").crs.to_epsg()
    assert layer["score_global"].notna().all()
    assert (out / "qpv.gpkg").exists()


def test_weights_never_give_more_than_an_iris_has(qpv_run):
    out, _ = qpv_run
    w = pd.read_csv(out / "poids_iris_qpv.csv", dtype={"code_iris": str})
    assert (w.groupby("code_iris")["poids"].sum() <= 1 + 1e-9).all()
    assert set(w["source_poids"]) == {"carreaux_200m", "surface"}
    iris = gpd.read_parquet(out / "iris.parquet").set_index("code_iris")
    qpv = gpd.read_parquet(out / "qpv.parquet")
    touched = iris.loc[iris.index.isin(w["code_iris"])]
    for col in ("population", "num_familles_monoparentales", "den_peu_diplomes", "num_personnes_65_plus"):
        assert qpv[col].sum() <= touched[col].sum() + 1e-6, col
    # the IRIS layer says how much of each IRIS lives in a QPV, and which
    share = w.groupby("code_iris")["poids"].sum()
    assert np.allclose(iris.loc[share.index, "part_population_qpv"], share)
    listed = w[w["poids"] > 0].groupby("code_iris")["code_qpv"].agg(lambda c: ",".join(sorted(c)))
    assert (iris.loc[listed.index, "codes_qpv"] == listed).all()
    outside = iris.index.difference(w["code_iris"])
    assert iris.loc[outside, "codes_qpv"].isna().all() and (iris.loc[outside, "part_population_qpv"] == 0).all()


def test_population_error_on_grid_covered_qpvs(qpv_run):
    """METHODS 3: area weights miss ~44 %, cells cut by area ~18 %; the target is at most 12 %."""
    out, report = qpv_run
    comp = pd.read_csv(out / "qpv_comparaison.csv")
    assert len(comp) == 64 and comp["population_officielle"].notna().all()
    grid = comp[comp["source_poids"] == "carreaux_200m"]
    assert len(grid) == 27
    err = grid["erreur_population"].abs().median()
    assert err <= 0.12, err
    # measured 7.0 % on this sample: above 8 %, the weights have lost something (a cell's pieces
    # outside the ground handed to the SQL once gave 11.4 % and still met the 12 % target)
    assert err <= 0.08, err
    summary = {r["source_poids"]: r for r in report["stats"]["qpv_comparaison"]}
    assert summary["carreaux_200m"]["erreur_mediane_population"] == pytest.approx(err)
    assert "QPV: our allocation" in (out / "run_report.md").read_text()


def test_area_weights_alone_are_much_worse(tmp_path):
    """The same QPVs without the cells: the yardstick shows why the cells are used."""
    out = tmp_path / "area"
    run_local({"filosofi_200m_emprise": [SAMPLE_DIR / "filosofi_200m/2019/emprise.csv"],
               "filosofi_200m": [_empty_grid(tmp_path)]}, out, RunOptions())
    comp = pd.read_csv(out / "qpv_comparaison.csv")
    assert (comp["source_poids"] == "surface").all()
    assert comp["erreur_population"].abs().median() > 0.3


def _empty_grid(tmp_path: Path) -> Path:
    path = tmp_path / "carreaux_vides.csv"
    path.write_text("Idcar_200m;I_est_200;Ind\n")
    return path


def test_calibration_meets_published_population(tmp_path):
    report = run_local({}, tmp_path, RunOptions(qpv_calibration="population"))
    comp = pd.read_csv(tmp_path / "qpv_comparaison.csv")
    qpv = gpd.read_parquet(tmp_path / "qpv.parquet")
    # every QPV whose IRIS hold enough people reaches its published population exactly
    feasible = qpv["facteur_calibration"].notna()
    assert feasible.sum() >= 60
    hit = (comp["erreur_population"].abs() < 1e-6)
    assert hit.sum() >= 60
    # composition indicators: the stated error (README) holds
    assert comp["ecart_part_60_plus"].abs().median() <= 0.05
    assert comp["ecart_taux_pauvrete"].abs().median() <= 0.15
    w = pd.read_csv(tmp_path / "poids_iris_qpv.csv", dtype={"code_iris": str})
    assert (w.groupby("code_iris")["poids"].sum() <= 1 + 1e-9).all()
    assert report["stats"]["qpv_calibration"] == "population"


def _copy_sample(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, target)
    return target


def _read_qpv_shp(tmp_path: Path) -> gpd.GeoDataFrame:
    folder = tmp_path / "qpv_shp"
    with zipfile.ZipFile(QPV_ZIP) as zf:
        zf.extractall(folder)
    return gpd.read_file(folder / "QP_METROPOLE_LB93.shp")


def _write_qpv_zip(gdfs: dict[str, gpd.GeoDataFrame], path: Path) -> Path:
    folder = path.parent / (path.stem + "_files")
    folder.mkdir(parents=True, exist_ok=True)
    for name, gdf in gdfs.items():
        gdf.to_file(folder / f"{name}.shp", engine="pyogrio")
    with zipfile.ZipFile(path, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    return path


def test_invalid_published_geometry_is_repaired(tmp_path):
    gdf = _read_qpv_shp(tmp_path)
    i = gdf.index[gdf["CODE_QP"] == "QP030003"][0]
    ring = list(gdf.geometry[i].exterior.coords)
    # a bow-tie: swap two vertices, as a badly digitised contour would
    ring[1], ring[len(ring) // 2] = ring[len(ring) // 2], ring[1]
    gdf.loc[i, "geometry"] = shapely.Polygon(ring)
    assert not gdf.geometry[i].is_valid
    path = _write_qpv_zip({"QP_METROPOLE_LB93": gdf}, tmp_path / "qp.zip")
    report = run_local({"qpv_contours_2015": [path]}, tmp_path / "out", RunOptions(territory=["30"]))
    assert any("invalid as published" in n for n in report["notes"])
    assert validate_file(tmp_path / "out" / "qpv.parquet", strict=True).ok
    layer = gpd.read_parquet(tmp_path / "out" / "qpv.parquet")
    assert "QP030003" in set(layer["code_qpv"])


def test_qpv_touching_iris_missing_from_census(tmp_path):
    sample = _copy_sample(tmp_path)
    zpath = sample / "rp_population/2016/base-ic-evol-struct-pop-2016.zip"
    with zipfile.ZipFile(zpath) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    data = next(n for n in members if not n.startswith("meta"))
    text = members[data].decode().splitlines()
    # IRIS 301891804 (Nîmes) touches QP030008: drop it from the census
    members[data] = ("\n".join(line for line in text if not line.startswith("301891804")) + "\n").encode()
    with zipfile.ZipFile(zpath, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    report = run_local({"rp_population": [zpath]}, tmp_path / "out", RunOptions(territory=["30"]))
    assert any("no census counts" in n and "301891804" in n for n in report["notes"])
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv", dtype=str)
    assert "301891804" in set(rejects["code"])
    layer = gpd.read_parquet(tmp_path / "out" / "qpv.parquet").set_index("code_qpv")
    assert layer.loc["QP030008", "population"] > 0


def test_overseas_qpv(tmp_path):
    """A QPV in Martinique: weighted in RGAF09 / UTM 20N, by area (no cells there).
    SYNTHETIC geometry: the real QPV contours here are Occitanie only; this polygon is a disc
    inside a real Fort-de-France IRIS, under the real code QP972001 (whose population INSEE publishes)."""
    from indicators.sources.readers import read_contours_iris

    contours = read_contours_iris(SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z")
    iris = contours[contours["code_iris"].str.startswith("97209")].iloc[0]
    disc = iris["geometry"].representative_point().buffer(150)
    mtq = gpd.GeoDataFrame({"CODE_QP": ["QP972001"], "NOM_QP": ["synthétique"], "COMMUNE_QP": ["Fort-de-France"]},
                           geometry=[disc], crs=5490)
    metro = _read_qpv_shp(tmp_path)
    path = _write_qpv_zip({"QP_METROPOLE_LB93": metro, "QP_MARTINIQUE_UTM20": mtq}, tmp_path / "qp.zip")
    run_local({"qpv_contours_2015": [path]}, tmp_path / "out", RunOptions())
    w = pd.read_csv(tmp_path / "out" / "poids_iris_qpv.csv", dtype={"code_iris": str})
    row = w[w["code_qpv"] == "QP972001"]
    assert len(row) >= 1 and (row["zone"] == "972").all() and (row["source_poids"] == "surface").all()
    assert row["poids"].sum() > 0
    layer = gpd.read_parquet(tmp_path / "out" / "qpv.parquet").set_index("code_qpv")
    assert layer.loc["QP972001", "code_departement"] == "972"
    assert layer.loc["QP972001", "population"] > 0


def test_2024_list_qpv_over_two_communes(tmp_path):
    """The 2024 layout (zip of GeoJSON, WGS84, `code_qp` QN…). SYNTHETIC file: no 2024 contour is
    available here, so two real 2015 polygons of two communes stand for one 2024 QPV."""
    gdf = _read_qpv_shp(tmp_path).to_crs(4326)
    a = gdf[gdf["CODE_QP"] == "QP030003"].geometry.iloc[0]     # Nîmes
    b = gdf[gdf["CODE_QP"] == "QP030001"].geometry.iloc[0]     # Alès
    feats = gpd.GeoDataFrame({
        "code_qp": ["QN03001M", "QN03001M"], "lib_qp": ["Quartier synthétique"] * 2,
        "insee_com": ["30189", "30007"], "lib_com": ["Nîmes", "Alès"], "insee_dep": ["30", "30"],
        "siren_epci": ["243000643", "200066918"]}, geometry=[a, b], crs=4326)
    gj = tmp_path / "QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson"
    feats.to_file(gj, driver="GeoJSON")
    zpath = tmp_path / "qp2024.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(gj, gj.name)
    read = read_qpv_contours(zpath, "2024")
    assert len(read) == 1 and read.loc[0, "communes"] == "30007,30189"
    run_local({"qpv_contours_2024": [zpath]}, tmp_path / "out", RunOptions(qpv="2024", territory=["30"]))
    layer = gpd.read_parquet(tmp_path / "out" / "qpv.parquet")
    assert list(layer["code_qpv"]) == ["QN03001M"]
    assert layer.loc[0, "codes_communes_qpv"] == "30007,30189"
    assert layer.loc[0, "liste_qpv"] == "2024"
    w = pd.read_csv(tmp_path / "out" / "poids_iris_qpv.csv", dtype={"code_iris": str})
    # both communes give people; a neighbour's IRIS may touch the edge (generalised contours)
    assert {"30189", "30007"} <= {c[:5] for c in w["code_iris"]}
    iris = gpd.read_parquet(tmp_path / "out" / "iris.parquet").set_index("code_iris")["population"]
    given = (w["poids"] * w["code_iris"].map(iris)).groupby(w["code_iris"].str[:5]).sum()
    assert given[["30189", "30007"]].sum() / given.sum() > 0.95
