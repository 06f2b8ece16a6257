"""Incremental refresh: what was computed from what, kept in <out>/.fragilite/.

- A refresh is keyed on the content hashes of its input files, the options (method, reference,
  thresholds table's content, QPV list, counting rule...) and the code (sql/ and the package).
  The key is kept in the published output set's manifest (outputs/publish.py). Same key and
  outputs intact: nothing is recomputed and no output file is touched.
- Each source's staged Parquet is kept under the hash of its files: a change to one source
  restages that source only; the computation after it runs again.
- File hashes are remembered by (path, size, mtime): a multi-GB input is hashed once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from indicators import PACKAGE_DIR, SQL_DIR, __version__
from indicators.outputs import publish
from indicators.outputs.publish import state_dir   # <out>/.fragilite: one definition (lock.STATE_DIR)
from indicators.sources.registry import sha256_of

_MEMO_LOCK = threading.Lock()


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):   # a damaged memo (integrity.py) is rebuilt: files are hashed again
        return {}


def _save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own per writer: stage tasks run on threads, and on Dask in processes
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


def file_hash(path: Path, out_dir: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so a large input is read once."""
    memo_path = state_dir(out_dir) / "hashes.json"
    st = Path(path).stat()
    key = f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}"
    known = _load(memo_path).get(key)
    if known is not None:
        return known
    digest = sha256_of(Path(path))
    with _MEMO_LOCK:   # read, add, write: not two threads at once (another process may lose an entry: a rehash)
        memo = _load(memo_path)
        memo[key] = digest
        _save(memo_path, memo)
    return digest


def code_fingerprint() -> str:
    digest = hashlib.sha256(__version__.encode())
    for path in sorted([*SQL_DIR.rglob("*.sql"), *PACKAGE_DIR.rglob("*.py"), *PACKAGE_DIR.rglob("*.yaml")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_key(inputs: dict[str, list[Path]], options, out_dir: Path) -> str:
    opts = dataclasses.asdict(options)
    if options.thresholds:
        opts["thresholds"] = file_hash(Path(options.thresholds), out_dir)
    if options.seuils_deciles:
        opts["seuils_deciles"] = file_hash(Path(options.seuils_deciles), out_dir)
    # two at a time: hashlib and file reads release the GIL, and a first run reads GBs here
    files = sorted({str(p) for paths in inputs.values() for p in paths})
    with ThreadPoolExecutor(2) as pool:
        hashes = dict(zip(files, pool.map(lambda p: file_hash(Path(p), out_dir), files)))
    payload = {
        "code": code_fingerprint(),
        "inputs": {sid: [hashes[str(p)] for p in paths] for sid, paths in sorted(inputs.items())},
        "options": opts,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def check(inputs: dict[str, list[Path]], options, out_dir: Path) -> tuple[str | None, dict | None]:
    """The run key and, if nothing changed since, the published report. With nothing published
    in out_dir there is nothing to compare with: no key yet (None), so that a first run hashes
    its inputs while staging them rather than before (the key is made from the memo after)."""
    if publish.current(out_dir) is None:
        return None, None
    key = run_key(inputs, options, out_dir)
    return key, up_to_date(out_dir, key)


def up_to_date(out_dir: Path, key: str) -> dict | None:
    """The report of the current output set if that set was made with this key (inputs, options,
    code; a partial run has none) and is intact: every file with its bytes, every name published
    (indicators/outputs/publish.py keeps the key in the set's manifest)."""
    now = publish.current(out_dir)
    if now is None or now.meta.get("key") != key or not publish.validate_dir(out_dir, trust_stat=True).ok:
        return None
    return _load(now.path / "run_report.json") or None


def staging_slot(out_dir: Path, source_id: str, paths: list[Path], file_hashes: list[str], apes: list[str],
                 against: list[str] | None = None) -> Path:
    """Where the staged Parquet of an input lives: named by the input's place (so that its older
    versions can be found) and by the hash of its content (so that a new version gets a new slot),
    and of the files it was read against (`against`: a semi-join's other side)."""
    place = hashlib.sha256("|".join(str(Path(p).resolve()) for p in paths).encode()).hexdigest()[:8]
    digest = hashlib.sha256(json.dumps([file_hashes, apes, code_fingerprint(), against]).encode()).hexdigest()[:16]
    return state_dir(out_dir) / "staging" / f"{source_id}-{place}-{digest}"


def prune_staging(keep: Path) -> None:
    """An input keeps one staged copy: the one of its current content."""
    prefix = keep.name.rsplit("-", 1)[0]
    for old in keep.parent.glob(f"{prefix}-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
