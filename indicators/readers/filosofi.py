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

from ..errors import InputError
from .common import check_codes, extracted, pad_code, read_table, require_columns, require_unique, to_numeric


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


def read_filosofi_iris(path: Path) -> FilosofiTable:
    label = str(path)
    with extracted(path, ("*.csv", "*.xls", "*.xlsx")) as local:
        df = read_table(local, label, header_marker="IRIS", sheet=None)
    df.columns = [c.upper() for c in df.columns]
    require_columns(df, ["IRIS"], label)
    yy = _vintage(list(df.columns), r"^DISP_MED(\d{2})$", label)
    med, tp60 = f"DISP_MED{yy}", f"DISP_TP60{yy}"
    require_columns(df, [med, tp60], label)
    df["IRIS"] = pad_code(df["IRIS"], 9)
    check_codes(df, "IRIS", "iris", label)
    require_unique(df, "IRIS", label)
    df = to_numeric(df, [med, tp60], label, decimal="auto")
    frame = pd.DataFrame({"code_iris": df["IRIS"], "disp_med": df[med],
                          "disp_tp60": df[tp60] / 100.0})  # published in %, we carry shares
    return FilosofiTable(2000 + int(yy), frame, label)


def read_filosofi_communes(path: Path) -> FilosofiTable:
    label = str(path)
    with extracted(path, ("*com*.csv", "*.csv", "*.xls", "*.xlsx")) as local:
        df = read_table(local, label, header_marker="CODGEO", sheet=None)
    df.columns = [c.upper() for c in df.columns]
    require_columns(df, ["CODGEO"], label)
    yy = _vintage(list(df.columns), r"^MED(\d{2})$", label)
    med, tp60 = f"MED{yy}", f"TP60{yy}"
    require_columns(df, [med, tp60], label)
    df["CODGEO"] = pad_code(df["CODGEO"], 5)
    check_codes(df, "CODGEO", "commune", label)
    require_unique(df, "CODGEO", label)
    df = to_numeric(df, [med, tp60], label, decimal="auto")
    frame = pd.DataFrame({"code_commune": df["CODGEO"], "med": df[med], "tp60": df[tp60] / 100.0})
    return FilosofiTable(2000 + int(yy), frame, label)
