"""INSEE Base permanente des équipements (BPE), "ensemble" file: equipments by IRIS and type.

Layout as INSEE publishes it (`bpe{yy}_ensemble_csv.zip` holding `bpe{yy}_ensemble.csv`, or the CSV
itself, gzipped or not): `;`, header `REG;DEP;DEPCOM;DCIRIS;AN;TYPEQU;NB_EQUIP`, one row per
(IRIS or commune, type of equipment). `DCIRIS` comes in two forms: `CCCCC_IIII` for a commune split
into IRIS, the bare commune code `CCCCC` for a commune that is not (its IRIS code is `CCCCC0000`);
a 9-character `CCCCCIIII` is taken too. The BPE lists every equipment of the départements it
covers: a unit of such a département without a type has 0 of it, not an unknown count.

The types counted as public services are the run's choice (PUBLIC_SERVICES below, the default);
every row is staged, so that changing the list re-stages nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from indicators.errors import InputError
from indicators.sources.readers.common import (check_codes, pad_code, read_text_table, require_columns,
                                       spreadsheet_rows, to_numeric)
from indicators.sources.readers.arcep import local_data

# The kit's "services publics" (sheet Definitions: local bodies useful for users' administrative
# procedures, METHODS 1.5) as BPE 2019 types. README, "Public services", says why each is in.
PUBLIC_SERVICES: dict[str, str] = {
    "A101": "Police",
    "A104": "Gendarmerie",
    "A106": "Tribunal de grande instance (TGI)",
    "A107": "Tribunal d'instance (TI)",
    "A108": "Conseil de prud'hommes (CPH)",
    "A109": "Tribunal de commerce (TCO)",
    "A115": "Réseau spécialisé Pôle emploi",
    "A120": "Direction régionale des finances publiques (DRFIP)",
    "A121": "Direction départementale des finances publiques (DDFIP)",
    "A122": "Réseau de proximité Pôle emploi (agences)",
    "A124": "Maison de justice et du droit",
    "A126": "Conseil départemental d'accès au droit (CDAD)",
    "A127": "Maison de services au public (MSAP)",
    "A206": "Bureau de poste",
}
REQUIRED = ["DEP", "DEPCOM", "DCIRIS", "TYPEQU", "NB_EQUIP"]
TYPEQU = re.compile(r"^[A-G]\d{3}$")
DCIRIS = r"^(\d{2}|2[AB])\d{3}(_?\d{4})?$"


@dataclass
class BpeTable:
    millesime: int | None
    frame: pd.DataFrame   # code_iris, code_commune, code_departement, typequ, nb_equip
    file: str


def read_bpe(path: Path) -> BpeTable:
    label = str(path)
    with local_data(path, ("bpe*.csv",)) as local:   # not varmod_*.csv, the dictionary
        df = read_text_table(local, label, sep=";")
    df.columns = [c.upper() for c in df.columns]
    require_columns(df, REQUIRED, label)
    df["DEPCOM"] = pad_code(df["DEPCOM"], 5)
    check_codes(df, "DEPCOM", "commune", label)
    dciris = df["DCIRIS"].str.strip()
    code = dciris.str.replace("_", "", regex=False)   # vectorized: str.extract is a Python loop
    code = code.where(code.str.len() != 5, code + "0000")
    bad = ~dciris.str.match(DCIRIS) | (code.str[:5] != df["DEPCOM"])
    if bad.any():
        raise InputError(label, f"IRIS code(s) {df.loc[bad, 'DCIRIS'].head(3).tolist()} are neither CCCCC_IIII "
                                "nor CCCCC of their DEPCOM", column="DCIRIS",
                         rows=spreadsheet_rows(np.flatnonzero(bad.to_numpy())))
    df["TYPEQU"] = df["TYPEQU"].str.strip().str.upper()
    bad = ~df["TYPEQU"].str.match(TYPEQU)
    if bad.any():
        raise InputError(label, f"invalid equipment type(s) {df.loc[bad, 'TYPEQU'].head(3).tolist()}",
                         column="TYPEQU", rows=spreadsheet_rows(np.flatnonzero(bad.to_numpy())))
    df["code_iris"] = code
    dup = df.duplicated(["code_iris", "TYPEQU"], keep=False)
    if dup.any():
        pairs = df.loc[dup, ["DCIRIS", "TYPEQU"]].drop_duplicates().head(3).agg(" ".join, axis=1).tolist()
        raise InputError(label, f"duplicated code(s): one row per IRIS and type expected, {pairs} repeat",
                         column="DCIRIS", rows=spreadsheet_rows(np.flatnonzero(dup.to_numpy())))
    df = to_numeric(df, ["NB_EQUIP"], label)
    bad = df["NB_EQUIP"].isna() | (df["NB_EQUIP"] < 0)
    if bad.any():
        raise InputError(label, "equipment counts must be known and non-negative", column="NB_EQUIP",
                         rows=spreadsheet_rows(np.flatnonzero(bad.to_numpy())))
    frame = pd.DataFrame({"code_iris": df["code_iris"], "code_commune": df["DEPCOM"],
                          "code_departement": pad_code(df["DEP"], 2), "typequ": df["TYPEQU"],
                          "nb_equip": df["NB_EQUIP"].astype("float64")})
    return BpeTable(_vintage(df, path, label), frame, label)


def _vintage(df: pd.DataFrame, path: Path, label: str) -> int | None:
    """The AN column, else the `bpe19` of the file name."""
    if "AN" in df.columns:
        years = sorted(set(df["AN"].unique().tolist()) - {""})
        if len(years) > 1:
            raise InputError(label, f"rows of several years {years[:5]} in one BPE file", column="AN")
        if years and years[0].isdigit():
            return int(years[0])
    m = re.search(r"bpe_?(\d{2})(?!\d)", path.name.lower())
    return 2000 + int(m.group(1)) if m else None
