"""The refresh as three plain functions (stage, compute, export) that Prefect tasks wrap.

Each step takes and returns paths and small values, so a flow can run them in separate tasks,
processes or machines. `run_local` chains them without Prefect, for tests and benchmarks.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from . import cache
from .compute import Computed, RunOptions, compute
from .export import write_outputs
from .methods import METHODS
from .registry import resolve_inputs
from .scoring import REFERENCES
from .staging import EMPTY, Staged, merge_staged, stage_empty, stage_source
from .errors import FragiliteError


def check_options(options: RunOptions) -> None:
    if options.method not in METHODS:
        raise FragiliteError(f"unknown method {options.method!r}; choose one of {', '.join(METHODS)}")
    if options.reference not in REFERENCES:
        raise FragiliteError(f"unknown reference {options.reference!r}; choose one of {', '.join(REFERENCES)}")
    if options.qpv not in ("2015", "2024", "none"):
        raise FragiliteError(f"unknown --qpv {options.qpv!r}; choose 2015, 2024 or none")
    if options.qpv_calibration not in ("none", "population"):
        raise FragiliteError(f"unknown --qpv-calibration {options.qpv_calibration!r}; choose none or population")
    if options.thresholds is not None and not Path(options.thresholds).exists():
        raise FragiliteError(f"--thresholds {options.thresholds}: no such file")


def plan(given: dict[str, list[Path]]) -> dict[str, list[Path]]:
    return resolve_inputs(given)


def stage_all(inputs: dict[str, list[Path]], out_dir: Path, apes: list[str]) -> tuple[list[Staged], list]:
    """Every input file staged on its own: a broken file (one département's, say) is reported and
    the others go on. A source none of whose files could be read stops the run."""
    staged, failures = [], []
    for sid, paths in inputs.items():
        parts = []
        for p in paths:
            try:
                parts.append(stage_cached(sid, [p], out_dir, apes))
            except FragiliteError as exc:
                failures.append(exc)
        if parts:
            staged.append(merge_staged(parts))
    return staged, failures


def check_failures(inputs: dict[str, list[Path]], staged: list[Staged], failures: list) -> None:
    """Stop when a source has no readable file at all: there is nothing to compute it from.
    A single failure is raised as itself (an InputError keeps its file, column and rows)."""
    lost = [sid for sid in inputs if sid not in {s.source for s in staged}]
    if lost:
        if len(failures) == 1:
            raise failures[0]
        raise FragiliteError("some inputs cannot be read:\n  " + "\n  ".join(str(f) for f in failures))


def staged_paths(staged: list[Staged]) -> dict[str, str]:
    paths = {s.source: s.path for s in staged}
    for s in staged:
        paths.update(s.extras or {})
    return paths


def stage_cached(source_id: str, paths: list[Path], out_dir: Path, apes: list[str]) -> Staged:
    """Stage a source, or reuse its staged copy if its files have not changed (cache.py)."""
    hashes = [cache.file_hash(p, out_dir) for p in paths]
    slot = cache.staging_slot(out_dir, source_id, paths, hashes, apes)
    marker = slot / "staged.json"
    if marker.exists():
        return Staged(**json.loads(marker.read_text(encoding="utf-8")))
    shutil.rmtree(slot, ignore_errors=True)
    staged = stage_source(source_id, paths, slot, apes, hashes)
    marker.write_text(staged.to_json(), encoding="utf-8")   # written last: a crash leaves no marker
    cache.prune_staging(slot)
    return staged


def complete_with_empty(paths: dict[str, str], work_dir: Path) -> dict[str, str]:
    if "rp_population" in paths:
        for sid in EMPTY:
            if sid not in paths:
                paths[sid] = stage_empty(sid, work_dir).path
    return paths


def provenance_of(staged: list[Staged]) -> dict:
    return {s.source: {"millesime": s.millesime, "files": s.files, "rows": s.rows} for s in staged}


def new_work_dir(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".fragilite-work-", dir=out_dir))


def run_local(given: dict[str, list[Path]], out_dir: Path, options: RunOptions) -> dict:
    """The refresh without Prefect. Inputs unchanged since the last run: nothing is recomputed."""
    started = time.time()
    check_options(options)
    inputs = plan(given)
    key = cache.run_key(inputs, options, out_dir)
    previous = cache.up_to_date(out_dir, key)
    if previous is not None:
        return {**previous, "a_jour": True}
    apes = [options.plateformes.ape_livreurs, options.plateformes.ape_vtc]
    staged, failures = stage_all(inputs, out_dir, apes)
    check_failures(inputs, staged, failures)
    work_dir = new_work_dir(out_dir)
    try:
        paths = complete_with_empty(staged_paths(staged), work_dir)
        computed: Computed = compute(paths, options, work_dir)
        report = write_outputs(computed, out_dir, options.method, options.reference,
                               provenance_of(staged), started, [str(f) for f in failures])
        if not failures:   # a partial run is never taken for an up-to-date one
            cache.record(out_dir, key)
        return report
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
