"""Commune indicators the user brings: the kit's own sheet (the SICOVAL workbook) or a plain CSV."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from indicators.errors import InputError
from indicators.sources.readers.indicateurs_communes import (INDICATOR_IDS, KIT_COLUMNS,
                                                             read_indicateurs_communes)

from .breakers import drop_column, duplicate_row, other_separator, set_cell, text
from .conftest import FIXTURES, SHARED

WORKBOOK = SHARED / ("data/real/ifn_method/VF - Geolocaliser les zones de fragilite numerique sur un territoire"
                     " - matrice de calcul exemple SICOVAL-2.xlsx")
SICOVAL = FIXTURES / "sicoval" / "indicators.csv"


def test_ids_are_the_methods_ids():
    from indicators.stages.methods import IDS   # the reader may not import the methods: same list, checked here
    assert INDICATOR_IDS == IDS


@pytest.mark.skipif(not WORKBOOK.exists(), reason="../shared/data/real not beside the checkout")
def test_sicoval_workbook_sheet_is_read_as_the_kit_caches_it():
    t = read_indicateurs_communes(WORKBOOK)
    assert t.format == "kit"
    assert "Services publics" in t.ignored   # the count column: the kit scores the ratio
    got = t.frame.set_index("code_commune")
    expected = pd.read_csv(SICOVAL, dtype={"code": str}).set_index("code")
    assert list(got.index) == list(expected.index)          # 36 communes; the thresholds row is not one
    for ind in INDICATOR_IDS:
        assert (got[ind] == expected[ind]).all(), ind         # bit for bit


@pytest.fixture(scope="module")
def kit_sheet_values():
    """The cells of the kit's input sheet (values as cached), to rebuild small faulty copies."""
    ws = openpyxl.load_workbook(WORKBOOK, data_only=True, read_only=True)["0.Base de données"]
    return [list(row) for row in ws.iter_rows(min_row=1, max_row=43, max_col=18, values_only=True)]


def _kit_copy(tmp_path, values, edit) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "0.Base de données"
    for row in values:
        ws.append(row)
    edit(ws)
    path = tmp_path / "matrice.xlsx"
    book.save(path)
    return path


@pytest.mark.skipif(not WORKBOOK.exists(), reason="../shared/data/real not beside the checkout")
def test_kit_sheet_faults_cite_the_sheet(tmp_path, kit_sheet_values):
    def non_numeric(ws):
        ws["H7"] = "partout"      # Taux de couverture mobile (2G), 3rd commune
    with pytest.raises(InputError, match="non-numeric") as exc:
        read_indicateurs_communes(_kit_copy(tmp_path, kit_sheet_values, non_numeric))
    assert exc.value.column == "Taux de couverture mobile (2G)" and exc.value.rows == [7]

    def duplicated(ws):
        ws["B9"] = ws["B5"].value
    with pytest.raises(InputError, match="duplicated") as exc:
        read_indicateurs_communes(_kit_copy(tmp_path, kit_sheet_values, duplicated))
    assert exc.value.column == "INSEE_COM" and exc.value.rows == [5, 9]

    def percent(ws):
        ws["G6"] = 99.7
    with pytest.raises(InputError, match="percentages") as exc:
        read_indicateurs_communes(_kit_copy(tmp_path, kit_sheet_values, percent))
    assert exc.value.rows == [6]

    def renamed(ws):
        ws["H4"] = "Taux de couverture 4G"
    with pytest.raises(InputError, match="unknown column") as exc:
        read_indicateurs_communes(_kit_copy(tmp_path, kit_sheet_values, renamed))
    assert exc.value.column == "Taux de couverture 4G"


def _csv_lines() -> list[str]:
    table = pd.read_csv(SICOVAL, dtype=str).rename(columns={"code": "code_commune"})
    return [";".join(table.columns)] + [";".join(r) for r in table.itertuples(index=False)]


def test_plain_csv(tmp_path):
    path = tmp_path / "communes.csv"
    lines = _csv_lines()
    path.write_bytes(text(lines))
    t = read_indicateurs_communes(path)
    assert t.format == "csv" and t.ignored == ["nom"] and len(t.frame) == 36
    path.write_bytes(text(["code_commune,couverture_mobile", "9327,0.5", "2A004,1"]))   # ',' and a lost zero
    frame = read_indicateurs_communes(path).frame
    assert frame["code_commune"].tolist() == ["09327", "2A004"] and frame["couverture_mobile"].tolist() == [0.5, 1.0]


def test_csv_faults(tmp_path):
    path = tmp_path / "communes.csv"
    lines = _csv_lines()
    path.write_bytes(drop_column(lines, 0, "code_commune", ";"))
    with pytest.raises(InputError, match="missing column") as exc:
        read_indicateurs_communes(path)
    assert exc.value.column == "code_commune"
    path.write_bytes(other_separator(lines, 0, ";").replace(b",", b"|"))
    with pytest.raises(InputError):
        read_indicateurs_communes(path)
    data, rows = duplicate_row(lines, 0, row=2)
    path.write_bytes(data)
    with pytest.raises(InputError, match="duplicated") as exc:
        read_indicateurs_communes(path)
    assert exc.value.rows == rows
    data, row = set_cell(lines, 0, 4, "services_publics", "3 guichets", ";")
    path.write_bytes(data)
    with pytest.raises(InputError, match="non-numeric") as exc:
        read_indicateurs_communes(path)
    assert exc.value.column == "services_publics" and exc.value.rows == [row]
    path.write_bytes(text(["code_commune;couverture_mobil", "31004;0.9"]))
    with pytest.raises(InputError, match="unknown column") as exc:
        read_indicateurs_communes(path)
    assert exc.value.column == "couverture_mobil"


def test_kit_labels_cover_every_indicator():
    assert sorted(KIT_COLUMNS.values()) == sorted(INDICATOR_IDS) and len(set(KIT_COLUMNS.values())) == 11
