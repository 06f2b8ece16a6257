"""Errors that tell a user which file, which column and which rows are at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence


# Exit codes of `fragilite` (README, "Exit codes"). 1 is left to what is not foreseen (a bug).
EXIT_DONE = 0          # done, or up to date
EXIT_INPUT = 2         # bad input or option: nothing written
EXIT_PARTIAL = 3       # some input files failed: the others' results are published, the report names them
EXIT_BUSY = 4          # another run holds the output folder (after --wait): nothing written
EXIT_REFUSED = 5       # the publication guard stopped the new outputs: the previous set is kept
EXIT_UNWRITABLE = 6    # the output folder cannot take the new outputs: the previous set is kept


class FragiliteError(Exception):
    """Base class: any error the command line reports without a traceback."""

    exit_code = EXIT_INPUT


class PublicationRefused(FragiliteError):
    """The new outputs would be worse than the current ones (empty layers, IRIS lost)."""

    exit_code = EXIT_REFUSED


class OutputUnwritable(FragiliteError):
    """The output folder cannot take the new set (disk full, read-only, a user's file in the way)."""

    exit_code = EXIT_UNWRITABLE

    def __init__(self, out_dir: str | Path, cause: OSError | str):
        reason = cause if isinstance(cause, str) else f"{cause.strerror or cause} ({cause.filename or out_dir})"
        super().__init__(f"cannot publish into {out_dir}: {reason}. The current outputs are unchanged.")


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
