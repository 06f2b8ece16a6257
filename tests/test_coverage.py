"""Units only part of whose territory is in the inputs (stages/coverage.py): said, never passed off
as the whole."""

from __future__ import annotations

import duckdb
import geopandas as gpd
import pandas as pd

from indicators.stages.coverage import partial_units


def test_the_samples_region_is_said_to_be_partial(sample_run):
    """The sample holds 11 of Occitanie's 13 départements: its région layer's only unit is scored
    from them, against thresholds computed on them (reference région, the default)."""
    out, report = sample_run
    said = [n for n in report["notes"] if n.startswith("regions:")]
    assert len(said) == 1
    assert "76 Occitanie (11 of its 13 départements)" in said[0] and "--reference region" in said[0]
    # and in the layer a GIS user opens: Martinique (972, its one département) is whole
    regions = gpd.read_parquet(out / "regions.parquet").set_index("code_region")["territoire_complet"]
    assert regions.to_dict() == {"02": True, "76": False}


def iris(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["code_commune", "code_epci", "code_departement", "code_region"]).assign(
        nom_epci=lambda d: "CC " + d["code_epci"])


def test_an_epci_missing_communes_of_the_composition_file_is_named():
    con = duckdb.connect()
    composition = pd.DataFrame({"code_commune": ["01001", "01002", "01003", "01004", "01005"],
                                "code_epci": ["200000001", "200000001", "200000001", "200000002", "ZZZZZZZZZ"]})
    con.register("raw_epci_composition", composition)
    # Ain (01) is alone in Auvergne-Rhône-Alpes' 12 départements here: the région is partial too
    # Paris filed under région 84 (inputs of another vintage, or wrong): not one of 84's départements
    notes, flags = partial_units(con, iris([("01001", "200000001", "01", "84"), ("01002", "200000001", "01", "84"),
                                            ("01004", "200000002", "01", "84"), ("01005", None, "01", "84"),
                                            ("75101", None, "75", "84")]), None)
    assert flags["epci"].to_dict() == {"200000001": False, "200000002": True}
    epci = [n for n in notes if n.startswith("epci:")]
    assert len(epci) == 1 and "200000001 CC 200000001 (2 of its 3 communes)" in epci[0]
    assert "200000002" not in epci[0] and "thresholds" not in epci[0]   # whole; thresholds given
    assert any(n.startswith("regions:") and "84 Auvergne-Rhône-Alpes (1 of its 12 départements)" in n for n in notes)
    # every commune present: nothing said
    whole = iris([(c, e, "01", "84") for c, e in zip(composition["code_commune"][:4], composition["code_epci"][:4])])
    notes, flags = partial_units(con, whole, "epci")
    assert [n for n in notes if n.startswith("epci:")] == [] and flags["epci"].all()
    # an IRIS of the contours alone (absent from the census) brings no count: its commune is missing
    contours_only = whole.assign(in_rp=[True, True, False, True])
    notes, flags = partial_units(con, contours_only, None)
    assert not flags["epci"]["200000001"] and "(2 of its 3 communes)" in " ".join(notes)
    # an EPCI the composition file does not list: not known to be whole or not
    unknown = iris([("01009", "200000009", "01", "84")])
    assert partial_units(con, unknown, None)[1]["epci"].isna().all()
