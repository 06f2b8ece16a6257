"""INSEE RP "bases infracommunales" (IRIS): zip of CSV (any vintage from 2016) or the older xls.

Column names carry the vintage (`P16_POP`, `C22_MEN`): the reader finds it, checks that every
prefixed column agrees, and hands back vintage-free names (`POP`, `MEN`) with the millésime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from indicators.errors import InputError
from indicators.sources.readers.common import (check_codes, extracted, pad_code, read_table, require_columns, require_unique,
                     to_numeric)

PREFIX = re.compile(r"^([PC])(\d{2})_(.+)$")
FIRST_VINTAGE = 16  # the IFN definitions are those of RP 2016; older bases use other variables

# Variables each theme must provide, by vintage. Diplomas: from RP 2017 BEPC left DIPLMIN
# (METHODS 1.3), so the 2016 definition needs the separate BEPC column from then on.
REQUIRED = {
    "rp_population": lambda yy: ["P:POP", "P:POP1529", "P:POP65P"],
    "rp_familles": lambda yy: ["C:MEN", "C:MENPSEUL", "C:FAM", "C:FAMMONO"],
    "rp_diplomes": lambda yy: ["P:NSCOL15P", "P:NSCOL15P_DIPLMIN"] + (["P:NSCOL15P_BEPC"] if yy >= 17 else []),
    "rp_activite": lambda yy: ["P:CHOM1564", "P:ACT1564", "P:ACTOCC15P"],
}
# read when present, NULL otherwise (the SQL always sees the column)
OPTIONAL = {"rp_activite": ["P:ACTOCC1564"], "rp_diplomes": ["P:NSCOL15P_CAPBEP"],
            "rp_population": ["P:POP6074", "P:POP75P"]}
KEYS = ["IRIS", "COM"]
LABELS = ["LIBCOM", "LIBIRIS", "TYP_IRIS", "DEP", "REG"]


@dataclass
class RpTable:
    source: str
    millesime: int
    frame: pd.DataFrame  # code_iris, code_commune, labels, then vintage-free variables (float)
    file: str


def detect_vintage(columns: list[str], label: str) -> int:
    years = {}
    for col in columns:
        m = PREFIX.match(col)
        if m:
            years.setdefault(int(m.group(2)), []).append(col)
    if not years:
        raise InputError(label, "no P{yy}_/C{yy}_ column: not an INSEE RP IRIS base")
    if len(years) > 1:
        detail = "; ".join(f"{2000 + y}: {cols[:3]}" for y, cols in sorted(years.items()))
        raise InputError(label, f"columns of several vintages in one file ({detail})")
    yy = next(iter(years))
    if yy < FIRST_VINTAGE:
        raise InputError(label, f"unexpected vintage prefix P{yy:02d}_/C{yy:02d}_: "
                                f"readers support RP 20{FIRST_VINTAGE} and later")
    return yy


def read_rp_iris(path: Path, source: str) -> RpTable:
    label = str(path)
    with extracted(path, ("*.csv", "*.xls", "*.xlsx")) as local:
        excel = local.suffix.lower() in {".xls", ".xlsx"}
        # workbooks: the France file's sheet IRIS, or the overseas collectivities' C.O.M
        df = read_table(local, label, header_marker=("IRIS", "COM"), sheet=("IRIS", "C.O.M") if excel else None)
    header_rows = df.attrs.get("header_line", 1)
    df.columns = [c.upper() for c in df.columns]
    require_columns(df, KEYS, label)
    yy = detect_vintage(list(df.columns), label)
    wanted = [f"{p}{yy:02d}_{v}" for p, v in (s.split(":") for s in REQUIRED[source](yy))]
    optional = [f"{p}{yy:02d}_{v}" for p, v in (s.split(":") for s in OPTIONAL.get(source, []))]
    require_columns(df, wanted, label)
    present_optional = [c for c in optional if c in df.columns]
    df["IRIS"] = pad_code(df["IRIS"], 9)
    df["COM"] = pad_code(df["COM"], 5)
    check_codes(df, "IRIS", "iris", label, header_rows)
    require_unique(df, "IRIS", label, header_rows)
    df = to_numeric(df, wanted + present_optional, label, decimal="auto", header_rows=header_rows)
    out = pd.DataFrame({"code_iris": df["IRIS"], "code_commune": df["COM"]})
    for col in LABELS:  # always present, NULL when a file lacks them, so SQL sees one shape
        out[col.lower()] = df[col].astype(str) if col in df.columns else None
    for col in wanted + optional:
        out[PREFIX.match(col).group(3).lower()] = df[col] if col in df.columns else np.nan
    return RpTable(source=source, millesime=2000 + yy, frame=out, file=label)
