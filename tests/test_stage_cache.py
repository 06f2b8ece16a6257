"""Incremental refresh by stage (stages/stage_cache.py): a refresh where only SIRENE changed (the
monthly case) recounts the platform workers and rewrites the layers, takes the IFN counts, the QPV
weights and the polygons from the stage cache, and writes the same bytes as a full refresh.

SIRENE files here are SYNTHETIC (scripts/generate_sirene.py, seeded): two "months" of the stock
are two seeds."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest

from indicators import SAMPLE_DIR
from indicators.pipeline import run_local
from indicators.stages.compute import RunOptions

from .helpers import sirene_generator

FAMILLES = SAMPLE_DIR / "rp_familles" / "2016" / "base-ic-couples-familles-menages-2016.zip"


def _sirene_month(seed: int, folder: Path) -> dict[str, list[Path]]:
    gen = sirene_generator()
    paths = gen.write(gen.generate(seed=seed, scale=0.3), folder, parquet=True)
    return {f"sirene_{k}": [paths[k]] for k in ("etablissements", "unites_legales", "geolocalisation")}


def _published(out: Path) -> dict[str, bytes]:
    """Every output file but the run report (it holds timings and the stage record), maps included."""
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())
             if p.is_file() and not p.name.startswith((".", "run_report"))}
    return {**files, **{f"cartes_rapport/{p.name}": p.read_bytes() for p in sorted((out / "cartes_rapport").glob("*.png"))}}


def _zip_edited(source: Path, target: Path, member: str, edit) -> Path:
    """A copy of the zip `source` at `target`, its members whose name starts with `member` edited."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, edit(data) if name.startswith(member) else data)
    return target


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    root = tmp_path_factory.mktemp("monthly")
    january, february = _sirene_month(7, root / "m1"), _sirene_month(8, root / "m2")
    incremental, full = root / "incremental", root / "full"
    run_local(january, incremental, RunOptions())
    counted_in_january = gpd.read_parquet(incremental / "iris.parquet")[["livreurs", "vtc"]]
    report = run_local(february, incremental, RunOptions())
    run_local(february, full, RunOptions())
    return counted_in_january, february, incremental, full, report


def test_sirene_alone_changed_recounts_platform_workers_only(monthly):
    *_, incremental, _, report = monthly
    expected = {"counts": "reused", "polygones": "reused", "poids_iris_qpv": "reused", "plateformes": "computed"}
    assert report["stats"]["etapes"] == expected
    record = json.loads((incremental / ".fragilite" / "stages" / "last_run.json").read_text())
    assert record == expected


def test_sirene_alone_changed_gives_the_bytes_of_a_full_refresh(monthly):
    *_, incremental, full, _ = monthly
    a, b = _published(incremental), _published(full)
    assert a.keys() == b.keys() and {"iris.parquet", "iris.gpkg", "poids_iris_qpv.csv", "cartes_rapport/iris_score_global.png"} <= a.keys()
    assert [name for name in a if a[name] != b[name]] == []


def test_sirene_alone_changed_copies_the_score_maps(monthly):
    *_, incremental, _, report = monthly
    scores = [paths[0] for paths in report["cartes"].values()]
    assert all(p.endswith("_score_global.png") for p in scores)
    assert report["cartes_reprises"] == len(scores) == 6


def test_the_two_months_count_differently(monthly):
    # otherwise the comparison above would prove nothing: the new month's counts are in the layers
    counted_in_january, *_, full, _ = monthly
    assert not counted_in_january.equals(gpd.read_parquet(full / "iris.parquet")[["livreurs", "vtc"]])


def test_a_census_file_alone_changed_keeps_polygons_weights_and_platform_workers(monthly, tmp_path):
    _, february, incremental, _, _ = monthly
    def one_household_more(data: bytes) -> bytes:   # in the first IRIS
        lines = data.decode("utf-8").split("\n")
        cells = lines[1].split(";")
        cells[-4] = str(float(cells[-4]) + 1)
        lines[1] = ";".join(cells)
        return "\n".join(lines).encode("utf-8")

    changed = _zip_edited(FAMILLES, tmp_path / FAMILLES.name, "base-ic", one_household_more)
    report = run_local({**february, "rp_familles": [changed]}, incremental, RunOptions())
    assert report["stats"]["etapes"] == {"counts": "computed", "polygones": "reused",
                                         "poids_iris_qpv": "reused", "plateformes": "reused"}


ARCEP = SAMPLE_DIR / "arcep_fixe" / "2019" / "commune-debit-beta.csv"
BPE = SAMPLE_DIR / "insee_bpe" / "2019" / "bpe19_ensemble_csv.zip"


def _arcep_changed(folder: Path) -> Path:
    """Rosières (Tarn): its 315 premises at 8 Mbit/s become ineligible to high speed."""
    changed = folder / "arcep_fixe" / "2019" / ARCEP.name
    changed.parent.mkdir(parents=True)
    lines = ARCEP.read_text(encoding="utf-8").split("\n")
    header = lines[1].split(";")
    row = next(i for i, line in enumerate(lines) if line.startswith("81230;"))
    cells = lines[row].split(";")
    cells[header.index("inel_hd")], cells[header.index("elig_hd8")] = cells[header.index("elig_hd8")], "0"
    lines[row] = ";".join(cells)
    changed.write_text("\n".join(lines), encoding="utf-8")
    return changed


def _bpe_changed(folder: Path) -> Path:
    """Rosières (Tarn) gets a police station (A101, a public service the counts read)."""
    def police_station(data: bytes) -> bytes:
        assert b"\n76;81;81230;81230;2019;A101;" not in data
        return data.rstrip(b"\n") + b"\n76;81;81230;81230;2019;A101;1\n"

    changed = folder / "insee_bpe" / "2019" / BPE.name
    changed.parent.mkdir(parents=True)
    return _zip_edited(BPE, changed, "bpe19", police_station)


@pytest.mark.parametrize("source,change", [("arcep_fixe", _arcep_changed), ("insee_bpe", _bpe_changed)])
def test_arcep_or_bpe_alone_changed_recounts_and_gives_the_bytes_of_a_full_refresh(monthly, tmp_path, source, change):
    """ARCEP's quarterly file or BPE's yearly one alone changed: the counts (fixed coverage, public
    services) are made again, the polygons, the QPV weights and the platform workers are reused,
    and the outputs are those of a full refresh on the same inputs."""
    _, february, _, full, _ = monthly
    quarter = tmp_path / "quarter"
    shutil.copytree(full, quarter, symlinks=True)       # the monthly run's output folder, as left
    inputs = {**february, source: [change(tmp_path)]}
    report = run_local(inputs, quarter, RunOptions())
    assert report["stats"]["etapes"] == {"counts": "computed", "polygones": "reused",
                                         "poids_iris_qpv": "reused", "plateformes": "reused"}
    before = gpd.read_parquet(full / "communes.parquet").set_index("code_commune")
    after = gpd.read_parquet(quarter / "communes.parquet").set_index("code_commune")
    assert before.loc["81230", "score_global"] != after.loc["81230", "score_global"]
    run_local(inputs, tmp_path / "from_scratch", RunOptions())
    a, b = _published(quarter), _published(tmp_path / "from_scratch")
    assert a.keys() == b.keys() and [name for name in a if a[name] != b[name]] == []


def _damage(out: Path) -> None:
    """What a power cut can leave in a folder's caches (indicators/integrity.py): files renamed
    into place but never flushed, empty, short, or zeroed at their full size."""
    state = out / ".fragilite"
    (next(state.glob("stages/counts-*")) / "cnt_iris.parquet").write_bytes(b"")
    staged = next(state.glob("staging/contours_iris-*/staging/contours_iris.parquet"))
    staged.write_bytes(staged.read_bytes()[:1000])
    score_map = (out / "cartes_rapport" / "iris_score_global.png").read_bytes()
    kept = next(p for p in state.glob("stages/cartes/*.png") if p.read_bytes() == score_map)
    kept.write_bytes(bytes(len(score_map)))
    for shapes in state.glob("stages/cartes/*.formes.parquet"):
        shapes.write_bytes(b"")


def test_damaged_caches_are_made_again_said_and_give_the_same_bytes(monthly, tmp_path):
    """A folder whose caches were damaged, and moved elsewhere (the original out of reach, so that
    nothing is read from it): the next refresh makes each damaged entry again and says so in its
    report; the one after gives the bytes of a full refresh."""
    _, february, _, full, _ = monthly
    moved = tmp_path / "moved"
    shutil.copytree(full, moved, symlinks=True)
    _damage(moved)
    january = _sirene_month(7, tmp_path / "m1")
    away = full.with_name(full.name + "-away")
    full.rename(away)
    try:
        report = run_local(january, moved, RunOptions())
        second = run_local(february, moved, RunOptions())
    finally:
        away.rename(full)
    assert report["stats"]["etapes"]["counts"] == "computed"
    notes = "\n".join(report["notes"])
    assert "stage counts: its kept result was damaged (cnt_iris.parquet has 0 bytes" in notes
    assert "contours_iris: staged again: its kept copy was damaged (contours_iris.parquet has 1000 bytes" in notes
    assert ".png is not a whole png file" in notes and ".formes.parquet is not a whole parquet file" in notes
    assert report["cartes_reprises"] < len(report["cartes"])   # the damaged score map was drawn, not copied
    assert second["stats"]["etapes"] == {"counts": "reused", "polygones": "reused", "poids_iris_qpv": "reused",
                                         "plateformes": "computed"}
    assert not [n for n in second["notes"] if "damaged" in n]
    a, b = _published(moved), _published(full)
    assert a.keys() == b.keys() and [name for name in a if a[name] != b[name]] == []
