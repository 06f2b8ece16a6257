"""ARCEP fixed broadband per commune: premises, and premises by best available download speed.

Two published layouts, both read to one shape (one row per commune and file):

- "Ma connexion internet", commune statistics (the 2019 beta and later): `;`, a disclaimer line
  before the header in the beta file, columns `code_insee, nom_com, code_dep, code_reg, nbr, type,
  inel_hd, elig_hd05, elig_hd3, elig_hd8, elig_thd30, elig_thd100, elig_thd1g, date`. `nbr` counts
  premises (dwellings and business premises, `type = logloc`); the seven classes split them by the
  best download speed any wired or fixed-wireless technology offers there (they add up to `nbr` on
  every row: checked here, a file where they do not is refused).
- The FttH export of the "Observatoire HD/THD" workbook (T1 2018): `,`, 4 title lines, numbers
  with narrow no-break spaces as digit groups and "-" for zero. `communes.csv` gives the premises
  (`Logements` + `Établissements`), `ftthCommunes.csv` the premises connectable to FttH
  (`Locaux Raccordables`) by quarter: the latest quarter is read. Either file alone, or both in a
  zip. FttH only: it is not the kit's "any technology" coverage, and the run report says so.

Columns handed on: `code_commune`, `locaux`, the seven speed classes under ARCEP's own names
(NULL for the FttH layout), `locaux_ftth` (NULL for the speed layout), `date_arcep`, `format`.
"""

from __future__ import annotations

import gzip
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from indicators.errors import FragiliteError, InputError
from indicators.sources.readers.common import (archive_members, check_codes, extracted, pad_code, read_text_table,
                                       require_columns, require_unique, spreadsheet_rows, to_numeric)

# speed class column -> lowest download speed of the class, Mbit/s ("inel_hd": below 512 kbit/s)
SPEED_CLASSES: dict[str, float] = {
    "inel_hd": 0.0, "elig_hd05": 0.5, "elig_hd3": 3.0, "elig_hd8": 8.0,
    "elig_thd30": 30.0, "elig_thd100": 100.0, "elig_thd1g": 1000.0,
}
# The kit's "taux de couverture haut et très haut débit (DSL, câble, FttH)" follows the Observatoire
# France Très Haut Débit, whose lowest eligible class starts at 3 Mbit/s (METHODS 1.5: the SICOVAL
# inputs agree with ARCEP's shares at 3 and 8 Mbit/s, not at 30).
DEFAULT_SPEED_MBITS = 3.0
# per-technology counts (a later layout): they overlap, so no speed share can be made from them
TECHNOLOGY_COLUMNS = {"elig_ftth", "elig_coax", "elig_cu_30", "elig_thdr", "elig_4gf", "elig_sat"}
COLUMNS = ["code_commune", "locaux", *SPEED_CLASSES, "locaux_ftth", "date_arcep", "format"]
QUARTER = re.compile(r"^T([1-4]) (\d{4})$")


@dataclass
class ArcepTable:
    millesime: int | None
    frame: pd.DataFrame   # COLUMNS
    file: str
    format: str           # "debits" (speed classes) or "ftth"


def classes_at_or_above(speed_mbits: float) -> list[str]:
    """The speed classes whose premises are eligible at `speed_mbits` or more. The speed must be
    a class bound: a share at 10 Mbit/s cannot be made from classes 8-30 and 30-100."""
    bounds = {v: k for k, v in SPEED_CLASSES.items() if v > 0}
    if float(speed_mbits) not in bounds:
        raise FragiliteError(f"fixed coverage speed {speed_mbits} Mbit/s: ARCEP's classes start at "
                             f"{', '.join(f'{b:g}' for b in sorted(bounds))} Mbit/s; choose one of these")
    return [c for c, low in SPEED_CLASSES.items() if low >= float(speed_mbits)]


def eligible_column(speed_mbits: float) -> str:
    """The column of the staged commune table (sql/staging/arcep_communes.sql) holding the premises
    eligible at `speed_mbits` or more: eligibles_0_5, eligibles_3 … eligibles_1000."""
    classes_at_or_above(speed_mbits)   # a class bound, or a clear error
    return "eligibles_" + f"{float(speed_mbits):g}".replace(".", "_")


def premises_at_or_above(frame: pd.DataFrame, speed_mbits: float) -> pd.Series:
    """Premises eligible at `speed_mbits` or more, per row (NaN where the speed classes are not known)."""
    classes = classes_at_or_above(speed_mbits)
    return frame[classes].sum(axis=1, min_count=len(classes))


@contextmanager
def local_data(path: Path, patterns: tuple[str, ...] = ("*.csv",)) -> Iterator[Path]:
    """The data file itself, its member in a zip/7z, or the file inside a .gz."""
    if path.suffix.lower() != ".gz":
        with extracted(path, patterns) as local:
            yield local
        return
    with tempfile.TemporaryDirectory(prefix="fragilite-") as tmp:
        target = Path(tmp) / path.name[:-3]
        try:
            with gzip.open(path, "rb") as src:
                target.write_bytes(src.read())
        except (OSError, EOFError) as exc:
            raise InputError(path, f"cannot read gzip file ({type(exc).__name__}: {exc}); truncated download?") from exc
        yield target


def header_line(path: Path, marker: str, label: str, limit: int = 10) -> int:
    """0-based index of the first line holding `marker` (title lines come before the header)."""
    with path.open("rb") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            if marker.encode() in line:
                return i
    raise InputError(label, f"no header line naming {marker!r} in the first {limit} lines: not an ARCEP commune file")


def read_arcep_fixe(path: Path) -> ArcepTable:
    """Either layout, told apart by its header."""
    label = str(path)
    members = archive_members(path) if path.suffix.lower() in {".zip", ".7z"} else []
    if len([m for m in members if m.lower().endswith(".csv")]) > 1:
        return _read_ftth_pair(path, members)
    with local_data(path) as local:
        head = local.read_bytes()[:20000].decode("utf-8", errors="replace")
        if "code_insee" in head:
            return _read_debits(local, label)
        if "Code commune" in head:
            frame, millesime = _read_ftth(local, label)
            return ArcepTable(millesime, _shape(frame, "ftth"), label, "ftth")
    raise InputError(label, "neither an ARCEP 'Ma connexion internet' commune file (code_insee; nbr; "
                            "inel_hd …) nor an FttH observatory export (Code commune …)")


def _shape(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    out = frame.reindex(columns=COLUMNS)
    for col in ["locaux", *SPEED_CLASSES, "locaux_ftth"]:
        out[col] = out[col].astype("float64")
    out["format"] = fmt
    out["date_arcep"] = out["date_arcep"].astype("string")
    return out.reset_index(drop=True)


def _read_debits(local: Path, label: str) -> ArcepTable:
    skip = header_line(local, "code_insee", label)
    df = read_text_table(local, label, sep=";", skiprows=skip)
    header_rows = skip + 1
    if TECHNOLOGY_COLUMNS & set(df.columns) and not set(SPEED_CLASSES) <= set(df.columns):
        raise InputError(label, "per-technology eligibility counts (elig_ftth, elig_coax …) overlap: a coverage "
                                "share at a speed needs the speed-class columns " + ", ".join(SPEED_CLASSES),
                         column=next(c for c in SPEED_CLASSES if c not in df.columns))
    require_columns(df, ["code_insee", "nbr", *SPEED_CLASSES], label)
    if "type" in df.columns and (df["type"].str.strip() != "logloc").any():
        # a premises count other than dwellings + business premises: keep the one the index uses
        bad = df["type"].str.strip() != "logloc"
        if not (~bad).any():
            raise InputError(label, f"no row of type 'logloc' (found {sorted(set(df['type']))[:3]})", column="type")
        df = df[~bad].reset_index(drop=True)
    df["code_insee"] = pad_code(df["code_insee"], 5)
    check_codes(df, "code_insee", "commune", label, header_rows)
    require_unique(df, "code_insee", label, header_rows)
    df = to_numeric(df, ["nbr", *SPEED_CLASSES], label, header_rows=header_rows)
    counts = df[["nbr", *SPEED_CLASSES]]
    bad = (counts < 0).any(axis=1) | counts.isna().any(axis=1)
    if bad.any():
        raise InputError(label, "premises counts must be known and non-negative", column="nbr",
                         rows=spreadsheet_rows(np.flatnonzero(bad.to_numpy()), header_rows))
    off = (df[list(SPEED_CLASSES)].sum(axis=1) - df["nbr"]).abs() > 0.5
    if off.any():
        raise InputError(label, "the speed classes inel_hd … elig_thd1g do not add up to nbr", column="nbr",
                         rows=spreadsheet_rows(np.flatnonzero(off.to_numpy()), header_rows))
    dates = df["date"].str.strip() if "date" in df.columns else pd.Series("", index=df.index)
    frame = df.rename(columns={"code_insee": "code_commune", "nbr": "locaux"})
    frame["date_arcep"] = dates.replace("", None)
    years = sorted({d[:4] for d in dates if re.match(r"^\d{4}", d)})
    millesime = int(years[-1]) if years else None
    return ArcepTable(millesime, _shape(frame, "debits"), label, "debits")


def _ftth_number(df: pd.DataFrame, columns: list[str], label: str, header_rows: int) -> pd.DataFrame:
    """The workbook's numbers: digit groups split by (narrow) no-break spaces, "-" for zero."""
    out = df.copy()
    for col in columns:
        out[col] = out[col].astype(str).str.replace(r"\s", "", regex=True).replace("-", "0")
    return to_numeric(out, columns, label, header_rows=header_rows)


def _read_ftth(local: Path, label: str) -> tuple[pd.DataFrame, int | None]:
    skip = header_line(local, "Code commune", label)
    df = read_text_table(local, label, sep=",", skiprows=skip)
    header_rows = skip + 1
    require_columns(df, ["Code commune"], label)
    df["Code commune"] = pad_code(df["Code commune"], 5)
    if "Champ" in df.columns:   # ftthCommunes: two rows per commune, one per "Champ"
        quarters = sorted((int(m.group(2)), int(m.group(1)), c) for c in df.columns if (m := QUARTER.match(c)))
        if not quarters:
            raise InputError(label, "no quarter column (T1 2018 …) in the FttH deployment file", column="T1 …")
        latest = quarters[-1][2]
        check_codes(df, "Code commune", "commune", label, header_rows)
        df = _ftth_number(df, [latest], label, header_rows)   # before filtering: rows cited as in the file
        df = df[df["Champ"].str.strip() == "Locaux Raccordables"]
        if df.empty:
            raise InputError(label, "no 'Locaux Raccordables' row", column="Champ")
        _unique(df.reset_index(drop=True), label, df.index.to_numpy(), header_rows)
        df = df.reset_index(drop=True)
        frame = pd.DataFrame({"code_commune": df["Code commune"], "locaux_ftth": df[latest],
                              "date_arcep": latest})
        return frame, quarters[-1][0]
    require_columns(df, ["Logements", "Établissements"], label)
    check_codes(df, "Code commune", "commune", label, header_rows)
    require_unique(df, "Code commune", label, header_rows)
    df = _ftth_number(df, ["Logements", "Établissements"], label, header_rows)
    quarter = next((QUARTER.match(c[3:]) for c in df.columns if c.startswith("OI ") and QUARTER.match(c[3:])), None)
    frame = pd.DataFrame({"code_commune": df["Code commune"], "locaux": df["Logements"] + df["Établissements"],
                          "date_arcep": quarter.group(0) if quarter else None})
    return frame, int(quarter.group(2)) if quarter else None


def _unique(df: pd.DataFrame, label: str, rows: np.ndarray, header_rows: int) -> None:
    """require_unique for a filtered frame: rows cited as they are numbered in the file."""
    dup = df["Code commune"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputError(label, f"duplicated code(s) {sorted(set(df.loc[dup, 'Code commune']))[:5]}",
                         column="Code commune", rows=spreadsheet_rows(rows[dup], header_rows))


def _read_ftth_pair(path: Path, members: list[str]) -> ArcepTable:
    """Both sheets of the FttH export zipped together: premises and connectable premises side by side."""
    label = str(path)
    frames, years = [], []
    for pattern in ("ftth*.csv", "communes*.csv"):
        with extracted(path, (pattern,)) as local:
            frame, year = _read_ftth(local, f"{label}!{local.name}")
        frames.append(frame.set_index("code_commune"))
        years.append(year)
    ftth, premises = frames
    both = premises[["locaux"]].join(ftth[["locaux_ftth", "date_arcep"]], how="outer")
    return ArcepTable(years[0] or years[1], _shape(both.reset_index(names="code_commune"), "ftth"), label, "ftth")
