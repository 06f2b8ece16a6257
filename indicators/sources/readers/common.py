"""What every reader needs: open a published archive, read delimited text, check what it read.

Every failure raises InputError naming the file, the column and the first rows at fault (rows
are numbered as a spreadsheet would show them: line 1 is the header).
"""

from __future__ import annotations

import fnmatch
import io
import re
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import py7zr

from indicators.errors import InputError

# Cells INSEE leaves blank or marks for statistical secret: NULL, never 0.
SECRET_TOKENS = {"", "s", "nd", "n.d.", "secret", "ns", "nc", "na", "null", "\\n"}


def archive_members(path: Path) -> list[str]:
    """Names inside a zip or 7z archive; a truncated or corrupt archive is an InputError."""
    if path.suffix.lower() in {".xlsx", ".xls"}:
        return []  # a workbook is a zip inside, but not an archive of ours
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise InputError(path, f"corrupt archive member {bad!r} (truncated download?)")
                return zf.namelist()
        if path.suffix.lower() == ".7z":
            with py7zr.SevenZipFile(path) as archive:
                return archive.getnames()
    except InputError:
        raise
    except Exception as exc:  # zipfile, py7zr and zlib raise many kinds
        raise InputError(path, f"cannot open archive ({type(exc).__name__}: {exc}); truncated download?") from exc
    if path.suffix.lower() in {".zip", ".7z"}:
        raise InputError(path, "not a readable zip/7z archive (truncated or not an archive)")
    return []


def pick_member(path: Path, members: Sequence[str], patterns: Iterable[str]) -> str:
    """The one data member of an archive: matches a pattern, and is not a meta_ dictionary file."""
    candidates = []
    for name in members:
        base = name.rsplit("/", 1)[-1].lower()
        if base.startswith("meta") or name.endswith("/"):
            continue
        if any(fnmatch.fnmatch(base, p.lower()) for p in patterns):
            candidates.append(name)
    if len(candidates) != 1:
        found = ", ".join(members) or "nothing"
        raise InputError(path, f"expected one data file matching {list(patterns)} in the archive, found {found}")
    return candidates[0]


@contextmanager
def extracted(path: Path, patterns: Sequence[str] = ("*",)) -> Iterator[Path]:
    """Yield a local path to the data file: the file itself, or the member extracted from its archive."""
    members = archive_members(path)
    if not members:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="fragilite-") as tmp:
        try:
            if zipfile.is_zipfile(path):
                member = pick_member(path, members, patterns)
                with zipfile.ZipFile(path) as zf:
                    target = Path(tmp) / Path(member).name
                    target.write_bytes(zf.read(member))
            else:
                member = pick_member(path, members, patterns)
                with py7zr.SevenZipFile(path) as archive:
                    archive.extract(path=tmp, targets=[member])
                target = Path(tmp) / member
        except InputError:
            raise
        except Exception as exc:
            raise InputError(path, f"cannot extract archive ({type(exc).__name__}: {exc})") from exc
        yield target


@contextmanager
def unpacked(path: Path, label: str) -> Iterator[Path]:
    """The folder holding a vector delivery: the folder itself, or a zip/7z safely extracted."""
    from indicators.sources.download import extract  # refuses entries escaping the folder

    if path.is_dir():
        yield path
        return
    if path.suffix.lower() not in {".zip", ".7z"}:
        yield path.parent
        return
    archive_members(path)  # a clear error on a truncated archive
    with tempfile.TemporaryDirectory(prefix="fragilite-") as tmp:
        try:
            extract(path, Path(tmp))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(label, f"cannot extract archive ({type(exc).__name__}: {exc})") from exc
        yield Path(tmp)


def read_layer(layer: Path, label: str):
    import pyogrio

    try:
        return pyogrio.read_dataframe(layer)
    except Exception as exc:
        raise InputError(label, f"cannot read {layer.name} ({exc})") from exc


def read_text_table(path: Path, label: str | Path | None = None, sep: str = ";",
                    skiprows: int = 0, header: bool = True, names: list[str] | None = None) -> pd.DataFrame:
    """Read a delimited file with every cell as a string (codes keep their zeros: 2A, 01004)."""
    label = label or path
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(label, "file is empty")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()
    first = lines[skiprows] if len(lines) > skiprows else ""
    if header and sep not in first:
        other = next((c for c in (",", "\t", "|") if c in first), None)
        hint = f" (it looks {other!r}-separated)" if other else ""
        raise InputError(label, f"wrong separator: expected {sep!r} in the header line{hint}", rows=[skiprows + 1])
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                         skiprows=skiprows, header=0 if header else None, names=names,
                         quotechar='"', engine="c")
    except pd.errors.ParserError as exc:
        raise InputError(label, f"malformed delimited text: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_excel_table(path: Path, label: str | Path | None = None, sheet: str | tuple[str, ...] | None = None,
                     header_marker: str | tuple[str, ...] = "IRIS") -> pd.DataFrame:
    """Read an INSEE workbook: title rows first, then the header row that holds every header_marker
    (INSEE's workbooks put a row of labels above the variable names: `IRIS` alone is in both).
    `sheet`: its name, or names to try in turn (the France file's `IRIS`, the overseas
    collectivities' `C.O.M`). Read with calamine, xls and xlsx alike (xlrd is deprecated)."""
    label = label or path
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=str, engine="calamine")
    except Exception as exc:
        raise InputError(label, f"cannot read workbook ({type(exc).__name__}: {exc})") from exc
    if sheet is not None:
        wanted = [sheet] if isinstance(sheet, str) else list(sheet)
        matches = [s for w in wanted for s in book if s.lower() == w.lower()]
        if not matches:
            raise InputError(label, f"no sheet {' or '.join(map(repr, wanted))} (sheets: {', '.join(book)})")
        raw = book[matches[0]]
    else:
        raw = next(iter(book.values()))
    markers = [header_marker] if isinstance(header_marker, str) else list(header_marker)
    for i in range(min(len(raw), 20)):
        row = [str(v).strip() for v in raw.iloc[i].tolist()]
        if all(m in row for m in markers):
            df = raw.iloc[i + 1:].copy()
            df.columns = row
            df = df.fillna("").astype(str).reset_index(drop=True)
            df.attrs["header_line"] = i + 1  # so that errors cite the workbook's own row numbers
            return df
    raise InputError(label, f"no header row holding {' and '.join(map(repr, markers))} in the first 20 rows")


def read_table(path: Path, label: str | Path | None = None, header_marker: str | tuple[str, ...] = "IRIS",
               sheet: str | tuple[str, ...] | None = None, sep: str = ";") -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in {".xls", ".xlsx"}:
        return read_excel_table(path, label, sheet=sheet, header_marker=header_marker)
    return read_text_table(path, label, sep=sep)


def require_columns(df: pd.DataFrame, columns: Iterable[str], label: str | Path) -> None:
    present = set(df.columns)
    for col in columns:
        if col not in present:
            close = [c for c in df.columns if c.upper() == col.upper()]
            hint = f" (found {close[0]!r})" if close else ""
            raise InputError(label, f"missing column{hint}; columns are {', '.join(df.columns[:30])}", column=col)


def spreadsheet_rows(index: Iterable[int], header_rows: int = 1) -> list[int]:
    return [int(i) + header_rows + 1 for i in index]


DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def to_numeric(df: pd.DataFrame, columns: Iterable[str], label: str | Path, decimal: str = ".",
               header_rows: int = 1) -> pd.DataFrame:
    """Cast columns to float. Secret markers become NULL; anything else non-numeric is an error.
    A `;`-separated INSEE file may write decimals with a comma: a column whose values all look
    like `12,5` is read that way (`decimal="auto"`)."""
    out = df.copy()
    for col in columns:
        raw = out[col].astype(str).str.strip()
        dec = decimal
        if decimal == "auto":
            filled = raw[~raw.str.lower().isin(SECRET_TOKENS)]
            dec = "," if len(filled) and filled.str.match(DECIMAL_COMMA).any() and \
                not filled.str.contains(".", regex=False).any() else "."
        secret = raw.str.lower().isin(SECRET_TOKENS)
        cleaned = raw.where(~secret, None)
        if dec == ",":
            cleaned = cleaned.str.replace(" ", "", regex=False).str.replace(",", ".", regex=False)
        values = pd.to_numeric(cleaned, errors="coerce")
        bad = values.isna() & ~secret
        if bad.any():
            rows = spreadsheet_rows(np.flatnonzero(bad.to_numpy()), header_rows)
            sample = raw[bad].head(3).tolist()
            raise InputError(label, f"non-numeric value(s) {sample}", column=col, rows=rows)
        out[col] = values.astype("float64")
    return out


def require_unique(df: pd.DataFrame, column: str, label: str | Path, header_rows: int = 1) -> None:
    dup = df[column].duplicated(keep=False)
    if dup.any():
        rows = spreadsheet_rows(np.flatnonzero(dup.to_numpy()), header_rows)
        codes = sorted(set(df.loc[dup, column]))[:5]
        raise InputError(label, f"duplicated code(s) {codes}", column=column, rows=rows)


CODE_PATTERNS = {
    "iris": re.compile(r"^(\d{2}|2[AB])\d{7}$|^97\d{7}$"),
    "commune": re.compile(r"^(\d{2}|2[AB])\d{3}$|^97\d{3}$"),
}


def pad_code(series: pd.Series, width: int) -> pd.Series:
    """Codes that lost their leading zeros (spreadsheet copies) are padded back."""
    s = series.astype(str).str.strip()
    s = s.str.replace(r"\.0$", "", regex=True)
    return s.str.zfill(width)


def check_codes(df: pd.DataFrame, column: str, kind: str, label: str | Path, header_rows: int = 1) -> None:
    ok = df[column].str.match(CODE_PATTERNS[kind])
    if not ok.all():
        rows = spreadsheet_rows(np.flatnonzero(~ok.to_numpy()), header_rows)
        raise InputError(label, f"invalid {kind} code(s) {df.loc[~ok, column].head(3).tolist()}",
                         column=column, rows=rows)
