"""The refresh flow: stage every source (one task each), compute, export.

Prefect orchestrates; the logic lives in `indicators`. Tasks exchange paths and small values.
Every source is staged even when another fails, so one run reports all the bad inputs at once.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from indicators.stages.compute import Computed, RunOptions, compute
from indicators.stages.options import MIN_DENOMINATOR
from indicators.errors import FragiliteError
from indicators.outputs import publish
from indicators.outputs.export import write_outputs
from indicators.outputs.report import report_markdown
from indicators import cache
from indicators.pipeline import (Publication, check_failures, check_options, complete_with_empty, holding,
                                 map_if_missing, new_work_dir, plan, provenance_of, stage_all, stage_cache, stage_cached,
                                 staged_paths,
                                 write_and_publish)
from indicators.sources.staging import Staged


@task(name="stage", retries=0)
def stage_task(source_id: str, paths: list[str], out_dir: str, apes: list[str], keys: Staged | None = None) -> Staged:
    return stage_cached(source_id, [Path(p) for p in paths], Path(out_dir), apes, keys)


class _Outcome:
    """A stage task's future, seen as pipeline.stage_all expects: (source, Staged, error)."""

    def __init__(self, sid: str, future):
        self.sid, self.future = sid, future

    def result(self) -> tuple[str, Staged | None, Exception | None]:
        self.future.wait()
        if self.future.state.is_completed():
            return self.sid, self.future.result(), None
        try:
            self.future.result()
        except FragiliteError as exc:  # collected: every bad input is reported at once
            return self.sid, None, exc
        raise RuntimeError(f"stage task of {self.sid} ended in state {self.future.state.name}")


@task(name="download", retries=0)
def download_task(source_id: str, raw_dir: str) -> dict:
    from indicators.sources.download import download
    from indicators.sources.registry import source

    src = source(source_id)
    got = download(src.url(), Path(raw_dir) / source_id / str(src.default), sha256=src.millesime().sha256)
    return {"source": source_id, "status": got.status, "path": str(got.path), "sha256": got.sha256}


@task(name="compute")
def compute_task(paths: dict[str, str], options: RunOptions, work_dir: str, out_dir: str | None = None) -> str:
    computed = compute(paths, options, Path(work_dir), stage_cache(Path(out_dir)) if out_dir else None)
    target = Path(work_dir) / "computed.json"
    computed.save(target)
    return str(target)


@task(name="export")
def export_task(computed_json: str, set_dir: str, options: RunOptions, provenance: dict, started: float,
                failures: list[str], public_dir: str, run_id: str) -> dict:
    """Every output written into the new set's folder; the flow then publishes it whole."""
    computed = Computed.load(Path(computed_json))
    return write_outputs(computed, Path(set_dir), options.method, options.reference, provenance, started, failures,
                         public_dir=Path(public_dir), run_id=run_id)


def task_runner(runner: str = "default", address: str | None = None, workers: int = 2):
    """The flow's task runner: Prefect's default (threads), or Dask (a local cluster of `workers`
    processes, or the scheduler at `address`). The tasks are the same; only where they run changes."""
    if runner == "default":
        return None
    if runner != "dask":
        raise FragiliteError(f"unknown runner {runner!r}; choose default or dask")
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


def with_runner(runner: str = "default", address: str | None = None, workers: int = 2):
    chosen = task_runner(runner, address, workers)
    return refresh if chosen is None else refresh.with_options(task_runner=chosen)


def download_sources(inputs: dict | None, logger) -> None:
    """Every source with a URL; one failing download is reported and the run goes on with what it
    has (the cache, or the sample), rather than stopping every other source."""
    from indicators.sources.registry import RAW_DIR, load_registry

    futures = {sid: download_task.with_options(name=f"download-{sid}").submit(sid, str(RAW_DIR))
               for sid, src in load_registry().items() if src.url() and sid not in (inputs or {})}
    for sid, fut in futures.items():
        fut.wait()
        if fut.state.is_completed():
            logger.info("%s: %s", sid, fut.result()["status"])
        else:
            logger.error("%s: download failed: %s", sid, fut.state.message)


@flow(name="fragilite-refresh", log_prints=True)
def refresh(inputs: dict[str, list[str]] | None = None, out: str = "data/out",
            method: str = "ifn-2020", reference: str = "region", territory: list[str] | None = None,
            thresholds: str | None = None, crs: str = "auto", qpv: str = "2015",
            qpv_calibration: str = "none", download: bool = False, seuils_deciles: str | None = None,
            debit_fixe: float | None = None, services_publics: list[str] | None = None,
            wait: float = 0.0, accept_shrink: bool = False, keep: int = publish.DEFAULT_KEEP,
            max_iris_loss: float = publish.DEFAULT_MAX_IRIS_LOSS, classes: str = "auto",
            min_denominator: float = MIN_DENOMINATOR,
            debit_thd: float | None = None, lissage: str = "aucun", carte: bool = False) -> dict:
    """Stage, compute and publish, holding the output folder (`wait`: seconds to queue behind
    another run). The outputs are published as one set, unless the guard refuses them (no scored
    unit, more than `max_iris_loss` of the current set's IRIS gone; `accept_shrink` lifts it).
    `carte`: the web map too, in the set (or added to the current one when up to date)."""
    started = time.time()
    options = RunOptions(method=method, reference=reference, territory=territory,
                         thresholds=Path(thresholds) if thresholds else None, crs=crs, qpv=qpv,
                         qpv_calibration=qpv_calibration,
                         seuils_deciles=Path(seuils_deciles) if seuils_deciles else None,
                         classes=classes, min_denominator=min_denominator, lissage=lissage)
    if debit_fixe is not None:
        options.debit_fixe = float(debit_fixe)
    if services_publics:
        options.services_publics = list(services_publics)
    if debit_thd is not None:
        options.debit_thd = float(debit_thd)
    check_options(options)
    publication = Publication(wait=wait, keep=keep, guard=publish.Guard(max_iris_loss, accept_shrink), carte=carte)
    logger = get_run_logger()
    if download:
        download_sources(inputs, logger)
    resolved = plan({k: [Path(p) for p in v] for k, v in (inputs or {}).items()})
    out_dir = Path(out)
    with holding(out_dir, options, publication):
        for action in publish.repair(out_dir):
            logger.warning("%s: %s (after an interrupted run)", out_dir, action)
        key, previous = cache.check(resolved, options, out_dir)
        if previous is not None:
            map_if_missing(out_dir, publication)
            logger.info("inputs, options and code unchanged since the last refresh: nothing recomputed, "
                        "outputs in %s left as they are", out_dir.resolve())
            create_markdown_artifact(key="fragilite-run-report", description="fragilite refresh: up to date",
                                     markdown="Inputs, options and code unchanged: nothing recomputed.\n\n"
                                              + report_markdown(previous))
            return {**previous, "a_jour": True}
        return publish_refresh(resolved, out_dir, options, publication, key, started, logger)


def publish_refresh(resolved: dict[str, list[Path]], out_dir: Path, options: RunOptions,
                    publication: Publication, key: str | None, started: float, logger) -> dict:
    """The work of a refresh that has some: stage (a task per file), compute, write a new output
    set and publish it whole."""
    work_dir = new_work_dir(out_dir)
    try:
        apes = [options.plateformes.ape_livreurs, options.plateformes.ape_vtc]

        def submit(sid: str, path: Path, keys: Staged | None) -> _Outcome:
            task_ = stage_task.with_options(name=f"stage-{sid}-{path.name}")
            return _Outcome(sid, task_.submit(sid, [str(path)], str(out_dir), apes, keys))
        staged, failures = stage_all(resolved, out_dir, apes, submit=submit)
        check_failures(resolved, staged, failures)
        paths = complete_with_empty(staged_paths(staged), work_dir)
        computed_json = compute_task(paths, options, str(work_dir), str(out_dir))
        failures = [str(f) for f in failures]
        key = key or cache.run_key(resolved, options, out_dir)
        report = write_and_publish(out_dir, lambda folder, run_id: export_task(
            computed_json, str(folder), options, provenance_of(staged), started, failures, str(out_dir), run_id),
            key, publication)
        if failures:
            logger.error("refresh finished WITHOUT %d input(s); the others' results are in the layers:\n%s",
                         len(failures), "\n".join(failures))
        create_markdown_artifact(key="fragilite-run-report", markdown=report_markdown(report),
                                 description="fragilite refresh: inputs, layers, rejects")
        logger.info("output set %s published in %s", report.get("run_id"), out_dir.resolve())
        return report
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
