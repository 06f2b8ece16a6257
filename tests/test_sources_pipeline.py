"""The four-axis index on the sample: ARCEP coverage and BPE services in every layer, each
commune equal to its source, every method scoring at every reference, user commune figures."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from indicators import SAMPLE_DIR
from indicators.db import connect
from indicators.errors import FragiliteError
from indicators.pipeline import complete_with_empty, plan, run_local, stage_all, staged_paths
from indicators.sources.readers.bpe import PUBLIC_SERVICES
from indicators.stages import counts as counts_stage
from indicators.stages.compute import RunOptions
from indicators.stages.levels import LEVELS
from indicators.stages.scoring import REFERENCES, score_levels

from .conftest import SHARED

ARCEP = SAMPLE_DIR / "arcep_fixe/2019/commune-debit-beta.csv"
BPE = SAMPLE_DIR / "insee_bpe/2019/bpe19_ensemble_csv.zip"
WORKBOOK = SHARED / ("data/real/ifn_method/VF - Geolocaliser les zones de fragilite numerique sur un territoire"
                     " - matrice de calcul exemple SICOVAL-2.xlsx")


def arcep_shares(speed_classes=("elig_hd3", "elig_hd8", "elig_thd30", "elig_thd100", "elig_thd1g")) -> pd.Series:
    """The share at 3 Mbit/s, computed from ARCEP's file directly (not through the reader)."""
    a = pd.read_csv(ARCEP, sep=";", skiprows=1, dtype={"code_insee": str})
    a = a[a["nbr"] > 0].set_index("code_insee")
    return a[list(speed_classes)].sum(axis=1) / a["nbr"]


def bpe_sums() -> pd.Series:
    with zipfile.ZipFile(BPE) as zf:
        b = pd.read_csv(zf.open("bpe19_ensemble.csv"), sep=";", dtype={"DEPCOM": str, "DCIRIS": str})
    return b[b["TYPEQU"].isin(PUBLIC_SERVICES)].groupby("DEPCOM")["NB_EQUIP"].sum()


def test_default_run_fills_coverage_and_services(sample_run):
    out, _ = sample_run
    iris = gpd.read_parquet(out / "iris.parquet")
    assert iris["ind_couverture_fixe"].notna().mean() >= 0.95
    assert iris["ind_services_publics"].notna().mean() >= 0.95
    assert (iris["n_indicateurs"] >= 8).mean() >= 0.75
    assert (iris["num_services_publics"] == 0).any()      # no listed type: 0, not NULL


def test_communes_equal_arcep_and_bpe(sample_run):
    out, _ = sample_run
    communes = gpd.read_parquet(out / "communes.parquet").set_index("code_commune")
    shares = arcep_shares().reindex(communes.index)
    assert shares.notna().mean() > 0.98          # ARCEP's beta lists a few communes with 0 premises: no rate
    assert np.abs(communes["ind_couverture_fixe"] - shares).max() < 1e-9
    assert communes.loc[shares.isna(), "ind_couverture_fixe"].isna().all()
    sums = bpe_sums().reindex(communes.index).fillna(0.0)   # a commune absent from the BPE: 0
    assert np.abs(communes["num_services_publics"] - sums).max() < 1e-9
    assert np.abs(communes["den_services_publics"] - communes["population"]).max() < 1e-6


def test_iris_add_up_to_their_commune(sample_run):
    out, _ = sample_run
    iris = gpd.read_parquet(out / "iris.parquet")
    communes = gpd.read_parquet(out / "communes.parquet").set_index("code_commune")
    rejected = pd.read_csv(out / "rejects.csv", dtype=str)
    whole = ~iris["code_commune"].isin(rejected.loc[rejected["niveau"] == "iris", "code"].str[:5])
    sums = iris[whole].groupby("code_commune")[["num_couverture_fixe", "den_couverture_fixe",
                                                "num_services_publics"]].sum()
    for col in sums.columns:
        assert np.allclose(sums[col], communes.loc[sums.index, col], rtol=1e-12, atol=1e-9), col
    # every IRIS shows its commune's coverage rate
    rate = iris.loc[iris["ind_couverture_fixe"].notna()]
    assert np.abs(rate["ind_couverture_fixe"] - communes.loc[rate["code_commune"], "ind_couverture_fixe"].to_numpy()).max() < 1e-12


def test_unmatched_rows_are_reported(sample_run):
    out, report = sample_run
    table = pd.read_csv(out / "sources_non_rattachees.csv", dtype={"code": str})
    arcep = table[table["source"] == "arcep_fixe"]
    # the sample's ARCEP rows hold 36 communes its census does not know (SOURCES.md 9; README of the sample)
    assert len(arcep) == 36 and {"12223", "12270", "48146"} <= set(arcep["code"])
    assert (arcep["quantite"] == 0).sum() == 29                # absorbed communes, listed with 0 premises
    origins = report["stats"]["sources_communales"]
    assert origins["non_rattaches"]["arcep_fixe"]
    assert "sources_non_rattachees.csv" in (out / "run_report.md").read_text()


def test_dictionary_says_where_each_indicator_comes_from(sample_run):
    out, _ = sample_run
    d = json.loads((out / "dictionary.json").read_text())
    assert all(code in d["columns"]["num_services_publics"]["source"] for code in PUBLIC_SERVICES)
    assert "3 Mbit/s" in d["columns"]["ind_couverture_fixe"]["source"]
    assert "ménages" in d["notes"]["couverture_fixe"]
    assert "kit-2020" in d["notes"]["indicateurs_absents"]


@pytest.fixture(scope="module")
def sample_counts(sample_run, tmp_path_factory):
    """The sample's counts of every level, from the staged files the session run left in its cache."""
    out, _ = sample_run
    staged, failures = stage_all(plan({}), out, ["53.20Z", "49.32Z"])
    assert not failures
    paths = complete_with_empty(staged_paths(staged), tmp_path_factory.mktemp("work"))
    con = connect(threads=1)
    counts = counts_stage.ifn_counts(con, paths)
    con.close()
    return counts


@pytest.mark.parametrize("method", ["ifn-2020", "kit-2020", "d4g-2020"])   # ifn-2023 ranks deciles: tests/test_ifn2023.py
@pytest.mark.parametrize("reference", REFERENCES)
def test_every_method_scores_the_sample_at_every_reference(sample_counts, method, reference):
    counts = {level: df.copy() for level, df in sample_counts.items()}
    notes: list[str] = []
    results = score_levels(counts, LEVELS, method, reference, None, None, notes)
    for level, df in results.items():
        scored = df["score_global"].notna().mean()
        assert scored >= 0.95, f"{method} {reference} {level}: {scored:.1%} scored; {notes}"
    if method == "kit-2020":   # the blank columns' rule is said (d4g-2020 has its six indicators)
        assert any("couverture_mobile" in n for n in notes)


def test_a_run_scoring_nothing_stops_and_leaves_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    previous = {"iris.parquet": b"previous layer", "run_report.md": b"previous report"}
    for name, data in previous.items():
        (out / name).write_bytes(data)
    thr = tmp_path / "seuils.csv"
    thr.write_text("reference;personnes_65_plus\n99;0.2\n")   # a région the sample does not hold
    with pytest.raises(FragiliteError, match="could be scored") as exc:
        run_local({}, out, RunOptions(thresholds=thr, territory=["48"]))
    assert "no threshold" in str(exc.value)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == previous


@pytest.mark.skipif(not WORKBOOK.exists(), reason="../shared/data/real not beside the checkout")
def test_user_commune_figures_fill_and_override(tmp_path):
    figures = tmp_path / "communes.csv"
    figures.write_text("code_commune;nom;couverture_mobile;services_publics;revenu_median\n"
                       "48095;Mende;0.97;0.002;21000\n48061;Florac;0.8;;\n99999;Nulle part;0.5;;\n")
    out = tmp_path / "out"
    given = {"indicateurs_communes": [figures, WORKBOOK]}   # the SICOVAL communes match no unit here
    report = run_local(given, out, RunOptions(territory=["48"]))
    communes = gpd.read_parquet(out / "communes.parquet").set_index("code_commune")
    assert communes.loc["48095", "ind_couverture_mobile"] == pytest.approx(0.97, abs=1e-12)
    assert communes.loc["48061", "ind_couverture_mobile"] == pytest.approx(0.8, abs=1e-12)
    assert communes.loc["48095", "ind_services_publics"] == pytest.approx(0.002, abs=1e-12)   # replaces the BPE's
    assert communes.loc["48061", "ind_services_publics"] != pytest.approx(0.002)             # blank: the BPE's kept
    assert communes.loc["48095", "ind_revenu_median"] == 21000
    iris = gpd.read_parquet(out / "iris.parquet")
    mende = iris[iris["code_commune"] == "48095"]
    assert np.allclose(mende["ind_couverture_mobile"], 0.97)
    assert communes["ind_couverture_mobile"].notna().sum() == 2
    table = pd.read_csv(out / "sources_non_rattachees.csv", dtype={"code": str})
    assert set(table.loc[table["source"] == "indicateurs_communes", "code"]) >= {"99999", "31004", "31578"}
    d = json.loads((out / "dictionary.json").read_text())
    assert "indicateurs_communes" in d["columns"]["ind_couverture_mobile"]["source"]
    assert "couverture_mobile" in (out / "run_report.md").read_text()
    assert report["stats"]["sources_communales"]["indicateurs"]["couverture_mobile"]


def test_ifn_coverage_points_are_capped():
    """Near-universal coverage makes the non-coverage ratio explode (0 % covered against a 0.14 %
    regional non-coverage: 71 000 points); ifn-2020 caps it at 200, like income and services."""
    from indicators.stages.methods import score_frame

    values = pd.DataFrame({"couverture_fixe": [0.0, 0.9986, 0.999], "personnes_65_plus": [0.2, 0.2, 0.2]})
    thresholds = pd.DataFrame({"couverture_fixe": [0.9986] * 3, "personnes_65_plus": [0.2] * 3})
    pts = score_frame("ifn-2020", values, thresholds)["pts_couverture_fixe"]
    assert pts.iloc[0] == 200 and pts.iloc[1] == pytest.approx(100) and pts.iloc[2] == pytest.approx(100 * 0.001 / 0.0014)
