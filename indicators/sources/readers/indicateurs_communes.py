"""Indicator values per commune that the user brings: what no source of the run gives (mobile
coverage, a local count of public services), or a value replacing a source's.

Two layouts:
- the kit's own input sheet, `0.Base de données` of La MedNum's calculation matrix (the SICOVAL
  workbook is a real example): title rows, a header row holding `INSEE_COM` and the kit's labels
  (`Taux de couverture mobile (2G)` …), one row per commune, then a blank row and the thresholds
  row ("Seuils :"), which is not read (thresholds are the run's: give them with --thresholds);
- a plain CSV (`;` or `,`): `code_commune`, then columns named by indicator ids
  (`couverture_mobile`, `services_publics` …), and optionally a name column. `couverture_4g`
  (share of the commune covered in 4G, 0-1) is taken too: the 2023 portal's indicator, read by
  ifn-2023 only (no real source of it here).

Values are the indicators themselves: shares 0-1, euros for `revenu_median`, equipments per
inhabitant for `services_publics` (the kit's `Services publics / individu`; its count column
`Services publics` is not read: the kit scores the ratio). A blank cell gives no value: the
run's source, if any, is kept for that commune.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from indicators.errors import InputError
from indicators.sources.readers.common import (check_codes, pad_code, read_text_table, require_unique, spreadsheet_rows,
                                       to_numeric)

# the kit's column labels (sheet 0.Base de données, row 4) -> indicator ids (METHODS 1.1)
KIT_COLUMNS: dict[str, str] = {
    "Taux de couverture HD / THD (DSL, câble, FttH)": "couverture_fixe",
    "Taux de couverture mobile (2G)": "couverture_mobile",
    "Taux de pauvreté": "taux_pauvrete",
    "Revenus médian disponible": "revenu_median",
    "Part des familles monoparentales": "familles_monoparentales",
    "Part des ménages d'une personne": "menages_une_personne",
    "Services publics / individu": "services_publics",
    "Part des chômeurs (15 – 64 ans)": "chomeurs_15_64",
    "Part des personnes âgées de 15 – 29 ans": "personnes_15_29",
    "Part des personnes âgées de 65 ans / +": "personnes_65_plus",
    "Part des non ou peu diplômés dans la population non scolarisée de 15 ans ou plus": "peu_diplomes",
}
INDICATOR_IDS = list(KIT_COLUMNS.values())
# indicators of other methods than the 2020 ones, accepted in the CSV layout: ifn-2023's 4G coverage
OTHER_IDS = ["couverture_4g"]
CSV_IDS = INDICATOR_IDS + OTHER_IDS
NOT_SHARES = {"revenu_median", "services_publics"}   # every other indicator is a share, 0-1
KIT_SHEET = "0.Base de données"
KIT_CODE = "INSEE_COM"
# columns of the kit's sheet that identify or describe a commune, or that the kit does not score
KIT_OTHER = {"NOM_COM", "INSEE_DEP", "NOM_DEP", "INSEE_REG", "Population légale", "Services publics"}
CSV_CODE = "code_commune"
CSV_NAMES = {"nom", "nom_commune", "libelle", "libgeo", "LIBGEO", "NOM_COM"}


@dataclass
class CommuneIndicators:
    frame: pd.DataFrame             # code_commune, then one float column per indicator id given
    file: str
    format: str                     # "kit" or "csv"
    ignored: list[str] = field(default_factory=list)   # columns read but not used, to report
    millesime: int | None = None    # the user's figures carry no vintage of their own


def read_indicateurs_communes_long(path: Path) -> CommuneIndicators:
    """One row per commune and indicator given (`code_commune, indicateur, valeur, fichier`), blank
    cells left out: the staged shape, whatever the layout."""
    t = read_indicateurs_communes(path)
    long = t.frame.melt(id_vars="code_commune", var_name="indicateur", value_name="valeur")
    long = long[long["valeur"].notna()].reset_index(drop=True)
    long["fichier"] = t.file
    return CommuneIndicators(long, t.file, t.format, t.ignored)


def _norm(label: object) -> str:
    text = unicodedata.normalize("NFKD", str(label)).encode("ascii", "ignore").decode()
    text = re.sub(r"[\u2013\u2014-]", "-", text)
    return re.sub(r"\s+", " ", text).strip().lower()


KIT_BY_NORM = {_norm(k): v for k, v in KIT_COLUMNS.items()}


def read_indicateurs_communes(path: Path) -> CommuneIndicators:
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        return _read_kit(path)
    return _read_csv(path)


def _sheet(path: Path, label: str) -> pd.DataFrame:
    try:   # calamine: xls and xlsx alike, formula cells as the workbook cached them
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=str, engine="calamine")
    except Exception as exc:
        raise InputError(label, f"cannot read workbook ({type(exc).__name__}: {exc})") from exc
    if KIT_SHEET in book:
        return book[KIT_SHEET]
    found = [name for name, raw in book.items()
             if any(KIT_CODE in [str(v).strip() for v in raw.iloc[i].tolist()] for i in range(min(len(raw), 20)))]
    if len(found) != 1:
        raise InputError(label, f"expected the kit's sheet {KIT_SHEET!r} or one sheet with an {KIT_CODE} header; "
                                f"found {found or 'none'} among {', '.join(book)}")
    return book[found[0]]


def _read_kit(path: Path) -> CommuneIndicators:
    label = str(path)
    raw = _sheet(path, label)
    header = next((i for i in range(min(len(raw), 20))
                   if KIT_CODE in [str(v).strip() for v in raw.iloc[i].tolist()]), None)
    if header is None:
        raise InputError(label, f"no header row holding {KIT_CODE!r} in the first 20 rows")
    names = [str(v).strip() if pd.notna(v) else "" for v in raw.iloc[header].tolist()]
    columns, ignored = {}, []
    for j, name in enumerate(names):
        if not name:
            continue
        if _norm(name) in KIT_BY_NORM:
            columns[KIT_BY_NORM[_norm(name)]] = j
        elif name != KIT_CODE:
            ignored.append(name)
    unknown = [n for n in ignored if n not in KIT_OTHER]
    if unknown:
        raise InputError(label, f"unknown column(s) {unknown} in the kit's sheet: its indicator labels are "
                                f"{list(KIT_COLUMNS)}", column=unknown[0], rows=[header + 1])
    code = raw.iloc[header + 1:, names.index(KIT_CODE)]
    blank = code.isna() | (code.astype(str).str.strip() == "")
    end = int(np.argmax(blank.to_numpy())) if blank.any() else len(code)   # the data stop at the first blank code
    data = raw.iloc[header + 1:header + 1 + end]
    df = pd.DataFrame({KIT_CODE: data.iloc[:, names.index(KIT_CODE)].astype(str)})
    for ind, j in columns.items():   # named as in the sheet while checked, so errors cite its labels
        df[names[j]] = data.iloc[:, j].fillna("").astype(str).to_numpy()
    shown = {names[j]: ind for ind, j in columns.items()}
    df = _checked(df.reset_index(drop=True), KIT_CODE, shown, label, header + 1)
    return CommuneIndicators(df, label, "kit", ignored)


def _read_csv(path: Path) -> CommuneIndicators:
    label = str(path)
    first = path.read_bytes()[:4096].decode("utf-8-sig", errors="replace").splitlines()
    sep = ";" if first and ";" in first[0] else ","
    df = read_text_table(path, label, sep=sep)
    if CSV_CODE not in df.columns:
        raise InputError(label, f"missing column; a commune table has {CSV_CODE!r} and indicator ids "
                                f"({', '.join(CSV_IDS)})", column=CSV_CODE)
    unknown = [c for c in df.columns if c != CSV_CODE and c not in CSV_IDS and c not in CSV_NAMES]
    if unknown:
        raise InputError(label, f"unknown column(s) {unknown}: indicator columns are named by ids "
                                f"({', '.join(CSV_IDS)})", column=unknown[0])
    ids = [c for c in df.columns if c in CSV_IDS]
    if not ids:
        raise InputError(label, f"no indicator column; name them by ids ({', '.join(CSV_IDS)})")
    ignored = [c for c in df.columns if c in CSV_NAMES]
    return CommuneIndicators(_checked(df[[CSV_CODE, *ids]].copy(), CSV_CODE, {i: i for i in ids}, label, 1), label, "csv",
                             ignored)


def _checked(df: pd.DataFrame, code: str, ids: dict[str, str], label: str, header_rows: int) -> pd.DataFrame:
    """Codes and values checked under the file's own column names (`ids` maps them to indicator
    ids), so that an error cites the column as the user sees it; returned under our names."""
    df[code] = pad_code(df[code], 5)
    check_codes(df, code, "commune", label, header_rows)
    require_unique(df, code, label, header_rows)
    df = to_numeric(df, list(ids), label, decimal="auto", header_rows=header_rows)
    for col, ind in ids.items():
        values = df[col]
        bad = values < 0 if ind in NOT_SHARES else (values < 0) | (values > 1)
        if bad.any():
            what = "a negative value" if ind in NOT_SHARES else "a share outside 0-1 (percentages must be divided by 100)"
            raise InputError(label, f"{what}: {values[bad].head(3).tolist()}", column=col,
                             rows=spreadsheet_rows(np.flatnonzero(bad.to_numpy()), header_rows))
    return df.rename(columns={code: "code_commune", **ids})
