"""Errors that tell a user which file, which column and which rows are at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence


class FragiliteError(Exception):
    """Base class: any error the command line reports without a traceback."""


class InputError(FragiliteError):
    """Bad input. Names the file, the column and the first offending rows."""

    def __init__(
        self,
        file: str | Path,
        message: str,
        column: str | None = None,
        rows: Sequence[object] | None = None,
    ) -> None:
        self.file = str(file)
        self.column = column
        self.rows = list(rows or [])
        self.message = message
        parts = [f"{self.file}: {message}"]
        if column is not None:
            parts.append(f"column {column!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" (+{len(self.rows) - 10} more)" if len(self.rows) > 10 else ""
            parts.append(f"rows {shown}{more}")
        super().__init__("; ".join(parts))


def first_rows(values: Iterable[object], limit: int = 10) -> list[object]:
    out = []
    for v in values:
        out.append(v)
        if len(out) >= limit:
            break
    return out
