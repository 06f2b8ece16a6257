"""Readers: every published layout they claim, and a clear error for each kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from indicators import SAMPLE_DIR
from indicators.errors import InputError
from indicators.sources.readers import (read_contours_iris, read_epci_composition, read_filosofi_communes,
                                read_filosofi_iris, read_mednum, read_rp_iris)
from indicators.sources.readers.mednum import canonical_header, iris_frame

from .conftest import MEDNUM_DIR
from .helpers import csv_text, rp_frame, write_zip


def test_rp_sample_reads_real_counts():
    t = read_rp_iris(SAMPLE_DIR / "rp_population/2016/base-ic-evol-struct-pop-2016.zip", "rp_population")
    assert t.millesime == 2016
    assert len(t.frame) == 4153
    # Ventenac (09327), a real RP 2016 value carried by the MedNum file
    row = t.frame.set_index("code_iris").loc["093270000"]
    assert row["pop"] == 233 and abs(row["pop65p"] - 52.548936170) < 1e-9


@pytest.mark.parametrize("member", ["base-ic-evol-struct-pop-2019.CSV", "base-ic-evol-struct-pop-2019.csv"])
def test_rp_any_vintage_and_extension_case(tmp_path, member):
    df = rp_frame("P19")
    path = write_zip(tmp_path / "rp.zip", {member: csv_text(df), "meta_" + member: "COD_VAR;LIB_VAR\n"})
    t = read_rp_iris(path, "rp_population")
    assert t.millesime == 2019
    assert list(t.frame["pop"]) == [2000.5] * 3


def test_rp_2017_and_later_need_bepc(tmp_path):
    df = pd.DataFrame({"IRIS": ["301890101"], "COM": ["30189"], "P17_NSCOL15P": ["100"],
                       "P17_NSCOL15P_DIPLMIN": ["20"]})
    path = tmp_path / "dipl.csv"
    path.write_text(csv_text(df))
    with pytest.raises(InputError) as exc:
        read_rp_iris(path, "rp_diplomes")
    assert exc.value.column == "P17_NSCOL15P_BEPC"


def test_rp_xlsx_with_title_rows(tmp_path):
    """The older INSEE workbook: title rows, header on line 6, sheet IRIS."""
    df = rp_frame("P16")
    path = tmp_path / "base-ic-evol-struct-pop-2016.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([["Recensement 2016"], [""], [""], [""], [""]]).to_excel(writer, sheet_name="IRIS", header=False, index=False)
        df.to_excel(writer, sheet_name="IRIS", startrow=5, index=False)
    t = read_rp_iris(path, "rp_population")
    assert t.millesime == 2016 and len(t.frame) == 3
    assert t.frame["code_iris"].tolist()[0] == "301890101"


def test_rp_secret_is_null_not_zero(tmp_path):
    df = rp_frame("P16")
    df.loc[0, "P16_POP65P"] = ""
    df.loc[1, "P16_POP65P"] = "s"
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    frame = read_rp_iris(path, "rp_population").frame
    assert frame["pop65p"].isna().tolist() == [True, True, False]


def test_rp_non_numeric_names_file_column_rows(tmp_path):
    df = rp_frame("P16", rows=5)
    df.loc[3, "P16_POP1529"] = "12,5x"
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    with pytest.raises(InputError) as exc:
        read_rp_iris(path, "rp_population")
    assert exc.value.column == "P16_POP1529"
    assert exc.value.rows == [5]           # header is line 1, so the 4th data row is line 5
    assert "rp.csv" in str(exc.value)


def test_rp_missing_column(tmp_path):
    df = rp_frame("P16").drop(columns="P16_POP65P")
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    with pytest.raises(InputError, match="missing column") as exc:
        read_rp_iris(path, "rp_population")
    assert exc.value.column == "P16_POP65P"


def test_rp_wrong_separator(tmp_path):
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(rp_frame("P16"), sep=","))
    with pytest.raises(InputError, match="wrong separator"):
        read_rp_iris(path, "rp_population")


def test_rp_duplicated_iris(tmp_path):
    df = rp_frame("P16", rows=4)
    df.loc[2, "IRIS"] = df.loc[0, "IRIS"]
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    with pytest.raises(InputError, match="duplicated") as exc:
        read_rp_iris(path, "rp_population")
    assert exc.value.rows == [2, 4]


def test_rp_mixed_or_old_vintage(tmp_path):
    df = rp_frame("P16").rename(columns={"P16_POP65P": "P17_POP65P"})
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    with pytest.raises(InputError, match="several vintages"):
        read_rp_iris(path, "rp_population")
    path.write_text(csv_text(rp_frame("P13")))
    with pytest.raises(InputError, match="unexpected vintage prefix P13_"):
        read_rp_iris(path, "rp_population")


def test_truncated_zip(tmp_path):
    good = SAMPLE_DIR / "rp_population/2016/base-ic-evol-struct-pop-2016.zip"
    bad = tmp_path / "base-ic-evol-struct-pop-2016.zip"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated"):
        read_rp_iris(bad, "rp_population")


def test_codes_keep_zeros_and_corsica(tmp_path):
    df = rp_frame("P16", rows=2)
    df["IRIS"] = ["2A0040101", "10010000"]   # Corsica, and a code that lost its zero
    df["COM"] = ["2A004", "1001"]
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    frame = read_rp_iris(path, "rp_population").frame
    assert frame["code_iris"].tolist() == ["2A0040101", "010010000"]
    assert frame["code_commune"].tolist() == ["2A004", "01001"]


@pytest.mark.parametrize("name", ["BASE_TD_FILO_DISP_IRIS_2015.csv", "BASE_TD_FILO_IRIS_2015_DISP.csv"])
def test_filosofi_iris_both_name_orders(tmp_path, name):
    src = (SAMPLE_DIR / "filosofi_iris/2015/BASE_TD_FILO_DISP_IRIS_2015.csv").read_text()
    (tmp_path / name).write_text(src)
    t = read_filosofi_iris(tmp_path / name)
    assert t.millesime == 2015
    row = t.frame.set_index("code_iris").loc["301890101"]
    # poverty rate is published in %, carried as a share
    assert 0 < row["disp_tp60"] < 1


def test_filosofi_secret_blank_is_null():
    t = read_filosofi_iris(SAMPLE_DIR / "filosofi_iris/2015/BASE_TD_FILO_DISP_IRIS_2015.csv")
    assert t.frame["disp_tp60"].isna().sum() > 0          # secret IRIS exist in the real file
    assert (t.frame["disp_tp60"] == 0).sum() == 0


def test_filosofi_communes():
    t = read_filosofi_communes(SAMPLE_DIR / "filosofi_communes/2016/base-cc-filosofi-2016.zip")
    assert t.millesime == 2016
    assert t.frame.set_index("code_commune").loc["09002", "med"] == 18763


def test_contours_two_crs_in_one_delivery():
    df = read_contours_iris(SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z")
    assert dict(df["epsg"].value_counts()) == {2154: 4012, 5490: 141}
    mtq = df[df["code_iris"].str.startswith("972")].iloc[0]["geometry"]
    # Martinique in UTM 20N: eastings around 700 km, northings around 1 600 km
    x, y = mtq.centroid.x, mtq.centroid.y
    assert 650_000 < x < 760_000 and 1_580_000 < y < 1_660_000


def test_contours_crs_from_folder_without_prj(tmp_path):
    import py7zr

    with py7zr.SevenZipFile(SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z") as a:
        a.extractall(tmp_path)
    for prj in tmp_path.rglob("*.prj"):
        prj.unlink()
    df = read_contours_iris(tmp_path)
    assert set(df["epsg"]) == {2154, 5490}


def test_epci_composition_workbook():
    df = read_epci_composition(SAMPLE_DIR / "epci_composition/2020/Intercommunalite-Metropole_au_01-01-2020.xlsx")
    row = df.set_index("code_commune").loc["09327"]
    assert row["code_epci"] == "240900332" and row["code_departement"] == "09" and row["code_region"] == "76"
    assert df.set_index("code_commune").loc["97209", "code_departement"] == "972"


def _mednum_with_header(tmp_path: Path, pad: bool) -> Path:
    header = canonical_header()
    with gzip.open(MEDNUM_DIR / "09.csv.gz", "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh, sep=";", header=None, names=header, dtype=str, keep_default_na=False)
    if pad:
        df["Code Iris"] = df["Code Iris"].str.zfill(9)
        df["Insee Com"] = df["Insee Com"].str.zfill(5)
    path = tmp_path / "09_with_header.csv"
    path.write_text("\ufeff" + csv_text(df), encoding="utf-8")
    return path


@pytest.mark.parametrize("pad", [False, True])
def test_mednum_with_or_without_header(tmp_path, pad):
    bare = iris_frame(read_mednum(MEDNUM_DIR / "09.csv.gz"))
    headed = iris_frame(read_mednum(_mednum_with_header(tmp_path, pad)))
    assert bare["code_iris"].tolist() == headed["code_iris"].tolist()
    assert bare["code_iris"].str.len().eq(9).all() and bare["code_iris"].iloc[0] == "093270000"
    assert np.allclose(bare["fam"], headed["fam"])
    # "0" for a commune without a published median is a missing value, not an income of 0
    assert bare["med_commune"].isna().sum() > 0 and (bare["med_commune"] == 0).sum() == 0


def test_mednum_wrong_width(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1;2;3\n4;5;6\n")
    with pytest.raises(InputError, match="152"):
        read_mednum(path)


def test_rp_old_xls_inside_zip(tmp_path):
    """RP 2016 was first published as .xls: 5 title rows, header on line 6, sheet IRIS, in a zip."""
    import xlwt

    df = rp_frame("P16")
    book = xlwt.Workbook()
    sheet = book.add_sheet("IRIS")
    sheet.write(0, 0, "Recensement de la population 2016 - Base infracommunale")
    for j, col in enumerate(df.columns):
        sheet.write(5, j, col)
        for i, value in enumerate(df[col]):
            # INSEE stores counts as numbers and codes as text
            sheet.write(6 + i, j, float(value) if col.startswith("P16_") else value)
    xls = tmp_path / "base-ic-evol-struct-pop-2016.xls"
    book.save(str(xls))
    path = write_zip(tmp_path / "base-ic-evol-struct-pop-2016.zip", {xls.name: xls.read_bytes()})
    t = read_rp_iris(path, "rp_population")
    assert t.millesime == 2016
    assert t.frame["code_iris"].tolist() == df["IRIS"].tolist()
    assert t.frame["pop"].tolist() == [2000.5] * 3 and t.frame["pop65p"].tolist() == [300.25] * 3


def test_workbook_errors_cite_workbook_rows(tmp_path):
    df = rp_frame("P16")
    df.loc[1, "P16_POP"] = "abc"
    path = tmp_path / "pop.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([["titre"], [""], [""], [""], [""]]).to_excel(writer, sheet_name="IRIS", header=False, index=False)
        df.to_excel(writer, sheet_name="IRIS", startrow=5, index=False)
    with pytest.raises(InputError) as exc:
        read_rp_iris(path, "rp_population")
    assert exc.value.rows == [8]     # header on line 6, second data row on line 8


def test_decimal_comma_is_read(tmp_path):
    df = rp_frame("P19")
    df["P19_POP"] = ["2000,5", "1500,25", "s"]
    path = tmp_path / "rp.csv"
    path.write_text(csv_text(df))
    frame = read_rp_iris(path, "rp_population").frame
    assert frame["pop"].tolist()[:2] == [2000.5, 1500.25] and np.isnan(frame["pop"].iloc[2])
    assert frame["pop1529"].tolist() == [400.0] * 3            # other columns unaffected


def test_contours_newer_ign_field_names(tmp_path):
    """The GeoPackage deliveries name the fields code_insee, nom_commune, type_iris…"""
    import geopandas as gpd

    df = read_contours_iris(SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z")
    part = df[df["epsg"] == 2154].head(20)
    gpkg = gpd.GeoDataFrame({"code_insee": part["code_commune"], "nom_commune": part["nom_commune"],
                             "iris": part["code_iris"].str[5:], "code_iris": part["code_iris"],
                             "nom_iris": part["nom_iris"], "type_iris": part["typ_iris"]},
                            geometry=list(part["geometry"]), crs=2154)
    path = tmp_path / "iris.gpkg"
    gpkg.to_file(path, driver="GPKG")
    got = read_contours_iris(path)
    assert got["code_iris"].tolist() == part["code_iris"].tolist() and set(got["epsg"]) == {2154}
