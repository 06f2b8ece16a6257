"""The refresh as three plain functions (stage, compute, export) that Prefect tasks wrap.

Each step takes and returns paths and small values, so a flow can run them in separate tasks,
processes or machines. `run_local` chains them without Prefect, for tests and benchmarks.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from indicators import cache, integrity
from indicators.lock import OutputLock
from indicators.outputs import publish
from indicators.stages.compute import Computed, RunOptions, compute
from indicators.stages.stage_cache import StageCache, stages_dir
from indicators.outputs.export import write_outputs
from indicators.outputs.maps import preload_matplotlib
from indicators.stages.classes import resolve_scheme
from indicators.stages.methods import IFN_2023, METHODS
from indicators.sources.registry import resolve_inputs
from indicators.stages.scoring import REFERENCES
from indicators.stages.smoothing import check_smoothing
from indicators.sources.readers.arcep import eligible_column
from indicators.sources.staging import (COMMUNE_SOURCES, EMPTY, Staged, flag_synthetic, merge_staged, stage_empty,
                                        stage_source)
from indicators.errors import FragiliteError


def check_options(options: RunOptions) -> None:
    if options.method not in METHODS:
        raise FragiliteError(f"unknown method {options.method!r}; choose one of {', '.join(METHODS)}")
    if options.reference not in REFERENCES:
        raise FragiliteError(f"unknown reference {options.reference!r}; choose one of {', '.join(REFERENCES)}")
    if options.qpv not in ("2015", "2024", "none"):
        raise FragiliteError(f"unknown --qpv {options.qpv!r}; choose 2015, 2024 or none")
    if options.qpv_calibration not in ("none", "population"):
        raise FragiliteError(f"unknown --qpv-calibration {options.qpv_calibration!r}; choose none or population")
    resolve_scheme(options.classes, options.method)
    if not options.min_denominator >= 0:
        raise FragiliteError(f"--min-denominator {options.min_denominator}: a count, 0 or more")
    if options.thresholds is not None and not Path(options.thresholds).exists():
        raise FragiliteError(f"--thresholds {options.thresholds}: no such file")
    if options.seuils_deciles is not None:
        if options.method != IFN_2023:
            raise FragiliteError(f"--seuils-deciles is for --method {IFN_2023} (decile cut points); "
                                 f"{options.method} takes --thresholds")
        if not Path(options.seuils_deciles).exists():
            raise FragiliteError(f"--seuils-deciles {options.seuils_deciles}: no such file")
    check_smoothing(options.lissage, options.method)
    eligible_column(options.debit_fixe)   # an ARCEP class bound, or a clear error
    eligible_column(options.debit_thd)
    bad = [t for t in options.services_publics if not re.match(r"^[A-G]\d{3}$", t)]
    if bad or not options.services_publics:
        raise FragiliteError(f"--services-publics: {bad or 'empty'}: BPE types look like A206 (INSEE's TYPEQU)")


def plan(given: dict[str, list[Path]]) -> dict[str, list[Path]]:
    return resolve_inputs(given)


# Sources read against another one's staged table (a semi-join while reading): the SIRENE legal
# units and geolocations are only needed for the establishments of the trades studied.
KEYED_BY = {"sirene_unites_legales": "sirene_etablissements", "sirene_geolocalisation": "sirene_etablissements"}


def staging_waves(inputs: dict[str, list[Path]]) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(source, file) pairs to stage: those that need nothing, then those read against another
    source (KEYED_BY). Largest files first, so that two workers finish together."""
    def size(pair):
        return -pair[1].stat().st_size if pair[1].exists() else 0
    pairs = [(sid, p) for sid, paths in inputs.items() for p in paths]
    keyed = [(sid, p) for sid, p in pairs if KEYED_BY.get(sid) in inputs]
    first = [pair for pair in pairs if pair not in keyed]
    return sorted(first, key=size), sorted(keyed, key=size)


def gather(results: list[tuple[str, Staged | None, Exception | None]]) -> tuple[list[Staged], list]:
    """Staged parts merged per source, in input order, and the failures."""
    parts: dict[str, list[Staged]] = {}
    failures = []
    for sid, staged, error in results:
        if error is not None:
            failures.append(error)
        else:
            parts.setdefault(sid, []).append(staged)
    return [merge_staged(p) for p in parts.values()], failures


def stage_all(inputs: dict[str, list[Path]], out_dir: Path, apes: list[str],
              submit: Callable | None = None, workers: int = 2) -> tuple[list[Staged], list]:
    """Every input file staged on its own: a broken file (one département's, say) is reported and
    the others go on. A source none of whose files could be read stops the run (check_failures).
    Keyed sources wait for the source they are read against, and are not read when it could not be.

    `submit(source, path, keys)` starts one file's staging and returns a future whose result() is
    (source, Staged or None, error or None): Prefect tasks in the flow; by default `workers`
    threads (readers spend their time in DuckDB, pyarrow, GEOS and the inflater, which release
    the GIL)."""
    first, keyed = staging_waves(inputs)

    def run(submit: Callable) -> tuple[list[Staged], list]:
        futures = {(sid, str(p)): submit(sid, p, None) for sid, p in first}
        for sid in dict.fromkeys(KEYED_BY[s] for s, _ in keyed):
            keys, _ = gather([f.result() for k, f in futures.items() if k[0] == sid])
            for ksid, p in keyed:
                if KEYED_BY[ksid] == sid and keys:
                    futures[(ksid, str(p))] = submit(ksid, p, keys[0])
        order = [(sid, str(p)) for sid, paths in inputs.items() for p in paths]
        return gather([futures[k].result() for k in order if k in futures])

    if submit is not None:
        return run(submit)

    def one(sid: str, path: Path, keys: Staged | None):
        try:
            return sid, stage_cached(sid, [path], out_dir, apes, keys), None
        except FragiliteError as exc:
            return sid, None, exc

    with ThreadPoolExecutor(workers) as pool:
        return run(lambda sid, path, keys: pool.submit(one, sid, path, keys))


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


def stage_cached(source_id: str, paths: list[Path], out_dir: Path, apes: list[str],
                 keys: Staged | None = None) -> Staged:
    """Stage a source, or reuse its staged copy if its files (and the staged table it is read
    against, `keys`) have not changed (cache.py)."""
    hashes = [cache.file_hash(p, out_dir) for p in paths]
    against = [f["sha256"] for f in keys.files] if keys is not None else None
    slot = cache.staging_slot(out_dir, source_id, paths, hashes, apes, against)
    marker = slot / "staged.json"
    note = None
    if marker.exists():
        try:
            kept = json.loads(marker.read_text(encoding="utf-8"))
            integrity.check(slot, kept.pop("fichiers", None))
            staged = Staged(**{**kept, "path": _in_slot(kept["path"], slot), "extras": _in_slot(kept["extras"], slot)})
        except (integrity.DamagedEntry, ValueError, TypeError, KeyError) as exc:
            note = f"staged again: its kept copy was damaged ({exc})"
        else:
            return replace(staged, files=flag_synthetic(source_id, staged.files))
    shutil.rmtree(slot, ignore_errors=True)
    staged = stage_source(source_id, paths, slot, apes, hashes, keys)
    # written last, with the sizes of what it vouches for (a crash leaves no marker), its paths
    # relative to the slot (an output folder can be moved or mounted elsewhere)
    record = {**asdict(staged), "path": _in_slot(staged.path, slot, relative=True),
              "extras": _in_slot(staged.extras, slot, relative=True), "fichiers": integrity.sizes(slot)}
    marker.write_text(json.dumps(record), encoding="utf-8")
    cache.prune_staging(slot)
    return replace(staged, note=note)


def _in_slot(paths, slot: Path, relative: bool = False):
    """A staged path, list of paths or extras' dict of them, made relative to the staging slot,
    or back (relative=False) absolute in it."""
    if isinstance(paths, dict):
        return {k: _in_slot(v, slot, relative) for k, v in paths.items()}
    if isinstance(paths, list):
        return [_in_slot(p, slot, relative) for p in paths]
    if paths is None:
        return None
    if relative:
        return Path(paths).relative_to(slot).as_posix() if Path(paths).is_relative_to(slot) else paths
    return str(slot / paths)   # an absolute path stays as it is (Path's / operator)


def complete_with_empty(paths: dict[str, str], work_dir: Path) -> dict[str, str]:
    """Empty tables for the optional sources a run was not given: the census ones in a census run,
    the commune sources (ARCEP, BPE, the user's figures) in any run."""
    for sid in EMPTY if "rp_population" in paths else COMMUNE_SOURCES:
        if sid not in paths:
            paths[sid] = stage_empty(sid, work_dir).path
    return paths


def provenance_of(staged: list[Staged]) -> dict:
    out = {}
    for s in staged:
        out[s.source] = {"millesime": s.millesime, "files": s.files, "rows": s.rows}
        if s.rows_read is not None:   # rows read before the trades / keys filter (SIRENE)
            out[s.source]["rows_read"] = s.rows_read
        if s.note:   # said in the run report's notes (export.py)
            out[s.source]["note"] = s.note
    return out


def stage_cache(out_dir: Path) -> StageCache:
    """Where a refresh in out_dir keeps its stages' results (stages/stage_cache.py)."""
    return StageCache(stages_dir(out_dir), cache.code_fingerprint())


def new_work_dir(out_dir: Path) -> Path:
    """A run's scratch folder, under .fragilite/ (a crashed run's is removed by publish.repair)."""
    state = publish.state_dir(out_dir)
    state.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=publish.WORK, dir=state))


@dataclass
class Publication:
    """How a refresh publishes its outputs: not what it computes, so not part of its cache key."""

    wait: float = 0.0                    # seconds to wait for another run holding the output folder
    keep: int = publish.DEFAULT_KEEP     # output sets kept for `fragilite history` / `rollback`
    guard: publish.Guard = field(default_factory=publish.Guard)
    carte: bool = False                  # the web map built in the set, published with it


def holding(out_dir: Path, options: RunOptions, publication: Publication) -> OutputLock:
    """The output folder's lock for a refresh; a second run is told which one holds it."""
    what = f"refresh --method {options.method} --reference {options.reference}"
    if options.territory:
        what += " --territory " + ",".join(options.territory)
    return OutputLock(out_dir, publication.wait, what=what)


def set_meta(report: dict, key: str) -> dict:
    """What `fragilite history` shows of a set, and the cache key (none for a partial run: it is
    never taken for an up-to-date one)."""
    return {"key": None if report.get("echecs") else key, "method": report["method"],
            "reference": report["reference"], "crs": report["crs"], "finished": report["finished"],
            "vintages": {sid: p.get("millesime") for sid, p in report["inputs"].items()},
            "rows": {name: info["rows"] for name, info in report["outputs"].items()},
            "rejects": report["rejects"]["rows"], "echecs": len(report.get("echecs") or [])}


def write_and_publish(out_dir: Path, write: Callable[[Path, str], dict], key: str,
                      publication: Publication) -> dict:
    """`write(folder, run_id)` writes every output into a new set's folder and returns the run
    report; the set is then published whole, if the guard lets it (outputs/publish.py)."""
    with publish.new_set(out_dir) as made:
        report = write(made.path, made.run_id)
        made.meta.update(set_meta(report, key))
        if publication.carte:   # in the set before it is sealed: published, rolled back, pruned with it
            from indicators.outputs.carte.build import MAP_NAME, write_bundle

            write_bundle(made.path, made.path / MAP_NAME)
            made.meta[MAP_NAME] = True
    publish.publish(out_dir, made.sealed, publication.guard, publication.keep)
    return report


def map_if_missing(out_dir: Path, publication: Publication) -> dict | None:
    """An up-to-date run asked for the map: added to the current set if it has none."""
    from indicators.outputs.carte.build import MAP_NAME, publish_carte

    now = publish.current(out_dir)
    if not publication.carte or now is None or MAP_NAME in now.names:
        return None
    return publish_carte(out_dir)


def run_local(given: dict[str, list[Path]], out_dir: Path, options: RunOptions,
              publication: Publication | None = None) -> dict:
    """The refresh without Prefect, holding the output folder. Inputs unchanged since the
    published set: nothing is recomputed."""
    started = time.time()
    publication = publication or Publication()
    check_options(options)
    inputs = plan(given)
    with holding(out_dir, options, publication):
        publish.repair(out_dir)
        key, previous = cache.check(inputs, options, out_dir)
        if previous is not None:
            map_if_missing(out_dir, publication)
            return {**previous, "a_jour": True}
        preload_matplotlib()   # for the report maps, while the sources stage
        apes = [options.plateformes.ape_livreurs, options.plateformes.ape_vtc]
        staged, failures = stage_all(inputs, out_dir, apes)
        check_failures(inputs, staged, failures)
        work_dir = new_work_dir(out_dir)
        try:
            paths = complete_with_empty(staged_paths(staged), work_dir)
            computed: Computed = compute(paths, options, work_dir, stage_cache(out_dir), in_memory=True)
            key = key or cache.run_key(inputs, options, out_dir)
            return write_and_publish(out_dir, lambda folder, run_id: write_outputs(
                computed, folder, options.method, options.reference, provenance_of(staged), started,
                [str(f) for f in failures], public_dir=out_dir, run_id=run_id), key, publication)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
