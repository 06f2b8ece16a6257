"""One writer per output folder: an OS-level lock held for the whole refresh (or rollback).

The lock is `flock` on `<out>/.fragilite/lock`, through `filelock`: the kernel releases it when
the process ends, however it ends (kill -9 included), so a dead run never blocks the next one.
Who holds it (pid, host, start time, what it does) is written beside it, in `lock.json`, so that
a second run can say whom it waits for. A second run waits up to `wait` seconds, then stops with
`OutputBusy` (exit code 4).

The lock is re-entrant within a process (the command line takes it before it checks whether
anything changed; the flow it then starts takes it again), and is not inherited by child
processes (its descriptor is close-on-exec; Prefect's server and Dask's workers are spawned).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from indicators.errors import EXIT_BUSY, FragiliteError, OutputUnwritable

STATE_DIR = ".fragilite"
LOCK_NAME = "lock"
HOLDER_NAME = "lock.json"

# folders this process holds: path -> (FileLock, depth)
_HELD: dict[str, list] = {}


class OutputBusy(FragiliteError):
    """Another run holds the output folder."""

    exit_code = EXIT_BUSY

    def __init__(self, out_dir: Path, holder: dict | None, waited: float):
        self.out_dir, self.holder, self.waited = Path(out_dir), holder, waited
        who = describe(holder)
        after = f" after waiting {waited:g} s" if waited else ""
        super().__init__(f"{out_dir} is being written by another fragilite run ({who}); stopped{after}, "
                         f"nothing written. Wait for it to finish, or give --wait SECONDS to queue behind it.")


def describe(holder: dict | None) -> str:
    if not holder:
        return "details not written yet"
    parts = [f"pid {holder.get('pid')} on {holder.get('host')}", f"started {holder.get('started')}"]
    if holder.get("what"):
        parts.append(str(holder["what"]))
    return ", ".join(parts)


def read_holder(out_dir: Path) -> dict | None:
    try:
        return json.loads((Path(out_dir) / STATE_DIR / HOLDER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_holder(out_dir: Path, what: str) -> None:
    holder = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "what": what}
    target = Path(out_dir) / STATE_DIR / HOLDER_NAME
    tmp = target.with_name(f"{HOLDER_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(holder), encoding="utf-8")
    os.replace(tmp, target)


@dataclass
class OutputLock:
    """`with OutputLock(out, wait=60, what="refresh ifn-2020"):` holds the folder for the block."""

    out_dir: Path
    wait: float = 0.0
    what: str = ""
    on_wait: Callable[[dict | None], None] | None = None   # told once, when the run has to wait

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.key = str(self.out_dir.resolve())

    def __enter__(self) -> "OutputLock":
        held = _HELD.get(self.key)
        if held is not None:
            held[1] += 1
            return self
        state = self.out_dir / STATE_DIR
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputUnwritable(self.out_dir, exc) from exc
        lock = FileLock(state / LOCK_NAME, thread_local=False, fallback_to_soft=False)
        started = time.monotonic()
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if self.wait <= 0:
                raise OutputBusy(self.out_dir, read_holder(self.out_dir), 0) from None
            if self.on_wait is not None:
                self.on_wait(read_holder(self.out_dir))
            try:
                lock.acquire(timeout=self.wait)
            except Timeout:
                raise OutputBusy(self.out_dir, read_holder(self.out_dir),
                                 round(time.monotonic() - started, 1)) from None
        except OSError as exc:
            raise OutputUnwritable(self.out_dir, exc) from exc
        _HELD[self.key] = [lock, 1]
        _write_holder(self.out_dir, self.what)
        return self

    def __exit__(self, *exc) -> None:
        held = _HELD[self.key]
        held[1] -= 1
        if held[1]:
            return
        del _HELD[self.key]
        try:   # the holder file goes first: a stale one never names a run that has ended cleanly
            (self.out_dir / STATE_DIR / HOLDER_NAME).unlink()
        except OSError:
            pass
        held[0].release()


def holds(out_dir: Path) -> bool:
    """Whether this process holds the folder's lock (publication checks it)."""
    return str(Path(out_dir).resolve()) in _HELD
