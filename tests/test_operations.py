"""Refresh safety on real runs: two `fragilite run` of one folder a second apart, kill -9 of a
whole refresh, the up-to-date path that starts no flow, history / rollback / validate from the
command line, exit codes, output readable in 80 columns."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from indicators import SAMPLE_DIR
from indicators.cli import app
from indicators.lock import OutputLock
from indicators.outputs import publish

from .test_publish import add_user_files, assert_user_files_intact, start

runner = CliRunner()
BIN = Path(sys.executable).parent
ARIEGE = SAMPLE_DIR / "mednum_kit_2020" / "2020" / "09.csv.gz"     # one département: a quick real run
LAYERS = ("iris", "communes", "epci", "departements", "regions")


def one_run_everywhere(out: Path) -> str:
    """The method of the one run every published file comes from; fails on a mix or an empty layer."""
    import pyogrio

    report = publish.validate_dir(out)
    assert report.ok, report.errors
    methods = {json.loads((out / "run_report.json").read_text())["method"],
               json.loads((out / "dictionary.json").read_text())["method"]}
    for layer in LAYERS:
        table = pq.read_table(out / f"{layer}.parquet", columns=["methode"])
        twin = pyogrio.read_dataframe(out / f"{layer}.gpkg", columns=["methode"], read_geometry=False)
        assert table.num_rows > 0 and len(twin) == table.num_rows, layer
        methods |= set(table["methode"].to_pylist()) | set(twin["methode"])
    assert len(methods) == 1, methods
    return methods.pop()


def fragilite(out: Path, method: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "fragilite"), "run", "--method", method, "--out", str(out),
                             "--input", f"mednum_kit_2020={ARIEGE}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"COLUMNS": "80",
                                                                                              **_env()})


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}


def test_two_runs_of_one_folder_a_second_apart(tmp_path):
    out = tmp_path / "out"
    add_user_files(out)
    first = fragilite(out, "d4g-2020")
    time.sleep(1)
    second = fragilite(out, "ifn-2020", "--wait", "900")
    deadline = time.monotonic() + 120
    while not (out / ".fragilite" / "lock.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    third = subprocess.run([str(BIN / "fragilite"), "run", "--out", str(out), "--method", "kit-2020"],
                           capture_output=True, text=True, timeout=120)
    said_third = " ".join(third.stderr.split())
    assert third.returncode == 4, third.stderr
    assert "is being written by another fragilite run (pid" in said_third and "--wait" in said_third
    codes, said = {}, {}
    for proc, method in ((first, "d4g-2020"), (second, "ifn-2020")):
        said[method] = " ".join(proc.communicate(timeout=900)[1].split())
        codes[method] = proc.returncode
        assert proc.returncode in (0, 4), said[method]
        if proc.returncode == 4:
            assert "is being written by another fragilite run" in said[method]
    assert 0 in codes.values()
    if codes == {"d4g-2020": 0, "ifn-2020": 0}:     # the second waited for the first, said so, published last
        assert "waiting up to 900 s" in said["ifn-2020"]
    last = "ifn-2020" if codes["ifn-2020"] == 0 else "d4g-2020"
    assert one_run_everywhere(out) == last
    assert_user_files_intact(out)


REFRESH = """
import sys
from pathlib import Path
from indicators.pipeline import run_local
from indicators.stages.compute import RunOptions
run_local({"mednum_kit_2020": [Path(sys.argv[2])]}, Path(sys.argv[1]), RunOptions(method=sys.argv[3]))
"""


def refresh_process(out: Path, method: str, fault: str | None = None) -> subprocess.Popen:
    env = _env()
    env.pop(publish.FAULT_ENV, None)
    if fault:
        env[publish.FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-c", REFRESH, str(out), str(ARIEGE), method], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_of_a_whole_refresh_never_leaves_a_mix(tmp_path):
    out = tmp_path / "out"
    add_user_files(out)
    assert refresh_process(out, "d4g-2020").wait(timeout=600) == 0
    started = time.monotonic()
    assert refresh_process(out, "ifn-2020").wait(timeout=600) == 0
    duration = time.monotonic() - started
    rng = random.Random(11)
    kills = [("fault", "kill@seal:hashed"), ("fault", "kill@journal"), ("fault", "kill@swap:done")]
    kills += [("time", rng.uniform(0.5, duration)) for _ in range(3)]
    for kind, when in kills:
        before = one_run_everywhere(out)
        method = "d4g-2020" if before == "ifn-2020" else "ifn-2020"
        proc = refresh_process(out, method, fault=when if kind == "fault" else None)
        if kind == "time":
            try:
                proc.wait(timeout=when)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=600) in (-signal.SIGKILL, 0), proc.stderr.read()
        assert one_run_everywhere(out) in (before, method)       # readers meanwhile: one whole set
        with OutputLock(out):
            publish.repair(out)
        after = one_run_everywhere(out)
        if when in ("kill@journal", "kill@swap:done"):
            assert after == method                               # complete and journaled: rolled forward
        assert_user_files_intact(out)
    assert refresh_process(out, "d4g-2020").wait(timeout=600) == 0
    assert one_run_everywhere(out) == "d4g-2020"


def test_an_up_to_date_run_starts_no_flow_and_fits_80_columns(sample_run, monkeypatch):
    import flows.refresh

    out, _ = sample_run
    monkeypatch.setattr(flows.refresh, "with_runner", lambda *a, **k: pytest.fail("a flow run was started"))
    result = runner.invoke(app, ["run", "--out", str(out)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output and "iris.parquet  iris.gpkg" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_history_rollback_validate_from_the_command_line(tmp_path):
    from .publish_worker import main as write_synthetic_set

    out = tmp_path / "out"
    add_user_files(out)
    for tag in ("A", "B"):
        assert write_synthetic_set([str(out), tag]) == 0
    first, second = publish.all_sets(out)
    shown = runner.invoke(app, ["history", "--out", str(out)], env={"COLUMNS": "80"})
    assert shown.exit_code == 0
    assert shown.output.index(second.run_id) < shown.output.index(first.run_id)   # newest first
    assert f"* {second.run_id}" in shown.output and max(map(len, shown.output.splitlines())) <= 80
    back = runner.invoke(app, ["rollback", first.run_id[:-2], "--out", str(out)])
    assert back.exit_code == 0, back.output
    assert publish.current(out).run_id == first.run_id
    assert publish.validate_dir(out).ok
    (out / "iris.gpkg").unlink()
    broken = runner.invoke(app, ["validate", str(out)])
    assert broken.exit_code == 1 and "iris.gpkg: in set" in broken.output
    unknown = runner.invoke(app, ["rollback", "1999", "--out", str(out)])
    assert unknown.exit_code == 2 and "no set '1999'" in unknown.output
    assert_user_files_intact(out)


def test_validate_a_real_output_folder(sample_run):
    out, report = sample_run
    ok = runner.invoke(app, ["validate", str(out)])
    said = " ".join(ok.output.split())
    assert ok.exit_code == 0, ok.output
    assert f"one consistent output set, {report['run_id']}" in said and "ok " + str(out / "iris.parquet") in said


def test_a_busy_folder_exits_4_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    holder = start(out, "A", "--hold", "60")
    try:
        result = runner.invoke(app, ["run", "--out", str(out)])
        assert result.exit_code == 4
        assert f"pid {holder.pid}" in result.output and "test writer A" in result.output
        busy = runner.invoke(app, ["rollback", "x", "--out", str(out)])
        assert busy.exit_code == 4
    finally:
        holder.kill()
        holder.wait()


def test_readme_documents_the_exit_codes():
    from indicators import PROJECT_DIR
    from indicators import errors

    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("EXIT_INPUT", "EXIT_PARTIAL", "EXIT_BUSY", "EXIT_REFUSED", "EXIT_UNWRITABLE"):
        assert f"| {getattr(errors, name)} |" in readme, name


def test_the_method_list_of_the_command_line_is_the_scoring_one():
    from indicators.stages.methods import METHODS
    from indicators.stages.options import METHOD_NAMES

    assert list(METHOD_NAMES) == list(METHODS)
