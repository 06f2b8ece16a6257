"""Whether an entry of the caches under <out>/.fragilite/ can be reused.

Staged sources, stage results and report maps are written whole or not at all (a temporary name,
renamed when complete) but never flushed to disk: after a power cut an entry that looks complete
may hold empty or zeroed files, and a refresh that read them would stop on every later run. So
each entry records its files' sizes when it is made, and before it is reused its files are checked
against that record and for their format's closing bytes. An entry that fails, or that cannot be
read, is dropped and made again, and the run report says so: a refresh never stops on its cache.
"""

from __future__ import annotations

from pathlib import Path

# the bytes a whole file of the format ends with: a Parquet footer's magic, a PNG's IEND chunk
CLOSING_BYTES = {".parquet": b"PAR1", ".png": b"IEND\xaeB`\x82"}


class DamagedEntry(Exception):
    """A cache entry that is not as it was written."""


def sizes(folder: Path) -> dict[str, int]:
    """Every file under folder (its path relative to folder) and its size: the record of an entry."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def file_damage(path: Path, size: int | None = None) -> str | None:
    """What is wrong with one file of an entry (missing, not its recorded size, not closed as its
    format closes), or None."""
    if not path.is_file():
        return f"{path.name} is missing"
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"{path.name} has {actual} bytes, {size} when it was written"
    closing = CLOSING_BYTES.get(path.suffix)
    if closing and actual >= len(closing):
        with path.open("rb") as fh:
            fh.seek(-len(closing), 2)
            if fh.read() == closing:
                return None
    return f"{path.name} is not a whole {path.suffix[1:]} file" if closing else None


def check(folder: Path, recorded: dict[str, int] | None) -> None:
    """Raise DamagedEntry, saying what is wrong, when the entry at folder is not as its record
    (sizes()) says."""
    if recorded is None:
        raise DamagedEntry("it has no record of its files")
    why = next(filter(None, (file_damage(folder / name, size) for name, size in recorded.items())), None)
    if why is not None:
        raise DamagedEntry(why)
