"""Where the files of a generated SYNTHETIC national dataset are (generate_national.py writes them):
kept apart from the generator so that a timed refresh does not pay for importing it."""

from __future__ import annotations

from pathlib import Path

SIRENE_EDITIONS = ("2024", "2024-02")   # a stock and the next month's
DATASET_VERSION = 4                     # 2: national 200 m grid, BPE and ARCEP, two SIRENE editions; 3: cities at urban density inside their département; 4: the geolocation parquet's coordinates float32, as published


# Sources of the dataset read only when the registry knows them (their readers are recent).
OPTIONAL = {"insee_bpe": "insee_bpe/2019/bpe19_ensemble_csv.zip",
            "arcep_fixe": "arcep_fixe/2019/commune-debit-beta.csv"}


def inputs(out: Path, sirene: str = "zip", edition: str = SIRENE_EDITIONS[0]) -> dict[str, list[Path]]:
    """The --input map of a generated dataset; `edition`: which monthly SIRENE stock."""
    s = out / "sirene" / edition
    ext = "zip" if sirene == "zip" else "parquet"
    given = {
        "rp_population": [out / "rp_population/2016/base-ic-evol-struct-pop-2016.zip"],
        "rp_familles": [out / "rp_familles/2016/base-ic-couples-familles-menages-2016.zip"],
        "rp_diplomes": [out / "rp_diplomes/2016/base-ic-diplomes-formation-2016.zip"],
        "rp_activite": [out / "rp_activite/2016/base-ic-activite-residents-2016.zip"],
        "filosofi_iris": [out / "filosofi_iris/2015/BASE_TD_FILO_DISP_IRIS_2015.csv"],
        "filosofi_communes": [out / "filosofi_communes/2016/base-cc-filosofi-2016.zip"],
        "contours_iris": [out / "contours_iris/2016/CONTOURS-IRIS.7z"],
        "epci_composition": [out / "epci_composition/2020/composition_communale.csv"],
        "qpv_contours_2015": [out / "qpv_contours_2015/2015/qp-politiquedelaville-shp.zip"],
        "insee_qpv_demo": [out / "insee_qpv_demo/2020/data_DEMO_2020_V1_QP.csv"],
        "filosofi_200m": [out / "filosofi_200m/2019/Filosofi2019_carreaux_200m_csv.zip"],
        "filosofi_200m_emprise": [out / "filosofi_200m/2019/emprise.csv"],
        "sirene_etablissements": [s / f"StockEtablissement_utf8.{ext}"],
        "sirene_unites_legales": [s / f"StockUniteLegale_utf8.{ext}"],
        "sirene_geolocalisation": [s / f"GeolocalisationEtablissement_Sirene_pour_etudes_statistiques_utf8.{ext}"],
    }
    from indicators.sources.registry import load_registry
    known = set(load_registry())
    for sid, rel in OPTIONAL.items():
        if sid in known and (out / rel).exists():
            given[sid] = [out / rel]
    return given
