"""Broken copies of a real delimited file, one per kind of fault a reader must name.

Each takes the real file's lines (title lines, header, rows: `skip` lines before the header) and
returns the bytes of a faulty copy with the 1-based line number the reader should cite.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path


def lines_of(path: Path, limit: int | None = None) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        out = []
        for line in fh:
            out.append(line.rstrip("\r\n"))
            if limit is not None and len(out) >= limit:
                break
    return out


def text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def drop_column(lines: list[str], skip: int, column: str, sep: str) -> bytes:
    j = lines[skip].split(sep).index(column)
    out = lines[:skip] + [sep.join(c for k, c in enumerate(line.split(sep)) if k != j) for line in lines[skip:]]
    return text(out)


def other_separator(lines: list[str], skip: int, sep: str) -> bytes:
    other = "," if sep == ";" else ";"
    return text(lines[:skip] + [line.replace(sep, other) for line in lines[skip:]])


def duplicate_row(lines: list[str], skip: int, row: int = 1) -> tuple[bytes, list[int]]:
    """The data row `row` (1 = first) written again at the end; lines cited: both copies."""
    out = lines + [lines[skip + row]]
    return text(out), [skip + row + 1, len(out)]


def set_cell(lines: list[str], skip: int, row: int, column: str, value: str, sep: str) -> tuple[bytes, int]:
    j = lines[skip].split(sep).index(column)
    cells = lines[skip + row].split(sep)
    cells[j] = value
    out = list(lines)
    out[skip + row] = sep.join(cells)
    return text(out), skip + row + 1


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]
