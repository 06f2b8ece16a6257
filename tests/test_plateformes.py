"""Platform workers from SIRENE, on SYNTHETIC files in the published layouts (no SIRENE extract
exists here): scripts/generate_sirene.py makes them, seeded, and also returns where it put every
establishment, which is what the counts are checked against."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from indicators import SAMPLE_DIR
from indicators.stages.compute import RunOptions
from indicators.errors import InputError
from indicators.pipeline import run_local

from .helpers import csv_text, sirene_generator, write_zip

COUNTED = {"livreur": "livreurs", "livreur_972": "livreurs", "vtc": "vtc", "sans_geoloc": "livreurs",
           "qualite_faible": "livreurs"}
LEVELS = ["iris", "communes", "epci", "departements", "regions"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    gen = sirene_generator()
    files = gen.generate(seed=7, scale=0.5)
    out = tmp_path_factory.mktemp("sirene")
    paths = gen.write(files, out / "csv")
    parquet = gen.write(files, out / "parquet", parquet=True)
    return files, paths, parquet


def _inputs(paths: dict) -> dict:
    return {"sirene_etablissements": [paths["etablissements"]], "sirene_unites_legales": [paths["unites_legales"]],
            "sirene_geolocalisation": [paths["geolocalisation"]]}


@pytest.fixture(scope="module")
def counted(synthetic, tmp_path_factory):
    files, paths, _ = synthetic
    out = tmp_path_factory.mktemp("run")
    report = run_local(_inputs(paths), out, RunOptions())
    return files, out, report


def test_counts_exactly_what_the_rule_keeps(counted):
    files, out, _ = counted
    truth = files["verite"]
    kept = truth[truth["kind"].isin(COUNTED)].assign(profession=lambda t: t["kind"].map(COUNTED))
    iris = gpd.read_parquet(out / "iris.parquet").set_index("code_iris")
    expected = kept.groupby(["code_iris", "profession"]).size().unstack(fill_value=0)
    for p in ("livreurs", "vtc"):
        got = iris[p].reindex(expected.index).fillna(0).astype(int)
        assert (got == expected[p]).all(), p
        assert iris[p].sum() == expected[p].sum()
    # closed, employer, company, foreign and domiciliation registrations are not counted
    excl = pd.read_csv(out / "sirene_exclusions.csv")
    reasons = set(excl["statut"])
    assert {"fermé", "employeur", "pas un entrepreneur individuel", "hors de France", "domiciliation"} <= reasons
    n_trap = truth["kind"].isin(["ferme", "employeur", "societe", "etranger", "domiciliation"]).sum()
    assert excl.loc[excl["statut"] != "compté", "n"].sum() == n_trap


def test_partially_diffused_are_reported_unlocated_not_dropped(counted):
    files, out, report = counted
    truth = files["verite"]
    unlocated = pd.read_csv(out / "sirene_non_localises.csv", dtype=str)
    partial = truth[truth["kind"] == "diffusion_partielle"]
    assert set(unlocated["siret"]) == set(partial["siret"])
    assert any("could not be placed" in n for n in report["notes"])


def test_missing_geolocation_uses_stock_lambert(counted):
    files, out, _ = counted
    paths = pd.read_csv(out / "sirene_chemins.csv")
    truth = files["verite"]
    polygon = paths.loc[paths["chemin_iris"] == "polygone", "n"].sum()
    assert polygon == truth["kind"].isin(["sans_geoloc", "qualite_faible"]).sum()


def test_counts_add_up_across_levels(counted):
    _, out, _ = counted
    totals = {lvl: gpd.read_parquet(out / f"{lvl}.parquet")[["livreurs", "vtc"]].sum() for lvl in LEVELS}
    rejected = pd.read_csv(out / "rejects.csv", dtype=str)
    assert rejected[rejected["niveau"] == "iris"].shape[0] <= 2     # zero-population IRIS, no establishment there
    for lvl in LEVELS[1:]:
        assert (totals[lvl] == totals["iris"]).all(), lvl


def test_qpv_counts_are_establishments_inside_polygons(counted):
    files, out, _ = counted
    truth = files["verite"]
    kept = truth[truth["kind"].isin(COUNTED) & (truth["code_qpv_vrai"] != "")]
    qpv = gpd.read_parquet(out / "qpv.parquet").set_index("code_qpv")
    expected = kept.groupby("code_qpv_vrai").size()
    got = (qpv["livreurs"] + qpv["vtc"])
    assert (got.reindex(expected.index) == expected).all()
    assert got.drop(expected.index).eq(0).all()


def test_summary_formula_and_labels(counted):
    files, out, report = counted
    synthese = pd.read_csv(out / "plateformes_synthese.csv").set_index("profession")
    qpv = gpd.read_parquet(out / "qpv.parquet")
    iris = gpd.read_parquet(out / "iris.parquet")
    for p in ("livreurs", "vtc"):
        assert synthese.loc[p, "en_qpv"] == qpv[p].sum()
        assert synthese.loc[p, "part_en_qpv"] == pytest.approx(qpv[p].sum() / iris[p].sum())
    assert iris["date_sirene"].iloc[0] == "2023-12-20"
    # not the sample's files, but generate_sirene.py leaves its SYNTHETIQUE.json beside them: flagged all the same
    assert iris["sirene_synthetique"].all() and qpv["sirene_synthetique"].all()
    assert all(f["synthetic"] and f["synthetic_marker"] for sid, p in report["inputs"].items() if sid.startswith("sirene_")
               for f in p["files"])
    assert all(not f["synthetic"] for sid, p in report["inputs"].items() if not sid.startswith("sirene_")
               for f in p["files"])
    dictionary = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))
    assert dictionary["sources"]["sirene_etablissements"]["synthetique"] and not dictionary["sources"]["rp_population"]["synthetique"]
    assert report["stats"]["plateformes"]["regle"]["ape_livreurs"] == "53.20Z"


def test_sample_run_labels_sirene_synthetic(sample_run):
    out, report = sample_run
    iris = gpd.read_parquet(out / "iris.parquet")
    assert iris["sirene_synthetique"].all()
    assert any(f["synthetic"] for f in report["inputs"]["sirene_etablissements"]["files"])


def test_over_representation_with_employed_residents(synthetic, tmp_path):
    """With the RP activité base (here a TEST FIXTURE: employed residents = 40 % of population,
    a made-up constant, not INSEE data), the Compas ratio is share in QPV / share of workers in QPV."""
    files, paths, _ = synthetic
    from indicators.sources.readers import read_rp_iris

    pop = read_rp_iris(SAMPLE_DIR / "rp_population/2016/base-ic-evol-struct-pop-2016.zip", "rp_population").frame
    act = pd.DataFrame({"IRIS": pop["code_iris"], "COM": pop["code_commune"],
                        "P16_ACTOCC15P": (pop["pop"] * 0.4).round(3).astype(str),
                        "P16_CHOM1564": (pop["pop"] * 0.05).round(3).astype(str),
                        "P16_ACT1564": (pop["pop"] * 0.45).round(3).astype(str)})
    # a made-up file is marked as one (the registry's rule), so the run labels it synthetic
    fixture = tmp_path / "activite_inventee"
    fixture.mkdir()
    act_zip = write_zip(fixture / "base-ic-activite-residents-2016.zip", {"base-ic-activite-residents-2016.CSV": csv_text(act)})
    (fixture / "SYNTHETIQUE.json").write_text('{"synthetic": true, "why": "test fixture: 40 % of population"}')
    report = run_local({**_inputs(paths), "rp_activite": [act_zip]}, tmp_path / "out", RunOptions())
    assert all(f["synthetic"] for f in report["inputs"]["rp_activite"]["files"])
    synthese = pd.read_csv(tmp_path / "out" / "plateformes_synthese.csv").set_index("profession")
    qpv = gpd.read_parquet(tmp_path / "out" / "qpv.parquet")
    regions = gpd.read_parquet(tmp_path / "out" / "regions.parquet")
    part_ao = qpv["actifs_occupes"].sum() / regions["actifs_occupes"].sum()
    for p in ("livreurs", "vtc"):
        assert synthese.loc[p, "part_actifs_occupes_en_qpv"] == pytest.approx(part_ao)
        assert synthese.loc[p, "surrepresentation"] == pytest.approx(synthese.loc[p, "part_en_qpv"] / part_ao)
        assert synthese.loc[p, "surrepresentation"] > 2     # the planted over-representation shows
    iris = gpd.read_parquet(tmp_path / "out" / "iris.parquet")
    row = iris[iris["livreurs"] > 0].iloc[0]
    assert row["livreurs_pour_mille"] == pytest.approx(1000 * row["livreurs"] / row["actifs_occupes"])
    national = iris["livreurs"].sum() / regions["actifs_occupes"].sum()
    assert row["quotient_localisation_livreurs"] == pytest.approx(row["livreurs"] / row["actifs_occupes"] / national)
    assert report["stats"]["plateformes"]["synthese"][0]["surrepresentation"] is not None


def test_parquet_edition_counts_the_same(synthetic, counted, tmp_path):
    _, _, parquet = synthetic
    _, out_csv, _ = counted
    run_local(_inputs(parquet), tmp_path, RunOptions())
    a = gpd.read_parquet(out_csv / "iris.parquet")[["code_iris", "livreurs", "vtc"]]
    b = gpd.read_parquet(tmp_path / "iris.parquet")[["code_iris", "livreurs", "vtc"]]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def _rewrite_csv(path: Path, target: Path, edit, sep: str) -> Path:
    with zipfile.ZipFile(path) as zf:
        name = zf.namelist()[0]
        df = pd.read_csv(zf.open(name), sep=sep, dtype=str, keep_default_na=False)
    df = edit(df)
    return write_zip(target, {name: csv_text(df, sep=sep)})


def test_missing_column_is_a_clear_error(synthetic, tmp_path):
    _, paths, _ = synthetic
    bad = _rewrite_csv(paths["etablissements"], tmp_path / "StockEtablissement_utf8.zip",
                       lambda d: d.drop(columns="caractereEmployeurEtablissement"), ",")
    with pytest.raises(InputError) as exc:
        run_local({**_inputs(paths), "sirene_etablissements": [bad]}, tmp_path / "out", RunOptions())
    assert exc.value.column == "caractereEmployeurEtablissement" and "StockEtablissement_utf8.zip" in str(exc.value)
    assert not (tmp_path / "out" / "iris.parquet").exists()


def test_truncated_zip_is_a_clear_error(synthetic, tmp_path):
    _, paths, _ = synthetic
    bad = tmp_path / "GeolocalisationEtablissement_Sirene_pour_etudes_statistiques_utf8.zip"
    data = paths["geolocalisation"].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt zip"):
        run_local({**_inputs(paths), "sirene_geolocalisation": [bad]}, tmp_path / "out", RunOptions())


def test_bad_coordinate_and_unknown_epsg_are_counted(synthetic, tmp_path):
    files, paths, _ = synthetic
    geo = files["geolocalisation"]
    weak = geo[geo["qualite_xy"] == "33"].index[:3]   # placed by their point: the point is what breaks

    def edit(d):
        d.loc[weak[0], "x"] = "12a45,6"
        d.loc[weak[1], "epsg"] = "9999"
        return d
    bad = _rewrite_csv(paths["geolocalisation"], tmp_path / "geo.zip", edit, ";")
    report = run_local({**_inputs(paths), "sirene_geolocalisation": [bad]}, tmp_path / "out", RunOptions())
    assert any("coordonnée illisible" in n and "EPSG inconnu" in n for n in report["notes"])
    unlocated = pd.read_csv(tmp_path / "out" / "sirene_non_localises.csv", dtype=str)
    reason = unlocated.set_index("siret")["raison"]
    assert reason[geo.loc[weak[1], "siret"]] == "EPSG inconnu"     # EPSG:9999 cannot be placed: reported
    chemins = pd.read_csv(tmp_path / "out" / "sirene_chemins.csv")
    total = chemins["n"].sum()
    counted_total = pd.read_csv(tmp_path / "out" / "sirene_exclusions.csv").query("statut == 'compté'")["n"].sum()
    assert total == counted_total                                   # nobody lost between the two


def test_report_says_rows_read_and_rows_kept(counted):
    """The legal units and geolocations are staged against the establishments kept: the report
    gives what was read and what was kept, and the kept rows are the candidates' only."""
    files, out, report = counted
    for sid, name in (("sirene_etablissements", "etablissements"), ("sirene_unites_legales", "unites_legales"),
                      ("sirene_geolocalisation", "geolocalisation")):
        entry = report["inputs"][sid]
        assert entry["rows_read"] == len(files[name])
        assert 0 < entry["rows"] < entry["rows_read"]
    candidates = files["etablissements"]["activitePrincipaleEtablissement"].isin(["53.20Z", "49.32Z"]).sum()
    assert report["inputs"]["sirene_etablissements"]["rows"] == candidates
    assert "rows staged (read)" in (out / "run_report.md").read_text(encoding="utf-8")


def test_a_broken_establishments_file_stops_the_run_before_reading_the_others(synthetic, tmp_path, monkeypatch):
    """Legal units and geolocations are read against the establishments kept: when the
    establishments cannot be read, the run names that file and does not read the other two."""
    import indicators.sources.staging as staging

    _, paths, _ = synthetic
    broken = tmp_path / "StockEtablissement_utf8.zip"
    raw = paths["etablissements"].read_bytes()
    broken.write_bytes(raw[: len(raw) // 2])
    read = []
    real = staging.stage_sirene
    monkeypatch.setattr(staging, "stage_sirene", lambda path, source, *a, **k: (read.append(source), real(path, source, *a, **k))[1])
    with pytest.raises(InputError) as exc:
        run_local({**_inputs(paths), "sirene_etablissements": [broken]}, tmp_path / "out", RunOptions())
    assert str(broken) in str(exc.value)
    assert read == ["sirene_etablissements"]
