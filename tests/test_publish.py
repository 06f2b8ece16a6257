"""Output sets replaced whole: the lock, the switch killed at every step, repair, the guard, full and
read-only disks, rollback, the layout before sets. On tiny SYNTHETIC sets written by
tests/publish_worker.py in a subprocess (it can be killed anywhere: FRAGILITE_FAULT)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indicators.lock import OutputLock
from indicators.outputs import publish

WORKER = Path(__file__).with_name("publish_worker.py")
USER_FILES = {"notes.txt": b"my notes\n", "projet.qgz": b"PK\x03\x04 a QGIS project",
              "iris.csv": b"code_iris;mine\n", "iris.parquet.bak": b"an old copy of mine"}


def work(out: Path, *args: str, fault: str | None = None, trace: Path | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAGILITE_FAULT")}
    if fault:
        env[publish.FAULT_ENV] = fault
    if trace:
        env[publish.TRACE_ENV] = str(trace)
    return subprocess.run([sys.executable, str(WORKER), str(out), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def start(out: Path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(WORKER), str(out), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def tag_of(path: Path) -> str:
    """The run that wrote a file of a SYNTHETIC set (each file carries it; a folder, its index.html)."""
    if path.is_dir():
        return tag_of(path / "index.html")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        tag = table.schema.metadata[b"run"].decode()
        assert set(table["methode"].to_pylist()) <= {tag}, path
        return tag
    if path.name == "run_report.json":
        return json.loads(path.read_text())["method"]
    if path.suffix == ".csv":
        return path.read_text().splitlines()[-1].split(",")[-1]
    return re.search(r"run (\w+)", path.read_text().splitlines()[0]).group(1)


def visible(out: Path) -> dict[str, Path]:
    """What a reader finds: the published names that open."""
    return {p.name: p for p in sorted(out.iterdir()) if publish.is_our_link(p) and p.exists()}


def seen_set(out: Path) -> str:
    """The one run whose files a reader opening every output finds now; fails on a mix or a hole."""
    now = publish.current(out)
    assert now is not None and not now.check(), "the current set is incomplete"
    found = visible(out)
    assert sorted(found) == now.names, "a name of the current set does not open, or one of another does"
    tags = {tag_of(p) for p in found.values()}
    assert len(tags) == 1, f"a mix of runs: {tags}"
    return tags.pop()


def digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in visible(out).values()}


def add_user_files(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, data in USER_FILES.items():
        (out / name).write_bytes(data)
    (out / "mes_cartes").mkdir(exist_ok=True)
    (out / "mes_cartes" / "carte.qgs").write_bytes(b"<qgis/>")


def assert_user_files_intact(out: Path) -> None:
    for name, data in USER_FILES.items():
        assert not (out / name).is_symlink() and (out / name).read_bytes() == data, name
    assert (out / "mes_cartes" / "carte.qgs").read_bytes() == b"<qgis/>"


def repaired(out: Path) -> list[str]:
    with OutputLock(out):
        return publish.repair(out)


def assert_clean(out: Path) -> None:
    report = publish.validate_dir(out)
    assert report.ok and not report.warnings, (report.errors, report.warnings)
    leftovers = [p.name for p in publish.sets_dir(out).iterdir() if p.name.startswith((".tmp-", ".trash-"))]
    assert not leftovers and not (publish.state_dir(out) / publish.JOURNAL).exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".fragilite"]


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory) -> Path:
    """A folder with user files and set A published; keep=1 makes B's publication prune A."""
    out = tmp_path_factory.mktemp("base") / "out"
    add_user_files(out)
    assert work(out, "A", "--extra", "a_only.csv").returncode == 0
    return out


def test_publication_replaces_the_whole_set_and_nothing_else(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    assert seen_set(out) == "A"
    done = work(out, "B", "--extra", "b_only.csv", "--keep", "1")
    assert done.returncode == 0, done.stderr
    assert seen_set(out) == "B" and "a_only.csv" not in os.listdir(out) and "b_only.csv" in visible(out)
    assert [s.meta["method"] for s in publish.all_sets(out)] == ["B"]      # keep=1: A pruned
    assert_user_files_intact(out)
    assert_clean(out)


def fault_points(base: Path, tmp_path: Path) -> list[str]:
    out = tmp_path / "traced"
    shutil.copytree(base, out, symlinks=True)
    trace = tmp_path / "trace"
    assert work(out, "B", "--extra", "b_only.csv", "--keep", "1", trace=trace).returncode == 0
    return [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]


def test_killed_at_every_step_the_folder_is_one_set_then_and_after_repair(two_sets, tmp_path):
    points = fault_points(two_sets, tmp_path)
    assert {"seal:renamed", "journal", "link:b_only.csv", "swap:done", "unlink:a_only.csv",
            "journal:cleared"} <= set(points) and len(points) >= 10
    for k, point in enumerate(points, start=1):
        out = tmp_path / f"k{k}"
        shutil.copytree(two_sets, out, symlinks=True)
        killed = work(out, "B", "--extra", "b_only.csv", "--keep", "1", fault=f"kill@{k}")
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        expected = "B" if points.index("journal") < k or point == "journal" else "A"
        assert seen_set(out) == ("B" if point in points[points.index("swap:done"):] else "A"), point
        repaired(out)
        assert seen_set(out) == expected, f"killed after {point}: rolled the wrong way"
        assert_clean(out)
        assert_user_files_intact(out)
        if point in ("seal:manifest", "swap:prepared", "unlink:a_only.csv"):   # the folder takes the next run
            assert work(out, "C", "--keep", "1", "--accept-shrink").returncode == 0
            assert seen_set(out) == "C"
        shutil.rmtree(out)


def test_a_second_writer_stops_at_once_naming_the_first(tmp_path):
    out = tmp_path / "out"
    first = start(out, "A", "--hold", "30")
    try:
        second = work(out, "B")
        assert second.returncode == 4
        assert f"pid {first.pid} on {socket.gethostname()}" in second.stderr and "test writer A" in second.stderr
        assert "started 20" in second.stderr and "--wait" in second.stderr
    finally:
        first.kill()
        first.wait()
    assert not publish.all_sets(out)


def test_a_waiting_writer_runs_after_the_first(tmp_path):
    out = tmp_path / "out"
    first = start(out, "A", "--hold", "2")
    second = work(out, "B", "--wait", "60")
    assert first.wait(timeout=60) == 0 and second.returncode == 0, second.stderr
    assert "waiting for" in second.stdout
    assert seen_set(out) == "B" and [s.meta["method"] for s in publish.all_sets(out)] == ["A", "B"]


def test_the_lock_of_a_killed_writer_is_free(tmp_path):
    out = tmp_path / "out"
    first = start(out, "A", "--hold", "60")
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = time.monotonic()
    assert work(out, "B").returncode == 0
    assert time.monotonic() - started < 30 and seen_set(out) == "B"


def test_the_guard_keeps_the_previous_set_byte_identical(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    before = digests(out)
    for args, reason in [(["--scored", "0", "--extra", "a_only.csv"], "no scored unit"),
                         (["--iris", "0", "--extra", "a_only.csv"], "no scored unit"),
                         (["--iris", "45", "--extra", "a_only.csv"], "5 of the 50 IRIS")]:
        refused = work(out, "B", *args)
        assert refused.returncode == 5 and "--accept-shrink" in refused.stderr
        assert reason in refused.stderr
        assert digests(out) == before and seen_set(out) == "A"
        assert_clean(out)
    assert work(out, "B", "--iris", "48", "--extra", "qpv.parquet").returncode == 0   # 4 % lost: allowed
    refused = work(out, "C", "--iris", "48")
    assert refused.returncode == 5 and "layer qpv would disappear" in refused.stderr
    assert work(out, "C", "--iris", "0", "--accept-shrink").returncode == 0
    assert seen_set(out) == "C"


def test_injected_full_disk_keeps_the_previous_set(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    before = digests(out)
    for point in ("seal:hashed", "seal:manifest", "journal", "swap:prepared"):
        failed = work(out, "B", "--extra", "a_only.csv", fault=f"enospc@{point}")
        assert failed.returncode == 6, failed.stderr
        assert "disk is full" in failed.stderr or "No space left" in failed.stderr
        assert "current outputs are unchanged" in failed.stderr
        repaired(out)
        assert digests(out) == before and seen_set(out) == "A"
        assert_clean(out)
        assert_user_files_intact(out)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_and_read_only_disk_keep_the_previous_set(small_disk):
    out = small_disk / "out"
    add_user_files(out)
    assert work(out, "A").returncode == 0
    before = digests(out)
    full = work(out, "B", "--bytes", "300000")
    assert full.returncode == 6 and "disk is full" in full.stderr, full.stderr
    assert digests(out) == before and seen_set(out) == "A"
    assert_clean(out)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    read_only = work(out, "B")
    assert read_only.returncode == 6 and "Read-only file system" in read_only.stderr, read_only.stderr
    assert digests(out) == before and seen_set(out) == "A" and publish.validate_dir(out).ok
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert_user_files_intact(out)


def test_rollback_restores_exact_bytes_and_keeps_history(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    bytes_a = {name: p.read_bytes() for name, p in visible(out).items()}
    for tag in "BC":
        assert work(out, tag, "--extra", "a_only.csv").returncode == 0
    sets = publish.all_sets(out)
    assert [s.meta["method"] for s in sets] == ["A", "B", "C"]
    back = work(out, "--rollback", sets[0].run_id[:-2])          # a unique prefix is enough
    assert back.returncode == 0, back.stderr
    assert {name: p.read_bytes() for name, p in visible(out).items()} == bytes_a
    assert publish.current(out).run_id == sets[0].run_id and len(publish.all_sets(out)) == 3
    assert_clean(out)
    assert_user_files_intact(out)
    assert work(out, "D", "--extra", "a_only.csv").returncode == 0     # keep=3: A goes, C stays
    assert [s.meta["method"] for s in publish.all_sets(out)] == ["B", "C", "D"]


def test_rollback_killed_at_every_step(two_sets, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(two_sets, base, symlinks=True)
    assert work(base, "B", "--extra", "b_only.csv", "--accept-shrink").returncode == 0
    run_a = publish.all_sets(base)[0].run_id
    trace = tmp_path / "trace"
    probe = tmp_path / "probe"
    shutil.copytree(base, probe, symlinks=True)
    assert work(probe, "--rollback", run_a, trace=trace).returncode == 0
    points = [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]
    assert "swap:done" in points
    for k, point in enumerate(points, start=1):
        out = tmp_path / f"k{k}"
        shutil.copytree(base, out, symlinks=True)
        assert work(out, "--rollback", run_a, fault=f"kill@{k}").returncode == -signal.SIGKILL
        assert seen_set(out) in ("A", "B")
        repaired(out)
        assert seen_set(out) == "A", point      # the journal is written first: always rolled forward
        assert_clean(out)
        assert_user_files_intact(out)


def test_a_changed_set_is_not_restored(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    assert work(out, "B", "--extra", "a_only.csv").returncode == 0
    old = publish.all_sets(out)[0]
    (old.path / "iris.gpkg").chmod(0o644)
    (old.path / "iris.gpkg").write_text("gpkg twin of iris, run A\nedited by hand")
    refused = work(out, "--rollback", old.run_id)
    assert refused.returncode == 2 and "changed since it was written" in refused.stderr
    assert seen_set(out) == "B"


def test_validate_names_what_is_wrong(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    assert publish.validate_dir(out).ok
    target = publish.current(out).path / "regions.gpkg"
    target.chmod(0o644)
    target.write_text("gpkg twin of regions, run A\nXX")
    (out / "epci.gpkg").unlink()
    (out / "communes.gpkg").unlink()
    (out / "communes.gpkg").write_text("mine")
    report = publish.validate_dir(out)
    assert not report.ok
    assert any(e.startswith("regions.gpkg: changed since set") for e in report.errors)
    assert any(e.startswith("epci.gpkg: in set") for e in report.errors)
    assert any(e.startswith("communes.gpkg: a file that is not the set's") for e in report.errors)
    assert not publish.validate_dir(tmp_path).ok


def test_a_users_file_with_an_output_name_stops_the_publication(tmp_path):
    out = tmp_path / "out"
    add_user_files(out)
    (out / "regions.parquet").write_bytes(b"my own regions")
    refused = work(out, "A")
    assert refused.returncode == 6 and "regions.parquet" in refused.stderr and "did not write" in refused.stderr
    assert (out / "regions.parquet").read_bytes() == b"my own regions"
    assert not visible(out) and not publish.all_sets(out)
    assert_user_files_intact(out)


def legacy_folder(out: Path) -> dict[str, bytes]:
    """Outputs as fragilite wrote them before output sets: regular files, state.json, run report."""
    from tests.publish_worker import write_set

    add_user_files(out)
    write_set(out, "L", 50, True, [], 0)
    report = {"method": "L", "outputs": {l: {"parquet": str(out / f"{l}.parquet"), "gpkg": str(out / f"{l}.gpkg")}
                                         for l in ("iris", "communes", "epci", "departements", "regions")},
              "rejects": {"file": str(out / "rejects.csv")}}
    (out / "run_report.json").write_text(json.dumps(report))
    recorded = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()}
    (out / ".fragilite").mkdir()
    (out / ".fragilite" / "state.json").write_text(json.dumps({"key": "k", "outputs": recorded}))
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name not in USER_FILES}


def test_the_layout_before_sets_is_kept_as_a_set_even_if_killed(tmp_path):
    base = tmp_path / "base"
    outputs = legacy_folder(base)
    trace = tmp_path / "trace"
    probe = tmp_path / "probe"
    shutil.copytree(base, probe, symlinks=True)
    assert work(probe, "--repair", trace=trace).returncode == 0
    points = [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]
    assert "adopt:current" in points and "adopt:iris.parquet" in points
    for k in range(1, len(points) + 1):
        out = tmp_path / f"k{k}"
        shutil.copytree(base, out, symlinks=True)
        assert work(out, "--repair", fault=f"kill@{k}").returncode == -signal.SIGKILL
        assert {n: (out / n).read_bytes() for n in outputs} == outputs     # readers: same bytes throughout
        repaired(out)
        assert {n: (out / n).read_bytes() for n in outputs} == outputs
        assert all(publish.is_our_link(out / n) for n in outputs)
        assert publish.current(out).meta["legacy"] is True
        assert_user_files_intact(out)
        assert publish.validate_dir(out).ok


# ---------------------------------------------------------------- a folder added to the current set (the web map)

def map_of(out: Path) -> str | None:
    """What OUT/carte shows: its index.html's first line, or None when there is no map."""
    page = out / "carte" / "index.html"
    return page.read_text().splitlines()[0] if page.exists() else None


def test_an_added_folder_is_published_rolled_back_and_pruned_with_its_set(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    added = work(out, "--add", "carte")
    assert added.returncode == 0, added.stderr
    run_a = publish.current(out).run_id
    assert map_of(out) == "map of run A, version 1" and seen_set(out) == "A"
    assert publish.is_our_link(out / "carte") and "carte/data/layer.js" in publish.current(out).files
    assert work(out, "B", "--keep", "2").returncode == 0
    assert not os.path.lexists(out / "carte"), "set B has no map: A's must not stay published"
    assert_clean(out)
    assert work(out, "--rollback", run_a).returncode == 0
    assert map_of(out) == "map of run A, version 1" and seen_set(out) == "A"
    run_b = publish.all_sets(out)[-1].run_id
    assert work(out, "--rollback", run_b).returncode == 0
    assert not os.path.lexists(out / "carte")
    assert work(out, "--add", "carte").returncode == 0 and map_of(out) == "map of run B, version 1"
    assert work(out, "--rollback", run_a).returncode == 0 and map_of(out) == "map of run A, version 1"
    assert work(out, "--add", "carte", "--version", "2").returncode == 0    # replaced in its set
    assert map_of(out) == "map of run A, version 2" and not publish.current(out).check()
    assert work(out, "C", "--keep", "1").returncode == 0                     # A and its map pruned
    assert [s.meta["method"] for s in publish.all_sets(out)] == ["C"] and map_of(out) is None
    assert_clean(out)
    assert_user_files_intact(out)


def test_adding_a_folder_killed_at_every_step(two_sets, tmp_path):
    """Replacing a set's map, killed anywhere: after repair the folder is one consistent set whose
    map, if listed, is whole (the old one or the new one), and the next add works."""
    base = tmp_path / "base"
    shutil.copytree(two_sets, base, symlinks=True)
    assert work(base, "--add", "carte").returncode == 0
    probe, trace = tmp_path / "probe", tmp_path / "trace"
    shutil.copytree(base, probe, symlinks=True)
    assert work(probe, "--add", "carte", "--version", "2", trace=trace).returncode == 0
    points = [line.split(" ", 1)[1] for line in trace.read_text().splitlines()]
    assert {"add:carte:sealed", "add:carte:unlisted", "add:carte:renamed", "add:carte:listed"} <= set(points)
    for k, point in enumerate(points, start=1):
        out = tmp_path / f"k{k}"
        shutil.copytree(base, out, symlinks=True)
        killed = work(out, "--add", "carte", "--version", "2", fault=f"kill@{k}")
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        repaired(out)
        assert_clean(out)
        assert seen_set(out) == "A", point
        assert map_of(out) in ("map of run A, version 1", "map of run A, version 2", None), point
        leftovers = [p.name for p in publish.current(out).path.iterdir() if p.name.startswith((".tmp-", ".trash-"))]
        assert leftovers == [], point
        assert work(out, "--add", "carte", "--version", "3").returncode == 0
        assert map_of(out) == "map of run A, version 3" and not publish.current(out).check()
        shutil.rmtree(out)


def test_a_users_folder_named_like_the_map_is_never_replaced(two_sets, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    (out / "carte").mkdir()
    (out / "carte" / "index.html").write_text("my own page\n")
    refused = work(out, "--add", "carte")
    assert refused.returncode == 6 and "carte is taken" in refused.stderr
    assert (out / "carte" / "index.html").read_text() == "my own page\n"
    assert "carte" not in publish.current(out).names and not list(publish.current(out).path.glob(".tmp-*"))


def test_the_map_of_an_earlier_version_outside_the_sets_is_removed(two_sets, tmp_path):
    """Before maps were in sets, OUT/carte was a folder rebuilt whole by each `fragilite carte`."""
    out = tmp_path / "out"
    shutil.copytree(two_sets, out, symlinks=True)
    (out / "carte" / "data").mkdir(parents=True)
    (out / "carte" / "config.js").write_text("window.FRAGILITE_CONFIG = {};\n")
    assert any("earlier version" in action for action in repaired(out))
    assert not os.path.lexists(out / "carte")
    assert_user_files_intact(out)
