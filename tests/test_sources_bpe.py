"""INSEE BPE "ensemble" reader, on INSEE's own rows (../shared/data/real/insee_bpe_2019, SOURCES.md 10)."""

from __future__ import annotations

import gzip

import pytest

from indicators.errors import InputError
from indicators.sources.readers.bpe import PUBLIC_SERVICES, read_bpe

from .breakers import drop_column, duplicate_row, lines_of, other_separator, set_cell, text, truncated, zipped
from .conftest import SHARED

BPE = SHARED / "data/real/insee_bpe_2019/DERIVED_bpe19_ensemble.csv.gz"
pytestmark = pytest.mark.skipif(not BPE.exists(), reason="../shared/data/real not beside the checkout")
HEAD = 3000   # the header and the first real rows (Ain: split and unsplit communes)


@pytest.fixture(scope="module")
def head_lines():
    return lines_of(BPE, limit=HEAD)


def test_zip_as_insee_publishes_it(tmp_path, head_lines):
    path = tmp_path / "bpe19_ensemble_csv.zip"
    import zipfile
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("bpe19_ensemble.csv", text(head_lines))
        zf.writestr("varmod_ensemble_19.csv", "COD_VAR;LIB_VAR\nTYPEQU;Type d'équipement\n")
    t = read_bpe(path)
    assert t.millesime == 2019 and len(t.frame) == HEAD - 1
    f = t.frame
    # DCIRIS both ways: 01001 (not split) -> 010010000; 01004_0101 -> 010040101
    assert f.loc[f["code_commune"] == "01001", "code_iris"].unique().tolist() == ["010010000"]
    assert set(f.loc[f["code_commune"] == "01004", "code_iris"]) >= {"010040101", "010040102"}
    assert (f["code_iris"].str[:5] == f["code_commune"]).all()


def test_whole_file_sanity_totals():
    """SOURCES.md 10: 1 060 614 rows, 2 607 293 equipments, 8 144 post offices, 778 police."""
    f = read_bpe(BPE).frame
    assert len(f) == 1060614 and f["nb_equip"].sum() == 2607293
    assert f.loc[f["typequ"] == "A206", "nb_equip"].sum() == 8144
    assert f.loc[f["typequ"] == "A101", "nb_equip"].sum() == 778
    present = set(f["typequ"])
    assert set(PUBLIC_SERVICES) <= present   # every listed type exists in BPE 2019


def test_nine_character_dciris_is_taken(tmp_path, head_lines):
    lines = [head_lines[0]] + [line.replace("_", "", 1) for line in head_lines[1:]]
    path = tmp_path / "bpe.csv"
    path.write_bytes(text(lines))
    assert read_bpe(path).frame["code_iris"].str.len().eq(9).all()


def test_missing_column(tmp_path, head_lines):
    path = tmp_path / "bpe.csv"
    path.write_bytes(drop_column(head_lines, 0, "TYPEQU", ";"))
    with pytest.raises(InputError, match="missing column") as exc:
        read_bpe(path)
    assert exc.value.column == "TYPEQU"


def test_wrong_separator(tmp_path, head_lines):
    path = tmp_path / "bpe.csv"
    path.write_bytes(other_separator(head_lines, 0, ";"))
    with pytest.raises(InputError, match="wrong separator"):
        read_bpe(path)


@pytest.mark.parametrize("kind", ["zip", "gz"])
def test_truncated_archive(tmp_path, head_lines, kind):
    data = text(head_lines)
    path = tmp_path / ("bpe19_ensemble_csv.zip" if kind == "zip" else "bpe19_ensemble.csv.gz")
    path.write_bytes(truncated(zipped("bpe19_ensemble.csv", data) if kind == "zip" else gzip.compress(data)))
    with pytest.raises(InputError, match="truncated"):
        read_bpe(path)


def test_duplicated_iris_and_type(tmp_path, head_lines):
    data, lines = duplicate_row(head_lines, 0, row=10)
    path = tmp_path / "bpe.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match="duplicated") as exc:
        read_bpe(path)
    assert exc.value.column == "DCIRIS" and exc.value.rows == lines


def test_non_numeric_count(tmp_path, head_lines):
    data, line = set_cell(head_lines, 0, 7, "NB_EQUIP", "deux", ";")
    path = tmp_path / "bpe.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match="non-numeric") as exc:
        read_bpe(path)
    assert exc.value.column == "NB_EQUIP" and exc.value.rows == [line]


def test_iris_of_another_commune(tmp_path, head_lines):
    data, line = set_cell(head_lines, 0, 4, "DCIRIS", "01004_0101", ";")   # a row of 01001
    path = tmp_path / "bpe.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match="DEPCOM") as exc:
        read_bpe(path)
    assert exc.value.column == "DCIRIS" and exc.value.rows == [line]


WORKBOOK = SHARED / ("data/real/ifn_method/VF - Geolocaliser les zones de fragilite numerique sur un territoire"
                     " - matrice de calcul exemple SICOVAL-2.xlsx")


@pytest.mark.skipif(not WORKBOOK.exists(), reason="../shared/data/real not beside the checkout")
def test_listed_types_give_the_kits_own_counts_on_sicoval(tmp_path):
    """The kit's SICOVAL sheet counts its public services per commune (column `Services publics`).
    BPE 2019 over the listed types gives that count for 33 of the 36 communes and fewer for 3
    (tiers-lieux, CAF: not in the BPE), never more: the list is neither wider nor narrower than
    the kit's where the BPE can tell. The four communes with only an agence postale (A208) count 0."""
    import openpyxl

    lines = [ln for ln in lines_of(BPE) if ln.startswith(("REG;", "76;31;"))]
    path = tmp_path / "bpe19_31.csv"
    path.write_bytes(text(lines))
    f = read_bpe(path).frame
    ours = f[f["typequ"].isin(PUBLIC_SERVICES)].groupby("code_commune")["nb_equip"].sum()
    ws = openpyxl.load_workbook(WORKBOOK, data_only=True, read_only=True)["0.Base de données"]
    kit = {str(r[1]): r[13] for r in ws.iter_rows(min_row=5, max_row=40, values_only=True)}
    diff = {c: ours.get(c, 0.0) - n for c, n in kit.items()}
    assert sum(d == 0 for d in diff.values()) == 33
    assert sorted(c for c, d in diff.items() if d < 0) == ["31057", "31254", "31446"]
    with_a208 = set(f.loc[f["typequ"] == "A208", "code_commune"]) & set(kit)
    assert len(with_a208) >= 4 and all(kit[c] == 0 for c in with_a208 if c not in ("31254", "31446"))
