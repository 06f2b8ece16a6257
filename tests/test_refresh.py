"""Incremental refresh: unchanged inputs recompute nothing and touch no output; a changed source
is restaged alone; a failed refresh leaves the cache consistent."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from indicators import SAMPLE_DIR
from indicators.cache import state_dir
from indicators.compute import RunOptions
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
    assert differing <= {"run_report.json", "run_report.md"}   # they carry the time of the run


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
    again = run_local({}, tmp_path, RunOptions(territory=["48"], method="kit-2020"))
    assert "a_jour" not in again and again["method"] == "kit-2020"


def test_edited_output_is_rebuilt(tmp_path):
    run_local({}, tmp_path, RunOptions(territory=["48"]))
    (tmp_path / "regions.parquet").write_bytes(b"oops")
    report = run_local({}, tmp_path, RunOptions(territory=["48"]))
    assert "a_jour" not in report
    assert (tmp_path / "regions.parquet").read_bytes()[:4] == b"PAR1"
