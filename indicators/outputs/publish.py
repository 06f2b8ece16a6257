"""Publish a refresh's outputs as one set, replaced whole; keep the last sets; roll back to one.

Layout of an output folder OUT (every name fragilite writes is in this list):

    OUT/iris.parquet             -> .fragilite/current/iris.parquet   one relative symlink per output
    OUT/.fragilite/current       -> sets/20250602T060012345Z-3fa2c1   THE switch: one symlink
    OUT/.fragilite/sets/<run>/   a complete set: layers, twins, tables, report, manifest.json
    OUT/carte                    -> .fragilite/current/carte   a folder of the set: the web map, built
                                 in the set before its publication (`run --carte`) or added to the
                                 current set later from its own layers (`fragilite carte`,
                                 add_to_current); a set without one has no link
    OUT/.fragilite/sets/.tmp-<run>/    a set being written (not a set yet)
    OUT/.fragilite/sets/.trash-<run>/  a set being deleted (not a set any more)
    OUT/.fragilite/publish.json  the journal of a publication under way
    OUT/.fragilite/lock, lock.json     the writer's lock (indicators/lock.py)

A reader opening OUT/iris.parquet goes through `current`, which a rename switches from one
complete set to the next in one step: every name it opens is of the old set or of the new one,
never a mix, and a file it holds open stays readable after the switch (POSIX keeps the inode).
A set is written under `.tmp-<run>`, its files hashed and fsynced, `manifest.json` written last,
then renamed to its final name: a folder `sets/<run>` is always complete. The journal is written
before the first public link changes; the next run (or rollback) finishes a journal whose set is
complete (roll forward) and drops one whose set is not (roll back). Only names fragilite wrote are
ever deleted or replaced: a public name is ours when it is a symlink whose target is exactly
`.fragilite/current/<name>`; anything else in OUT (a user's notes, a QGIS project, `iris.csv`)
is never touched, and a user's file holding an output's name stops the publication.

Every step that changes the folder passes a fault point (`_fault`): FRAGILITE_FAULT=kill@7 makes
the process SIGKILL itself at the 7th point it reaches, kill@swap:done at the named one,
enospc@seal:hashed raises ENOSPC there; FRAGILITE_FAULT_TRACE=FILE appends every point reached.
The tests kill a publication at each point and check what the next run finds.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from indicators.errors import FragiliteError, OutputUnwritable, PublicationRefused
from indicators.lock import STATE_DIR, holds

SETS = "sets"
CURRENT = "current"
JOURNAL = "publish.json"
MANIFEST = "manifest.json"
TMP, TRASH = ".tmp-", ".trash-"
WORK = "work-"          # .fragilite/work-*: a run's scratch folder (pipeline.new_work_dir)
DEFAULT_KEEP = 5
DEFAULT_MAX_IRIS_LOSS = 0.05
SCORED_LAYERS = ("iris", "communes", "epci", "departements", "regions")
FAULT_ENV, TRACE_ENV = "FRAGILITE_FAULT", "FRAGILITE_FAULT_TRACE"
T = TypeVar("T")


# ---------------------------------------------------------------- fault points (tests)

_points = 0


def _fault(step: str) -> None:
    """A point where the folder has just changed: a test can stop or fail the process here."""
    spec, trace = os.environ.get(FAULT_ENV), os.environ.get(TRACE_ENV)
    if not spec and not trace:
        return
    global _points
    _points += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(f"{_points} {step}\n")
    if not spec:
        return
    action, _, where = spec.partition("@")
    if where not in (str(_points), step):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    code = {"enospc": errno.ENOSPC, "erofs": errno.EROFS, "eacces": errno.EACCES}[action]
    raise OSError(code, os.strerror(code), step)


# ---------------------------------------------------------------- paths and small helpers

def state_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR


def sets_dir(out_dir: Path) -> Path:
    return state_dir(out_dir) / SETS


def link_target(name: str) -> str:
    return f"{STATE_DIR}/{CURRENT}/{name}"


def is_our_link(path: Path) -> bool:
    return path.is_symlink() and os.readlink(path) == link_target(path.name)


def new_run_id() -> str:
    """Sortable by time to the millisecond (history's order), unique: 20250602T060012345Z-3fa2c1."""
    now = time.time()
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}{int(now * 1000) % 1000:03d}Z-{secrets.token_hex(3)}"


def _require_lock(out_dir: Path) -> None:
    if not holds(out_dir):
        raise RuntimeError(f"{out_dir}: take indicators.lock.OutputLock before changing the output set")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _digest(path: Path, sync: bool = False) -> str:
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if sync:
            os.fsync(fh.fileno())
    return digest


def _stat_of(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_ctime_ns, st.st_mtime_ns]


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


# ---------------------------------------------------------------- sets

@dataclass
class OutputSet:
    run_id: str
    path: Path
    manifest: dict

    @property
    def files(self) -> dict[str, dict]:
        return self.manifest.get("files", {})

    @property
    def meta(self) -> dict:
        return self.manifest.get("meta", {})

    @property
    def names(self) -> list[str]:
        """The public names: the top-level entries of the set."""
        return sorted({rel.split("/", 1)[0] for rel in self.files})

    def check(self, deep: bool = True, trust_stat: bool = False) -> list[str]:
        """What differs from the manifest: missing files, other sizes, other bytes (sha256, when
        `deep`). `trust_stat`: a file whose inode, ctime and mtime are those recorded when the set
        was sealed is not read again (any write, chmod or link changes its ctime): the up-to-date
        check costs a stat per file, not a read of every byte."""
        problems = []
        for rel, info in sorted(self.files.items()):
            path = self.path / rel
            if not path.is_file():
                problems.append(f"{rel}: missing from set {self.run_id}")
                continue
            st = path.stat()
            if st.st_size != info["size"]:
                problems.append(f"{rel}: changed since set {self.run_id} was written "
                                f"({st.st_size} bytes, it wrote {info['size']})")
            elif deep and not (trust_stat and info.get("stat") == _stat_of(st)) and _digest(path) != info["sha256"]:
                problems.append(f"{rel}: changed since set {self.run_id} was written (other bytes, same size)")
        return problems


def load_set(out_dir: Path, run_id: str) -> OutputSet | None:
    path = sets_dir(out_dir) / run_id
    manifest = _read_json(path / MANIFEST)
    if manifest is None or run_id.startswith((TMP, TRASH)):
        return None
    return OutputSet(run_id, path, manifest)


def current(out_dir: Path) -> OutputSet | None:
    """The set readers see now, or None (nothing published, or the layout before sets)."""
    link = state_dir(out_dir) / CURRENT
    if not link.is_symlink():
        return None
    return load_set(out_dir, Path(os.readlink(link)).name)


def all_sets(out_dir: Path) -> list[OutputSet]:
    """Every complete set, oldest first."""
    root = sets_dir(out_dir)
    if not root.is_dir():
        return []
    found = (load_set(out_dir, p.name) for p in sorted(root.iterdir()) if p.is_dir())
    return [s for s in found if s is not None]


@contextmanager
def new_set(out_dir: Path, meta: dict | None = None) -> Iterator["NewSet"]:
    """A folder to write a complete output set into. On a clean exit the set is sealed (hashed,
    fsynced, manifest, renamed to sets/<run>); on an error it is removed and nothing is published.
    An OSError (disk full, read-only folder) becomes OutputUnwritable."""
    out_dir = Path(out_dir)
    _require_lock(out_dir)
    run_id = new_run_id()
    tmp = sets_dir(out_dir) / f"{TMP}{run_id}"
    made = NewSet(run_id, tmp, dict(meta or {}))
    try:
        tmp.mkdir(parents=True)
        yield made
        made.sealed = seal(out_dir, tmp, run_id, made.meta)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = disk_error(exc)
        if reason is not None:
            raise OutputUnwritable(out_dir, reason) from exc
        raise


# what writers (Arrow, GDAL, SQLite) say when the folder cannot take more bytes
DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the folder is on a read-only filesystem", errno.EACCES: "the folder is not writable",
               errno.EPERM: "the folder is not writable"}
DISK_MESSAGES = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                 "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES,
                 "database or disk is full": errno.ENOSPC}


def disk_error(exc: BaseException) -> str | None:
    """The plain reason when `exc` (or what caused it) is the disk refusing bytes, else None."""
    while exc is not None:
        code = getattr(exc, "errno", None)
        if code not in DISK_ERRNOS:
            code = next((c for text, c in DISK_MESSAGES.items() if text in str(exc)), None)
        if code is not None:
            where = getattr(exc, "filename", None)
            return DISK_ERRNOS[code] + (f" ({where})" if where else "") + f": {exc}"
        exc = exc.__cause__ or exc.__context__
    return None


@dataclass
class NewSet:
    run_id: str
    path: Path
    meta: dict
    sealed: OutputSet | None = None


def _seal_files(folder: Path, prefix: str = "") -> dict[str, dict]:
    """The manifest's entries of every file under folder (named prefix/rel), each hashed, fsynced
    and made read-only; the folders fsynced."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = prefix + path.relative_to(folder).as_posix()
        files[rel] = {"size": path.stat().st_size, "sha256": _digest(path, sync=True)}
        path.chmod(0o444)   # a set is never edited: a reader opening it for update gets read-only
        files[rel]["stat"] = _stat_of(path.stat())
    for sub in sorted({p.parent for p in folder.rglob("*")} | {folder}, reverse=True):
        _fsync_dir(sub)
    return files


def seal(out_dir: Path, tmp: Path, run_id: str, meta: dict) -> OutputSet:
    files = _seal_files(tmp)
    _fault("seal:hashed")
    manifest = {"format": 1, "run_id": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "files": files, "meta": meta}
    _write_json(tmp / MANIFEST, manifest)
    _fault("seal:manifest")
    final = sets_dir(out_dir) / run_id
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    _fault("seal:renamed")
    return OutputSet(run_id, final, manifest)


def add_to_current(out_dir: Path, name: str, write: Callable[[Path], T]) -> tuple[OutputSet, T]:
    """Add the folder `name` to the current set (or replace it there), for an output derived from
    that set's own files only (the web map): the set stays one run's. `write(folder)` fills a
    temporary folder inside the set, which is sealed, renamed to `name`, then listed in the
    manifest; its public link is made last. Each crash point leaves a manifest that lists only
    files present with its bytes: a replaced folder is first taken off the manifest, and a folder
    renamed in but not yet listed is ignored (and replaced by the next call). Under the lock."""
    out_dir = Path(out_dir)
    _require_lock(out_dir)
    now = current(out_dir)
    if now is None:
        raise FragiliteError(f"no output set in {out_dir}: run `fragilite run --out {out_dir}` first")
    in_the_way = _user_files_in_the_way(out_dir, [name])
    if in_the_way:
        raise OutputUnwritable(out_dir, f"{name} is taken by a file or folder that fragilite did not write "
                               "(it never replaces it); move it away")
    token = secrets.token_hex(3)
    tmp, aside, final = (now.path / f"{TMP}{name}-{token}", now.path / f"{TRASH}{name}-{token}",
                         now.path / name)
    try:
        tmp.mkdir()
        result = write(tmp)
        added = _seal_files(tmp, prefix=f"{name}/")
        _fault(f"add:{name}:sealed")
        files = {rel: info for rel, info in now.files.items() if rel.split("/", 1)[0] != name}
        if os.path.lexists(final):
            if len(files) != len(now.files):
                _write_json(now.path / MANIFEST, {**now.manifest, "files": files})
                _fault(f"add:{name}:unlisted")
            os.rename(final, aside)
        os.rename(tmp, final)
        _fsync_dir(now.path)
        _fault(f"add:{name}:renamed")
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if aside.exists() and not os.path.lexists(final):
            os.rename(aside, final)   # the previous one back (unlisted now: ignored, never wrong)
        if isinstance(exc, OSError):
            raise OutputUnwritable(out_dir, exc) from exc
        raise
    manifest = {**now.manifest, "files": {**files, **added}, "meta": {**now.meta, name: True}}
    _write_json(now.path / MANIFEST, manifest)
    _fault(f"add:{name}:listed")
    shutil.rmtree(aside, ignore_errors=True)
    updated = OutputSet(now.run_id, now.path, manifest)
    _link_names(out_dir, updated)
    return updated, result


# ---------------------------------------------------------------- the switch

def _user_files_in_the_way(out_dir: Path, names: list[str]) -> list[str]:
    return [n for n in names if os.path.lexists(out_dir / n) and not is_our_link(out_dir / n)]


def _switch(out_dir: Path, target: OutputSet) -> None:
    """Links for the target's names, `current` swapped to it, links of names it lacks removed.
    Readers see the old set until the swap and the new one after it: a link created before the
    swap names a file the old set lacks (absent either way), one removed after it names a file
    the new set lacks."""
    _link_names(out_dir, target)
    state = state_dir(out_dir)
    tmp = state / f"{CURRENT}.tmp-{os.getpid()}"
    _remove(tmp)
    os.symlink(f"{SETS}/{target.run_id}", tmp)
    _fault("swap:prepared")
    os.replace(tmp, state / CURRENT)
    _fsync_dir(state)
    _fault("swap:done")
    _unlink_stale(out_dir, target)


def _link_names(out_dir: Path, target: OutputSet) -> None:
    made = False
    for name in target.names:
        if not os.path.lexists(out_dir / name):
            os.symlink(link_target(name), out_dir / name)
            made = True
            _fault(f"link:{name}")
    if made:
        _fsync_dir(out_dir)


def _unlink_stale(out_dir: Path, target: OutputSet) -> None:
    keep = set(target.names)
    removed = False
    for path in sorted(Path(out_dir).iterdir()):
        if path.name not in keep and is_our_link(path):
            path.unlink()
            removed = True
            _fault(f"unlink:{path.name}")
    if removed:
        _fsync_dir(out_dir)


def _unlink_all(out_dir: Path) -> None:
    for path in Path(out_dir).iterdir():
        if is_our_link(path):
            path.unlink()


def _publish(out_dir: Path, target: OutputSet, keep: int | None) -> None:
    in_the_way = _user_files_in_the_way(out_dir, target.names)
    if in_the_way:
        raise OutputUnwritable(out_dir, "these names are taken by files that fragilite did not write "
                               f"(it never replaces them): {', '.join(in_the_way)}; move them away or "
                               "choose another --out")
    previous = current(out_dir)
    journal = state_dir(out_dir) / JOURNAL
    _write_json(journal, {"to": target.run_id, "from": previous and previous.run_id,
                          "pid": os.getpid(), "started": time.time()})
    try:
        _fault("journal")
        _switch(out_dir, target)
    except OSError:
        now = current(out_dir)
        if now is None or now.run_id != target.run_id:   # not switched: undone here, nothing to repair
            _unlink_stale(out_dir, previous) if previous else _unlink_all(out_dir)
            journal.unlink()
        raise
    if keep is not None:
        prune(out_dir, keep)
    (state_dir(out_dir) / JOURNAL).unlink()
    _fault("journal:cleared")


def publish(out_dir: Path, new: OutputSet, guard: "Guard | None" = None, keep: int | None = DEFAULT_KEEP) -> None:
    """Make `new` the current set, if the guard lets it; then keep the last `keep` sets."""
    out_dir = Path(out_dir)
    _require_lock(out_dir)
    try:
        if guard is not None:
            guard.check(new, current(out_dir))
        _publish(out_dir, new, keep)
    except BaseException as exc:
        now = current(out_dir)
        if now is None or now.run_id != new.run_id:   # not published: the set goes
            _discard(out_dir, new)
        if isinstance(exc, OSError):
            raise OutputUnwritable(out_dir, exc) from exc
        raise


def _discard(out_dir: Path, target: OutputSet) -> None:
    try:
        _trash(out_dir, target)
    except OSError:   # a read-only folder: the next run's repair removes it
        pass


def _trash(out_dir: Path, target: OutputSet) -> None:
    trash = sets_dir(out_dir) / f"{TRASH}{target.run_id}"
    os.rename(target.path, trash)
    _fault(f"prune:{target.run_id}")
    shutil.rmtree(trash)
    _fault("prune:removed")


def prune(out_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` sets; the current set and a journal's are never deleted."""
    sets = all_sets(out_dir)
    now = current(out_dir)
    journal = _read_json(state_dir(out_dir) / JOURNAL) or {}
    spare = {now.run_id if now else None, journal.get("to")}
    removed = []
    for old in sets[:max(len(sets) - max(keep, 1), 0)]:
        if old.run_id not in spare:
            _trash(out_dir, old)
            removed.append(old.run_id)
    return removed


# ---------------------------------------------------------------- repair, rollback, validate

def repair(out_dir: Path, legacy: bool = True) -> list[str]:
    """Put the folder back in a consistent state after a crash: partial sets and temporary names
    removed, an interrupted publication finished (its set complete) or dropped (not complete),
    links matching the current set. Returns what it did, for the log. Under the lock."""
    out_dir = Path(out_dir)
    _require_lock(out_dir)
    done = []
    root = sets_dir(out_dir)
    for leftover in sorted(root.glob(f"{TMP}*")) + sorted(root.glob(f"{TRASH}*")):
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed the unfinished {leftover.name}")
    for tmp in state_dir(out_dir).glob(f"{CURRENT}.tmp-*"):
        tmp.unlink()
    for leftover in [p for s in all_sets(out_dir) for prefix in (TMP, TRASH) for p in s.path.glob(f"{prefix}*")]:
        shutil.rmtree(leftover, ignore_errors=True)   # an interrupted add_to_current
        done.append(f"removed the unfinished {leftover.parent.name}/{leftover.name}")
    for work in [*state_dir(out_dir).glob(f"{WORK}*"), *Path(out_dir).glob(f"{STATE_DIR}-{WORK}*")]:
        shutil.rmtree(work, ignore_errors=True)   # a crashed run's scratch folder (the second: older layout)
        done.append(f"removed the scratch folder {work.name}")
    journal = _read_json(state_dir(out_dir) / JOURNAL)
    if journal is not None:
        target = load_set(out_dir, journal.get("to", ""))
        if target is not None and not target.check(deep=False):
            _switch(out_dir, target)
            done.append(f"finished the interrupted publication of {target.run_id}")
        else:
            done.append(f"dropped the interrupted publication of {journal.get('to')}")
        (state_dir(out_dir) / JOURNAL).unlink()
    if legacy and current(out_dir) is None:
        adopted = adopt_legacy(out_dir)
        if adopted:
            done.append(f"kept the outputs of the previous layout as set {adopted.run_id}")
    now = current(out_dir)
    if now is not None and _remove_legacy_map(out_dir):
        done.append("removed the web map written outside the output sets by an earlier version "
                    "(`fragilite carte` makes it again, inside the current set)")
    if now is not None and now.meta.get("legacy"):
        _link_adopted(out_dir, now)
    if now is not None:   # a link missing or left over: made to match the current set
        _link_names(out_dir, now)
        _unlink_stale(out_dir, now)
    return done


LEGACY_MAP = "carte"


def _remove_legacy_map(out_dir: Path) -> bool:
    """OUT/carte as a real folder is the web map of an earlier version, written outside the sets
    (each build replaced it whole, so fragilite owned it): left there, it would outlive a rollback
    and hide the set's own map. Only a folder with the bundle's config.js is removed."""
    folder = Path(out_dir) / LEGACY_MAP
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        with open(folder / "config.js", encoding="utf-8") as fh:
            ours = fh.read(64).startswith("window.FRAGILITE_CONFIG")
    except OSError:
        return False
    if ours:
        shutil.rmtree(folder)
    return ours


def find(out_dir: Path, run: str) -> OutputSet:
    sets = all_sets(out_dir)
    hits = [s for s in sets if s.run_id == run] or [s for s in sets if s.run_id.startswith(run)]
    if len(hits) != 1:
        known = ", ".join(s.run_id for s in sets) or "none"
        what = "no set" if not hits else "several sets"
        raise FragiliteError(f"{what} {run!r} in {out_dir}; kept sets: {known} (see `fragilite history`)")
    return hits[0]


def rollback(out_dir: Path, run: str) -> OutputSet:
    """Make a kept set the current one again, its bytes checked against its manifest first."""
    out_dir = Path(out_dir)
    _require_lock(out_dir)
    target = find(out_dir, run)
    problems = target.check(deep=True)
    if problems:
        raise FragiliteError(f"set {target.run_id} was changed since it was written, not restored: "
                             + "; ".join(problems))
    try:
        _publish(out_dir, target, keep=None)
    except OSError as exc:
        raise OutputUnwritable(out_dir, exc) from exc
    return target


@dataclass
class FolderReport:
    out_dir: str
    run_id: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_dir(out_dir: Path, deep: bool = True, trust_stat: bool = False) -> FolderReport:
    """Whether OUT is one consistent set: every public name is the current set's link, and the
    current set's files are those its manifest lists (sizes, and sha256 when `deep`; see
    OutputSet.check for `trust_stat`)."""
    out_dir = Path(out_dir)
    report = FolderReport(str(out_dir))
    now = current(out_dir)
    if now is None:
        legacy = sorted(legacy_outputs(out_dir))
        report.errors.append("not a fragilite output set" + (f": {', '.join(legacy)} were written before output "
                             "sets (the next run keeps them as a set)" if legacy else ": nothing published here"))
        return report
    report.run_id = now.run_id
    report.errors += now.check(deep, trust_stat)
    for name in now.names:
        path = out_dir / name
        if not os.path.lexists(path):
            report.errors.append(f"{name}: in set {now.run_id} but not published (no {name} in {out_dir})")
        elif not is_our_link(path):
            report.errors.append(f"{name}: a file that is not the set's (fragilite publishes a link there)")
    for path in sorted(out_dir.iterdir()):
        if is_our_link(path) and path.name not in now.names:
            report.warnings.append(f"{path.name}: a link to a file set {now.run_id} lacks "
                                   "(an interrupted publication; the next run removes it)")
    if (state_dir(out_dir) / JOURNAL).exists():
        report.warnings.append("a publication was interrupted; the next run finishes or drops it")
    if any(sets_dir(out_dir).glob(f"{TMP}*")):
        report.warnings.append("an unfinished set is in .fragilite/sets (the next run removes it)")
    return report


# ---------------------------------------------------------------- the publication guard

@dataclass
class Guard:
    """What a new set must satisfy to replace the current one, unless `accept_shrink`."""

    max_iris_loss: float = DEFAULT_MAX_IRIS_LOSS
    accept_shrink: bool = False
    # layers that must have a scored unit: the IRIS layer, of which every other level is made
    # (a --territory run may rightly have no région: one only partly inside is left out)
    layers: tuple[str, ...] = ("iris",)

    def check(self, new: OutputSet, previous: OutputSet | None) -> None:
        if self.accept_shrink:
            return
        problems = self.empty_layers(new) + self.lost(new, previous)
        if problems:
            raise PublicationRefused("the new outputs were NOT published, the current ones are kept: "
                                     + "; ".join(problems) + ". If this is intended (a smaller --territory, "
                                     "a new IRIS geography), run again with --accept-shrink.")

    def empty_layers(self, new: OutputSet) -> list[str]:
        out = []
        for layer in self.layers:
            path = new.path / f"{layer}.parquet"
            if not path.exists() or scored_units(path) == 0:
                out.append(f"layer {layer} would have no scored unit")
        return out

    def lost(self, new: OutputSet, previous: OutputSet | None) -> list[str]:
        if previous is None:
            return []
        out = [f"layer {name.removesuffix('.parquet')} would disappear" for name in previous.names
               if name.endswith(".parquet") and name not in new.names]
        before, after = (iris_codes(s.path / "iris.parquet") for s in (previous, new))
        if before:
            gone = sorted(before - after)
            share = len(gone) / len(before)
            if share > self.max_iris_loss:
                out.append(f"{len(gone)} of the {len(before)} IRIS of set {previous.run_id} ({share:.1%}) would "
                           f"disappear (e.g. {', '.join(gone[:5])}); the limit is {self.max_iris_loss:.0%}")
        return out


def scored_units(path: Path) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    score = next((s for s in ("score_global", "score_total") if s in names), None)   # score_total: ifn-2023
    if score is None:
        return pq.ParquetFile(path).metadata.num_rows
    column = pq.read_table(path, columns=[score])[score]
    return len(column) - column.null_count - int(pc.sum(pc.is_nan(column.cast("double"))).as_py() or 0)


def iris_codes(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    try:
        if "code_iris" not in pq.read_schema(path).names:
            return set()
        return {c for c in pq.read_table(path, columns=["code_iris"])["code_iris"].to_pylist() if c}
    except (OSError, ValueError):   # absent, or damaged since: nothing to compare with
        return set()


# ---------------------------------------------------------------- the layout before sets

LEGACY_FIXED = ("dictionary.json", "run_report.json", "run_report.md", "rejects.csv")


def legacy_outputs(out_dir: Path) -> dict[str, str]:
    """Regular files that a fragilite run wrote into OUT before output sets, still with the bytes
    it recorded (`.fragilite/state.json`), among the names its run report lists: only these are
    ever moved into a set. A file changed since, or of another name, is left alone."""
    out_dir = Path(out_dir)
    recorded = (_read_json(state_dir(out_dir) / "state.json") or {}).get("outputs", {})
    report = _read_json(out_dir / "run_report.json") or {}
    names = set(LEGACY_FIXED)
    for info in (report.get("outputs") or {}).values():
        names |= {Path(info[k]).name for k in ("parquet", "gpkg", "csv") if info.get(k)}
    found = {}
    for name in sorted(names & set(recorded)):
        path = out_dir / name
        if path.is_file() and not path.is_symlink() and _digest(path) == recorded[name]:
            found[name] = recorded[name]
    return found


def adopt_legacy(out_dir: Path) -> OutputSet | None:
    """The previous layout's outputs become the first set, their public names links to it: each
    name is replaced by its link in one rename and both give the same bytes, so readers see no
    change. Files are hard-linked into the set (copied where the filesystem cannot)."""
    found = legacy_outputs(out_dir)
    if not found:
        return None
    state = _read_json(state_dir(out_dir) / "state.json") or {}
    report = _read_json(Path(out_dir) / "run_report.json") or {}
    meta = {"legacy": True, "key": state.get("key"), "method": report.get("method"),
            "reference": report.get("reference")}
    with new_set(out_dir, meta) as made:
        for name in found:
            try:
                os.link(Path(out_dir) / name, made.path / name)
            except OSError:
                shutil.copy2(Path(out_dir) / name, made.path / name)
    adopted = made.sealed
    tmp = state_dir(out_dir) / f"{CURRENT}.tmp-{os.getpid()}"
    os.symlink(f"{SETS}/{adopted.run_id}", tmp)
    os.replace(tmp, state_dir(out_dir) / CURRENT)
    _fault("adopt:current")
    _link_adopted(out_dir, adopted)
    return adopted


def _link_adopted(out_dir: Path, adopted: OutputSet) -> None:
    """Each public name still a regular file with the bytes of the adopted set's copy (a crash
    came before its turn) is replaced by its link."""
    for name, info in adopted.files.items():
        path = Path(out_dir) / name
        if path.is_symlink() or not path.is_file() or _digest(path) != info["sha256"]:
            continue
        link = Path(out_dir) / f".{name}.link-{os.getpid()}"
        _remove(link)
        os.symlink(link_target(name), link)
        os.replace(link, path)
        _fault(f"adopt:{name}")
