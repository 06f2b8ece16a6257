"""INSEE's EPCI composition file: commune -> EPCI -> département -> région.

Published as a workbook (sheet `Composition_communale`, title rows above the header); a CSV
export with the same columns is accepted too. EPCI `ZZZZZZZZZ` marks communes outside any EPCI.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from indicators.sources.readers.common import check_codes, extracted, pad_code, read_excel_table, read_text_table, require_columns, require_unique

COLUMNS = ["CODGEO", "LIBGEO", "EPCI", "LIBEPCI", "DEP", "REG"]


def read_epci_composition(path: Path) -> pd.DataFrame:
    label = str(path)
    with extracted(path, ("*.xlsx", "*.xls", "*.csv")) as local:
        if local.suffix.lower() in {".xlsx", ".xls"}:
            df = read_excel_table(local, label, sheet="Composition_communale", header_marker="CODGEO")
            header_rows = df.attrs["header_line"]
        else:
            df = read_text_table(local, label)
            header_rows = 1
    df.columns = [c.upper() for c in df.columns]
    require_columns(df, COLUMNS, label)
    df = df[df["CODGEO"].str.strip() != ""].copy()
    df["CODGEO"] = pad_code(df["CODGEO"], 5)
    check_codes(df, "CODGEO", "commune", label, header_rows)
    require_unique(df, "CODGEO", label, header_rows)
    dep = df["DEP"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    return pd.DataFrame({
        "code_commune": df["CODGEO"],
        "nom_commune": df["LIBGEO"],
        "code_epci": df["EPCI"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True),
        "nom_epci": df["LIBEPCI"],
        "code_departement": dep.where(dep.str.len() != 1, dep.str.zfill(2)),
        "code_region": pad_code(df["REG"], 2),
    })
