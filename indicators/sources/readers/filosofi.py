"""INSEE Filosofi: IRIS disposable income (DISP) and the communal file.

File names come in two orders (`BASE_TD_FILO_DISP_IRIS_2015`, `BASE_TD_FILO_IRIS_2019_DISP`);
the vintage is read from the column suffix (`DISP_MED15`), which both orders share. Only IRIS of
large communes are published; secret cells are blank and become NULL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from indicators.errors import InputError
from indicators.sources.readers.common import check_codes, extracted, pad_code, read_table, require_columns, require_unique, to_numeric


@dataclass
class FilosofiTable:
    millesime: int
    frame: pd.DataFrame
    file: str


def _vintage(columns: list[str], pattern: str, label: str) -> str:
    found = sorted({m.group(1) for c in columns if (m := re.match(pattern, c))})
    if len(found) != 1:
        raise InputError(label, f"expected one vintage of columns matching {pattern!r}, found {found or 'none'}")
    return found[0]


def _read(path: Path, members: tuple[str, ...], key: str, width: int, kind: str, prefix: str,
          names: tuple[str, str, str]) -> FilosofiTable:
    """A Filosofi table of one level: its code (`key`, `width` digits), the median income
    `<prefix>MEDyy` and the poverty rate `<prefix>TP60yy` (published in %, carried as shares)."""
    label = str(path)
    with extracted(path, members) as local:
        df = read_table(local, label, header_marker=key, sheet=None)
    df.columns = [c.upper() for c in df.columns]
    require_columns(df, [key], label)
    yy = _vintage(list(df.columns), rf"^{prefix}MED(\d{{2}})$", label)
    med, tp60 = f"{prefix}MED{yy}", f"{prefix}TP60{yy}"
    require_columns(df, [med, tp60], label)
    df[key] = pad_code(df[key], width)
    check_codes(df, key, kind, label)
    require_unique(df, key, label)
    df = to_numeric(df, [med, tp60], label, decimal="auto")
    code, med_name, tp60_name = names
    frame = pd.DataFrame({code: df[key], med_name: df[med], tp60_name: df[tp60] / 100.0})
    return FilosofiTable(2000 + int(yy), frame, label)


def read_filosofi_iris(path: Path) -> FilosofiTable:
    return _read(path, ("*.csv", "*.xls", "*.xlsx"), "IRIS", 9, "iris", "DISP_",
                 ("code_iris", "disp_med", "disp_tp60"))


def read_filosofi_communes(path: Path) -> FilosofiTable:
    return _read(path, ("*com*.csv", "*.csv", "*.xls", "*.xlsx"), "CODGEO", 5, "commune", "",
                 ("code_commune", "med", "tp60"))
