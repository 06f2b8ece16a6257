"""Prefect: the deployment's registration on a real (test-harness) Prefect server, the flow's
no-op refresh, and the Dask runner."""

from __future__ import annotations

import asyncio


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
