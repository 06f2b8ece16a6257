"""The README's scheduled refresh, for real: `prefect server start` on loopback, a process work
pool, `fragilite deploy` from the clone's root and from another folder, `prefect deployment run`,
`prefect worker start`, and `prefect flow-run ls` / `deployment ls` (HTTP 422 with fastapi 0.151+,
hence the pin). Subprocesses only, bounded in time, stopped at the end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from indicators import PROJECT_DIR, SAMPLE_DIR
from indicators.outputs import publish

pytestmark = pytest.mark.prefect_server
BIN = Path(sys.executable).parent
POOL = "fragilite-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server of its own (own PREFECT_HOME, own port), stopped after the module."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_CLI_PROMPT="false", COLUMNS="250")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "server.log").read_text()
            time.sleep(1)
        else:
            pytest.fail("prefect server did not start in 180 s:\n" + (home / "server.log").read_text())
        yield env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def cli(env: dict, *args: str, cwd: Path = PROJECT_DIR, timeout: float = 240) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def test_deployments_registered_anywhere_run_on_a_process_worker(server, tmp_path):
    env = server
    out = tmp_path / "out"
    elsewhere = tmp_path / "ailleurs"
    elsewhere.mkdir()
    cli(env, BIN / "prefect", "work-pool", "create", POOL, "--type", "process")
    options = ["--work-pool", POOL, "--method", "d4g-2020", "--no-download", "--out", str(out),
               "--input", f"mednum_kit_2020={SAMPLE_DIR / 'mednum_kit_2020/2020/09.csv.gz'}"]
    cli(env, BIN / "fragilite", "deploy", "--name", "depuis-la-racine", *options, cwd=PROJECT_DIR)
    cli(env, BIN / "fragilite", "deploy", "--name", "depuis-ailleurs", *options, cwd=elsewhere)
    listed = cli(env, BIN / "prefect", "deployment", "ls").stdout
    assert "depuis-la-racine" in listed and "depuis-ailleurs" in listed
    for name in ("depuis-la-racine", "depuis-ailleurs"):
        cli(env, BIN / "prefect", "deployment", "run", f"fragilite-refresh/{name}")
    worker_dir = tmp_path / "worker"
    worker_dir.mkdir()
    # --run-once: takes the runs scheduled now, runs them (the second waits for the first's lock,
    # then finds the set up to date) and returns when they are finished
    cli(env, BIN / "prefect", "worker", "start", "--pool", POOL, "--run-once", cwd=worker_dir, timeout=400)
    runs = json.loads(cli(env, BIN / "prefect", "flow-run", "ls", "--output", "json").stdout)
    states = sorted(r["state"]["type"] for r in runs)
    assert states == ["COMPLETED", "COMPLETED"], runs
    table = cli(env, BIN / "prefect", "flow-run", "ls").stdout
    assert table.count("COMPLETED") == 2
    assert publish.validate_dir(out).ok and (out / "iris.gpkg").exists()
    assert len(publish.all_sets(out)) == 1        # the second run found the first's set up to date
