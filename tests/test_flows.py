"""Prefect: the deployment's registration on a real (test-harness) Prefect server, the flow's
no-op refresh, and the Dask runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest


from flows.deploy import DEFAULT_CRON, register


def test_deployment_registers_with_cron(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client

    params = {"out": str(tmp_path / "out"), "territory": ["48"], "method": "kit-2020", "download": False}
    deployment_id = register(name="test-mensuel", cron="0 6 2 * *", parameters=params)

    async def read():
        async with get_client() as client:
            return await client.read_deployment(deployment_id)

    dep = asyncio.run(read())
    assert dep.name == "test-mensuel"
    assert dep.parameters["method"] == "kit-2020" and dep.parameters["territory"] == ["48"]
    crons = [s.schedule.cron for s in dep.schedules]
    assert crons == ["0 6 2 * *"] and dep.schedules[0].schedule.timezone == "Europe/Paris"
    assert DEFAULT_CRON == "0 6 2 * *"


def test_flow_second_run_is_a_no_op(prefect_harness, tmp_path):
    from flows.refresh import refresh

    first = refresh(out=str(tmp_path), territory=["48"])
    second = refresh(out=str(tmp_path), territory=["48"])
    assert "a_jour" not in first and second["a_jour"] is True


def test_dask_runner_gives_the_same_layers(prefect_harness, tmp_path):
    """A local Dask cluster of 2 worker processes runs the same tasks: byte-identical layers."""
    import hashlib

    from flows.refresh import refresh, with_runner

    refresh(out=str(tmp_path / "default"), territory=["48"])
    with_runner("dask", workers=2)(out=str(tmp_path / "dask"), territory=["48"])
    for name in ("iris", "communes", "epci", "departements", "regions", "qpv"):
        for ext in ("parquet", "gpkg"):
            a = hashlib.sha256((tmp_path / "default" / f"{name}.{ext}").read_bytes()).hexdigest()
            b = hashlib.sha256((tmp_path / "dask" / f"{name}.{ext}").read_bytes()).hexdigest()
            assert a == b, f"{name}.{ext}"


# ---------------------------------------------------------------- `run` and `deploy` take the same options

# how each command runs, not what a refresh computes: the only options one has and the other not
RUN_ONLY = {"runner", "dask_address", "accept_shrink"}
DEPLOY_ONLY = {"cron", "name", "work_pool", "serve"}


def _option_names(command: str) -> set[str]:
    import typer

    from indicators.cli import app

    return {p.name for p in typer.main.get_command(app).commands[command].params}


def test_deploy_offers_every_option_of_run():
    run, deploy = _option_names("run"), _option_names("deploy")
    assert run - RUN_ONLY == deploy - DEPLOY_ONLY, (run ^ deploy) - RUN_ONLY - DEPLOY_ONLY
    assert {"classes", "min_denominator", "debit_fixe", "services_publics", "debit_thd", "seuils_deciles",
            "thresholds", "crs", "qpv_calibration", "with_map"} <= deploy


def test_the_command_line_passes_every_parameter_of_the_flow():
    import inspect

    from flows.refresh import refresh
    from indicators.cli import flow_parameters
    from indicators.stages.options import RunOptions

    given = flow_parameters({}, RunOptions(), Path("out"), False, False,
                            {"wait": 0, "accept_shrink": False, "keep": 5, "max_iris_loss": 0.05})
    assert set(given) == set(inspect.signature(refresh.fn).parameters)


def test_a_scheduled_run_computes_what_run_computes(tmp_path, monkeypatch):
    """The same options given to `run` and to `deploy`: the flow gets the same parameters (paths
    absolute in the deployment: its worker runs in another folder)."""
    import flows.deploy
    from typer.testing import CliRunner

    import indicators.cli as cli
    from indicators.errors import FragiliteError

    captured = {}

    def capture_run(runner, address, parameters):
        captured["run"] = parameters
        raise FragiliteError("captured")
    monkeypatch.setattr(cli, "start_refresh", capture_run)
    monkeypatch.setattr(flows.deploy, "register", lambda name, cron, params, pool: captured.setdefault("deploy", params))
    (tmp_path / "seuils.csv").write_text("reference,x\n")
    (tmp_path / "deciles.csv").write_text("x\n")
    (tmp_path / "rp.csv").write_text("IRIS;P19_POP\n")
    options = ["--method", "ifn-2023", "--reference", "departement", "--territory", "30,34",
               "--thresholds", str(tmp_path / "seuils.csv"), "--seuils-deciles", str(tmp_path / "deciles.csv"),
               "--crs", "EPSG:2154", "--qpv", "2024", "--qpv-calibration", "population", "--carte",
               "--debit-fixe", "8", "--debit-thd", "100", "--services-publics", "a101,A104",
               "--classes", "fisher-jenks", "--min-denominator", "500", "--keep", "3", "--max-iris-loss", "0.1",
               "--input", f"rp_population={tmp_path / 'rp.csv'}", "--out", str(tmp_path / "out")]
    ran = CliRunner().invoke(cli.app, ["run", *options])
    assert ran.exit_code == 2 and "captured" in ran.output, ran.output
    deployed = CliRunner().invoke(cli.app, ["deploy", "--no-download", *options])
    assert deployed.exit_code == 0, deployed.output
    run, deploy = captured["run"], captured["deploy"]
    assert run.pop("accept_shrink") is False and run.pop("wait") == 0 and deploy.pop("wait") == 3600
    assert run == deploy
    assert deploy["classes"] == "fisher-jenks" and deploy["services_publics"] == ["A101", "A104"]
    assert deploy["carte"] is True and deploy["min_denominator"] == 500 and deploy["debit_thd"] == 100


def test_deploy_checks_its_options_now(monkeypatch):
    import flows.deploy
    from typer.testing import CliRunner

    from indicators.cli import app

    monkeypatch.setattr(flows.deploy, "register", lambda *a: pytest.fail("registered with a bad option"))
    bad = CliRunner().invoke(app, ["deploy", "--classes", "jenks"])
    assert bad.exit_code == 2 and "unknown class scheme 'jenks'" in bad.output
