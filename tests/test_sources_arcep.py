"""ARCEP fixed coverage reader, on ARCEP's own bytes (../shared/data/real, SOURCES.md 6 and 9)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from indicators.errors import FragiliteError, InputError
from indicators.sources.readers.arcep import (DEFAULT_SPEED_MBITS, SPEED_CLASSES, classes_at_or_above,
                                              premises_at_or_above, read_arcep_fixe)

from .breakers import (drop_column, duplicate_row, lines_of, other_separator, set_cell, text, truncated,
                       zipped)
from .conftest import SHARED

REAL = SHARED / "data/real"
DEBITS = REAL / "arcep_mednum_batch8_commune/commune-debit-beta.csv.gz"
FTTH = REAL / "arcep_ftth_2018T1"
pytestmark = pytest.mark.skipif(not DEBITS.exists(), reason="../shared/data/real not beside the checkout")


def test_debits_beta_file_as_published():
    t = read_arcep_fixe(DEBITS)
    assert t.format == "debits" and t.millesime == 2019
    assert len(t.frame) == 35359 and t.frame["code_commune"].is_unique
    # the classes split the premises exactly: the share at any bound is a share of nbr
    assert (t.frame[list(SPEED_CLASSES)].sum(axis=1) == t.frame["locaux"]).all()
    lyon = t.frame.set_index("code_commune").loc["69123"]   # a row read by hand from the file
    assert lyon["locaux"] == 378636 and lyon["elig_thd1g"] == 359230 and lyon["inel_hd"] == 38
    assert premises_at_or_above(t.frame.set_index("code_commune").loc[["69123"]], 30).iloc[0] == 2118 + 60 + 359230
    assert t.frame["locaux_ftth"].isna().all()


def test_speed_threshold_is_a_class_bound():
    assert DEFAULT_SPEED_MBITS == 3.0
    assert classes_at_or_above(3) == ["elig_hd3", "elig_hd8", "elig_thd30", "elig_thd100", "elig_thd1g"]
    assert classes_at_or_above(30) == ["elig_thd30", "elig_thd100", "elig_thd1g"]
    with pytest.raises(FragiliteError, match="0.5, 3, 8, 30, 100, 1000"):
        classes_at_or_above(10)


def test_plain_csv_and_zip_of_it_read_the_same(tmp_path):
    plain = tmp_path / "commune-debit-beta.csv"
    plain.write_bytes(gzip.decompress(DEBITS.read_bytes()))
    archive = tmp_path / "commune-debit-beta.zip"
    archive.write_bytes(zipped("commune-debit-beta.csv", plain.read_bytes()))
    a, b = read_arcep_fixe(plain).frame, read_arcep_fixe(archive).frame
    assert a.equals(b) and len(a) == 35359


def test_ftth_export_files_and_both_zipped(tmp_path):
    premises = read_arcep_fixe(FTTH / "communes.csv")
    ftth = read_arcep_fixe(FTTH / "ftthCommunes.csv")
    assert premises.format == ftth.format == "ftth" and ftth.millesime == 2018
    p = premises.frame.set_index("code_commune")
    f = ftth.frame.set_index("code_commune")
    # Paris: "1 362 182" dwellings and "149 289" establishments, narrow no-break spaces in the file
    assert p.loc["75056", "locaux"] == 1362182 + 149289
    assert p.loc["64001", "locaux"] == 81            # "-" establishments is zero
    assert f.loc["31555", "locaux_ftth"] == 218073 and f.loc["31555", "date_arcep"] == "T1 2018"  # latest quarter
    assert len(p) == len(f) == 35361
    pair = tmp_path / "arcep_ftth_2018T1.zip"
    with open(pair, "wb") as fh:
        import zipfile
        with zipfile.ZipFile(fh, "w") as zf:
            zf.write(FTTH / "communes.csv", "communes.csv")
            zf.write(FTTH / "ftthCommunes.csv", "ftthCommunes.csv")
    both = read_arcep_fixe(pair).frame.set_index("code_commune")
    assert both.loc["31555", "locaux"] == p.loc["31555", "locaux"]
    assert both.loc["31555", "locaux_ftth"] == 218073


def _broken(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


LINES = None


def debits_lines():
    global LINES
    if LINES is None:
        LINES = lines_of(DEBITS, limit=40)   # the disclaimer, the header and 38 real rows
    return LINES


def test_debits_missing_column(tmp_path):
    path = _broken(tmp_path, "d.csv", drop_column(debits_lines(), 1, "elig_thd30", ";"))
    with pytest.raises(InputError, match="missing column") as exc:
        read_arcep_fixe(path)
    assert exc.value.column == "elig_thd30" and exc.value.file == str(path)


def test_debits_wrong_separator(tmp_path):
    path = _broken(tmp_path, "d.csv", other_separator(debits_lines(), 1, ";"))
    with pytest.raises(InputError, match="wrong separator"):
        read_arcep_fixe(path)


@pytest.mark.parametrize("kind", ["zip", "gz"])
def test_debits_truncated_archive(tmp_path, kind):
    data = text(debits_lines())
    packed = zipped("d.csv", data) if kind == "zip" else gzip.compress(data)
    path = _broken(tmp_path, f"d.csv.{kind}" if kind == "gz" else "d.zip", truncated(packed))
    with pytest.raises(InputError, match="truncated"):
        read_arcep_fixe(path)


def test_debits_duplicated_code(tmp_path):
    data, lines = duplicate_row(debits_lines(), 1, row=3)
    with pytest.raises(InputError, match="duplicated") as exc:
        read_arcep_fixe(_broken(tmp_path, "d.csv", data))
    assert exc.value.column == "code_insee" and exc.value.rows == lines


def test_debits_non_numeric_cell(tmp_path):
    data, line = set_cell(debits_lines(), 1, 5, "elig_hd8", "12 abc", ";")
    with pytest.raises(InputError, match="non-numeric") as exc:
        read_arcep_fixe(_broken(tmp_path, "d.csv", data))
    assert exc.value.column == "elig_hd8" and exc.value.rows == [line]


def test_debits_classes_must_add_up(tmp_path):
    lines = debits_lines()
    row = lines[2].split(";")
    data, line = set_cell(lines, 1, 1, "elig_thd1g", str(int(row[12]) + 1), ";")
    with pytest.raises(InputError, match="do not add up") as exc:
        read_arcep_fixe(_broken(tmp_path, "d.csv", data))
    assert exc.value.rows == [line]


def test_technology_layout_is_refused_with_the_reason(tmp_path):
    path = _broken(tmp_path, "d.csv", text(["code_insee;nbr;elig_ftth;elig_coax;elig_cu_30;elig_sat",
                                            "31555;100;80;10;50;100"]))
    with pytest.raises(InputError, match="overlap"):
        read_arcep_fixe(path)


def test_ftth_faults(tmp_path):
    lines = lines_of(FTTH / "ftthCommunes.csv", limit=25)
    data, dup = duplicate_row(lines, 4, row=1)        # "01001,Locaux Raccordables" again
    with pytest.raises(InputError, match="duplicated") as exc:
        read_arcep_fixe(_broken(tmp_path, "ftthCommunes.csv", data))
    assert exc.value.rows == dup
    data, line = set_cell(lines, 4, 3, "T1 2018", "n/a", ",")
    with pytest.raises(InputError, match="non-numeric") as exc:
        read_arcep_fixe(_broken(tmp_path, "ftthCommunes.csv", data))
    assert exc.value.column == "T1 2018" and exc.value.rows == [line]
    with pytest.raises(InputError, match="wrong separator"):
        read_arcep_fixe(_broken(tmp_path, "ftthCommunes.csv", other_separator(lines, 4, ",")))
    premises = lines_of(FTTH / "communes.csv", limit=25)
    with pytest.raises(InputError, match="missing column") as exc:
        read_arcep_fixe(_broken(tmp_path, "communes.csv", drop_column(premises, 4, "Établissements", ",")))
    assert exc.value.column == "Établissements"
    assert np.isfinite(read_arcep_fixe(_broken(tmp_path, "communes.csv", text(premises))).frame["locaux"]).all()
