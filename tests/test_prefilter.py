"""The fast path through a national SIRENE stock: the zip member inflated by ISA-L, the byte-level
line prefilter, and the full parse it falls back to. Each must give what the plain way gives."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from indicators.errors import InputError
from indicators.sources.readers import prefilter, zipstream
from indicators.sources.readers.prefilter import FirstKeyIn, HasAny, LineFilter
from indicators.sources.readers.sirene import stage_sirene
from indicators.sources.readers.zipstream import open_member

from .helpers import sirene_generator


def _read_all(stream) -> bytes:
    with stream:
        return stream.read()


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_inflated_member_is_byte_for_byte_zipfiles(tmp_path, monkeypatch, method):
    monkeypatch.setattr(zipstream, "BLOCK", 1000)        # many blocks, and tails between them
    monkeypatch.setattr(zipstream, "OUT", 777)
    data = b"".join(b"%d,%s\n" % (i, os.urandom(8).hex().encode()) for i in range(20000))
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr("a.csv", data)
    assert _read_all(open_member(path, "a.csv")) == data


def test_cut_or_corrupted_member_raises(tmp_path):
    data = b"".join(b"%d,abc\n" % i for i in range(50000))
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", data)
    info = zipfile.ZipFile(path).getinfo("a.csv")
    raw = bytearray(path.read_bytes())
    # one flipped byte in the middle of the compressed data: a CRC or a deflate error
    corrupted = tmp_path / "corrupted.zip"
    body = info.header_offset + 30 + len("a.csv")
    raw_c = raw.copy()
    raw_c[body + info.compress_size // 2] ^= 0xFF
    corrupted.write_bytes(bytes(raw_c))
    with pytest.raises(Exception):
        _read_all(open_member(corrupted, "a.csv"))
    # compressed data cut short (the central directory kept, as a resumed download can leave it)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bytes(raw[:body + info.compress_size // 2]) + bytes(raw[body + info.compress_size:]))
    with pytest.raises(Exception):
        _read_all(open_member(cut, "a.csv"))


def _lines(n: int) -> list[bytes]:
    rng = np.random.default_rng(3)
    apes = np.array([b"53.20Z", b"49.32Z", b"47.11B", b"70.22Z", b"53.10Z"])
    return [b"%09d,%s,%s,X53.20\n" % (300000000 + i, apes[rng.integers(0, 5)], b"Z" * int(rng.integers(0, 3)))
            for i in range(n)]


def _filter(body: bytes, rule, block: int, monkeypatch) -> tuple[bytes, int]:
    import io

    monkeypatch.setattr(prefilter, "BLOCK", block)
    lf = LineFilter(io.BufferedReader(io.BytesIO(b"siren,ape,z,note\n" + body)), rule)
    out = lf.read()
    return out, lf.lines


@pytest.mark.parametrize("block", [7, 100, 1 << 20])
def test_has_any_keeps_exactly_the_lines_holding_a_needle(monkeypatch, block):
    lines = _lines(3000)
    body = b"".join(lines)[:-1]                      # the last line without its newline
    out, n = _filter(body, HasAny([b"53.20Z", b"49.32Z"]), block, monkeypatch)
    expected = [ln if ln.endswith(b"\n") else ln + b"\n"
                for ln in b"".join(lines)[:-1].splitlines(keepends=True) if b"53.20Z" in ln or b"49.32Z" in ln]
    assert out == b"siren,ape,z,note\n" + b"".join(expected)
    assert n == 3000


@pytest.mark.parametrize("block", [13, 1 << 20])
def test_first_key_in_drops_only_lines_that_provably_miss(monkeypatch, block):
    lines = _lines(2000) + [b'"300000005",quoted first field\n', b"12345,short number\n", b"30000000x,not a number\n"]
    keys = np.array([300000000 + i for i in range(0, 2000, 7)], dtype=np.int64)
    out, n = _filter(b"".join(lines), FirstKeyIn(keys, 9, b","), block, monkeypatch)
    kept = out.splitlines(keepends=True)[1:]
    numeric = [ln for ln in lines[:2000] if int(ln[:9]) in set(keys.tolist())]
    # a quoted or shorter first field is left to the parser; "30000000x" provably is no key
    assert kept == numeric + lines[2000:2002]
    assert n == len(lines)


def _sirene_files(tmp_path: Path) -> dict:
    gen = sirene_generator()
    return gen, gen.generate(seed=11, scale=0.2)


def test_a_record_broken_over_two_lines_is_read_by_the_full_parse(tmp_path):
    """A quoted line break in one establishment's address: the selected lines do not parse, so
    the file is parsed in full, and the counts are those of the plain way."""
    gen, files = _sirene_files(tmp_path)
    etab = files["etablissements"].copy()
    row = etab.index[etab["activitePrincipaleEtablissement"] == "53.20Z"][0]
    etab.loc[row, "complementAdresseEtablissement"] = "BATIMENT A\nESCALIER 2"
    files["etablissements"] = etab
    paths = gen.write(files, tmp_path / "csv")
    target = tmp_path / "etab.parquet"
    got = stage_sirene(paths["etablissements"], "sirene_etablissements", target, ["53.20Z", "49.32Z"])
    assert got["lecture"] == "full"
    staged = pd.read_parquet(target)
    expected = etab[etab["activitePrincipaleEtablissement"].isin(["53.20Z", "49.32Z"])]
    assert got["rows_read"] == len(etab) and len(staged) == len(expected)
    assert "BATIMENT A\nESCALIER 2" in set(staged["complementAdresseEtablissement"])


def test_legal_units_and_geolocations_are_read_against_the_establishments_kept(tmp_path):
    gen, files = _sirene_files(tmp_path)
    paths = gen.write(files, tmp_path / "csv")
    etab = tmp_path / "etab.parquet"
    first = stage_sirene(paths["etablissements"], "sirene_etablissements", etab, ["53.20Z", "49.32Z"])
    assert first["lecture"] == "lines" and first["rows_read"] == len(files["etablissements"])
    kept = pd.read_parquet(etab)
    for source, key, name in (("sirene_unites_legales", "siren", "unites_legales"),
                              ("sirene_geolocalisation", "siret", "geolocalisation")):
        target = tmp_path / f"{name}.parquet"
        got = stage_sirene(paths[name], source, target, ["53.20Z", "49.32Z"], keys=[str(etab)])
        assert got["lecture"] == "lines" and got["rows_read"] == len(files[name])
        staged = pd.read_parquet(target)
        whole = files[name].astype({key: str})
        expected = whole[whole[key].isin(set(kept[key]))]
        assert sorted(staged[key]) == sorted(expected[key])
        # the parquet edition gives the same rows
        pq_paths = gen.write(files, tmp_path / "pq", parquet=True)
        target_pq = tmp_path / f"{name}_pq.parquet"
        stage_sirene(pq_paths[name], source, target_pq, ["53.20Z", "49.32Z"], keys=[str(etab)])
        assert sorted(pd.read_parquet(target_pq)[key]) == sorted(staged[key])


def test_a_cut_stock_is_an_input_error_naming_the_file(tmp_path):
    gen, files = _sirene_files(tmp_path)
    paths = gen.write(files, tmp_path / "csv")
    raw = paths["etablissements"].read_bytes()
    info = zipfile.ZipFile(paths["etablissements"]).infolist()[0]
    body = info.header_offset + 30 + len(info.filename) + len(info.extra)
    cut = tmp_path / "StockEtablissement_utf8.zip"
    cut.write_bytes(raw[:body + info.compress_size // 2] + raw[body + info.compress_size:])
    with pytest.raises(InputError) as exc:
        stage_sirene(cut, "sirene_etablissements", tmp_path / "x.parquet", ["53.20Z", "49.32Z"])
    assert str(cut) in str(exc.value)
    assert not (tmp_path / "x.parquet").exists()
