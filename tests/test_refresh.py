"""Incremental refresh: unchanged inputs recompute nothing and touch no output; a changed source
is restaged alone; a failed refresh leaves the cache consistent."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from indicators import SAMPLE_DIR
from indicators.cache import state_dir
from indicators.stages.compute import RunOptions
from indicators.pipeline import run_local


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_second_refresh_recomputes_nothing(tmp_path):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    first = run_local({}, out, RunOptions(territory=["48"]))
    t1 = time.perf_counter()
    before = {p.name: (p.stat().st_mtime_ns, d) for p, d in zip(sorted(x for x in out.iterdir() if x.is_file()),
                                                                  digests(out).values())}
    second = run_local({}, out, RunOptions(territory=["48"]))
    t2 = time.perf_counter()
    assert second["a_jour"] is True and "a_jour" not in first
    after = {p.name: (p.stat().st_mtime_ns, d) for p, d in zip(sorted(x for x in out.iterdir() if x.is_file()),
                                                                 digests(out).values())}
    assert after == before, "no output file rewritten"
    assert (t2 - t1) < 0.2 * (t1 - t0)


def test_same_inputs_same_bytes_from_scratch(tmp_path):
    run_local({}, tmp_path / "a", RunOptions(territory=["48"]))
    run_local({}, tmp_path / "b", RunOptions(territory=["48"]))
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    differing = {k for k in a if a[k] != b[k]}
    assert differing <= {"run_report.json", "run_report.md", "run_report.html"}   # they carry the time of the run


def test_changed_source_restages_only_itself(tmp_path):
    sample = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, sample)
    out = tmp_path / "out"
    given = {"filosofi_communes": [sample / "filosofi_communes/2016/base-cc-filosofi-2016.zip"]}
    run_local(given, out, RunOptions(territory=["48"]))
    slots = {p.name for p in (state_dir(out) / "staging").iterdir()}
    # touch the file's bytes (same content plus a trailing zip comment): a new version of one source
    import zipfile

    with zipfile.ZipFile(given["filosofi_communes"][0], "a") as zf:
        zf.comment = b"republished"
    report = run_local(given, out, RunOptions(territory=["48"]))
    assert "a_jour" not in report
    after = {p.name for p in (state_dir(out) / "staging").iterdir()}
    changed = after - slots
    assert len(changed) == 1 and next(iter(changed)).startswith("filosofi_communes-")
    assert len(slots - after) == 1                       # its old copy is pruned, the others kept


def test_options_are_part_of_the_key(tmp_path):
    run_local({}, tmp_path, RunOptions(territory=["48"]))
    again = run_local({}, tmp_path, RunOptions(territory=["48"], reference="departement"))
    assert "a_jour" not in again and again["reference"] == "departement"


def test_a_run_that_loses_iris_keeps_the_previous_set(tmp_path):
    """Martinique's file missing from the next run: its IRIS would vanish from the layers. Not
    published (the previous set stays byte for byte) unless the shrink is accepted. (Empty layers:
    tests/test_publish.py, on SYNTHETIC sets.)"""
    from indicators.errors import PublicationRefused
    from indicators.outputs import publish
    from indicators.pipeline import Publication

    a, b = _departement_files(tmp_path)
    out = tmp_path / "out"
    run_local({"mednum_kit_2020": [a, b]}, out, RunOptions(method="d4g-2020"))
    before = digests(out)
    with pytest.raises(PublicationRefused, match="IRIS of set .* would disappear"):
        run_local({"mednum_kit_2020": [a]}, out, RunOptions(method="d4g-2020"))
    assert digests(out) == before and publish.validate_dir(out).ok and len(publish.all_sets(out)) == 1
    accepted = run_local({"mednum_kit_2020": [a]}, out, RunOptions(method="d4g-2020"),
                         Publication(guard=publish.Guard(accept_shrink=True)))
    assert accepted["outputs"]["iris"]["rows"] == 341 and len(publish.all_sets(out)) == 2


def test_edited_output_is_rebuilt(tmp_path):
    run_local({}, tmp_path, RunOptions(territory=["48"]))
    (tmp_path / "regions.parquet").write_bytes(b"oops")
    report = run_local({}, tmp_path, RunOptions(territory=["48"]))
    assert "a_jour" not in report
    assert (tmp_path / "regions.parquet").read_bytes()[:4] == b"PAR1"


def _departement_files(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "mednum"
    folder.mkdir()
    a = folder / "09.csv.gz"
    b = folder / "972.csv.gz"
    shutil.copyfile(SAMPLE_DIR / "mednum_kit_2020/2020/09.csv.gz", a)
    shutil.copyfile(SAMPLE_DIR / "mednum_kit_2020/2020/972.csv.gz", b)
    return a, b


def test_broken_departement_does_not_stop_the_others(tmp_path):
    import geopandas as gpd

    a, b = _departement_files(tmp_path)
    b.write_bytes(b.read_bytes()[:5000])       # Martinique's file arrives truncated
    report = run_local({"mednum_kit_2020": [a, b]}, tmp_path / "out", RunOptions(method="d4g-2020"))
    assert len(report["echecs"]) == 1 and "972.csv.gz" in report["echecs"][0]
    iris = gpd.read_parquet(tmp_path / "out" / "iris.parquet")
    assert set(iris["code_departement"]) == {"09"} and len(iris) == 341
    assert "FAILED inputs" in (tmp_path / "out" / "run_report.md").read_text()
    # a partial run is never taken for an up-to-date one
    again = run_local({"mednum_kit_2020": [a, b]}, tmp_path / "out", RunOptions(method="d4g-2020"))
    assert "a_jour" not in again


def test_touching_one_departement_restages_it_alone(tmp_path):
    a, b = _departement_files(tmp_path)
    out = tmp_path / "out"
    run_local({"mednum_kit_2020": [a, b]}, out, RunOptions(method="d4g-2020"))
    before = {p.name for p in (state_dir(out) / "staging").iterdir()}
    data = a.read_bytes()
    import gzip

    a.write_bytes(gzip.compress(gzip.decompress(data), mtime=1))   # same rows, new bytes
    report = run_local({"mednum_kit_2020": [a, b]}, out, RunOptions(method="d4g-2020"))
    after = {p.name for p in (state_dir(out) / "staging").iterdir()}
    assert "a_jour" not in report and not report["echecs"]
    assert len(after - before) == 1 and len(before & after) == 1      # 972 reused, 09 restaged


def test_same_iris_in_two_files_is_an_error(tmp_path):
    from indicators.errors import FragiliteError

    a, _ = _departement_files(tmp_path)
    copy = tmp_path / "09bis.csv.gz"
    shutil.copyfile(a, copy)
    with pytest.raises(FragiliteError, match="appear in several input files"):
        run_local({"mednum_kit_2020": [a, copy]}, tmp_path / "out", RunOptions())
