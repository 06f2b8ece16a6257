"""The MedNum 2020 national IFN dataset (Design4Green 2020): 152 columns, one row per IRIS.

Accepted as published and as copied around: with or without its header row, UTF-8 with BOM,
gzip or not, codes with or without their leading zeros. Column names are matched after folding
white space, so the file's quirks (`GLOBAL COMPETENCES  departement`, trailing spaces) pass
verbatim. A run fed only this file takes the IRIS geometry (`Geo Shape`, WGS84), names and
hierarchy from the file itself.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from indicators import PACKAGE_DIR
from indicators.errors import InputError
from indicators.sources.readers.common import check_codes, pad_code, require_unique, spreadsheet_rows, to_numeric

HEADER_FILE = PACKAGE_DIR / "resources" / "mednum_kit_2020_header.csv"
LEVELS = {"departement": "departement", "epci": "EPCI", "region": "region"}

TYP_IRIS = {"commune non découpée en iris": "Z", "iris d'habitat": "H", "iris d'activité": "A", "iris divers": "D"}

# our indicator id -> the file's threshold/coefficient stem
STEMS = {
    "familles_monoparentales": "Part des familles",
    "menages_une_personne": "Part des ménages",
    "peu_diplomes": "Part des non ou peu diplômés",
    "personnes_15_29": "Part des personnes âgées de 15 – 29 ans",
    "personnes_65_plus": "Part des personnes âgées de 65",
    "revenu_median": "revenue median",
}
# our axis/score id -> the file's score stem
SCORES = {
    "score_acces_interfaces": "ACCÈS AUX INTERFACES NUMERIQUES",
    "score_acces_information": "ACCES A L'INFORMATION",
    "score_competences_administratives": "COMPETENCES ADMINISTATIVES",
    "score_competences_numeriques": "COMPÉTENCES NUMÉRIQUES / SCOLAIRES",
    "score_global_acces": "GLOBAL ACCES",
    "score_global_competences": "GLOBAL COMPETENCES",
    "score_global": "SCORE GLOBAL",
}
COUNTS = {
    "population": "P16 Pop", "pop1529": "P16 Pop1529", "pop65p": "P16 Pop65P",
    "men": "C16 Men", "menpseul": "C16 Menpseul", "fam": "C16 Fam", "fammono": "C16 Fammono",
    "nscol15p": "P16 Nscol15P", "nscol15p_diplmin": "P16 Nscol15P Diplmin",
    "med_commune": "MED15 données communales",
}


def fold(name: str) -> str:
    return " ".join(str(name).replace("\ufeff", "").split()).lower()


def canonical_header() -> list[str]:
    return HEADER_FILE.read_text(encoding="utf-8-sig").rstrip("\r\n").split(";")


@dataclass
class MednumFile:
    frame: pd.DataFrame            # every column as published (strings), codes padded
    columns: dict[str, str]        # folded name -> actual name
    file: str
    header_rows: int = 1           # 0 for a copy without its header row

    def col(self, name: str) -> pd.Series:
        key = fold(name)
        if key not in self.columns:
            raise InputError(self.file, "missing column", column=name)
        return self.frame[self.columns[key]]

    def has(self, name: str) -> bool:
        return fold(name) in self.columns


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except Exception as exc:
            raise InputError(path, f"truncated or corrupt gzip ({exc})") from exc
    return data


def read_mednum(path: Path) -> MednumFile:
    label = str(path)
    data = _read_bytes(path)
    text = data.decode("utf-8-sig")
    first_field = fold(text.split("\n", 1)[0].split(";", 1)[0].strip('"'))
    header = canonical_header()
    has_header = first_field in {fold(h) for h in header}
    df = _parse(text, label, has_header, header)
    columns = {fold(c): c for c in df.columns}
    required = ["Code Iris", "Insee Com", "Insee Dep", "Insee Reg", "Epci"] + list(COUNTS.values())
    for name in required:
        if fold(name) not in columns:
            raise InputError(label, "missing column of the 2020 IFN layout", column=name)
    header_rows = 1 if has_header else 0
    mf = MednumFile(df, columns, label, header_rows)
    df[columns[fold("Code Iris")]] = pad_code(mf.col("Code Iris"), 9)
    df[columns[fold("Insee Com")]] = pad_code(mf.col("Insee Com"), 5)
    check_codes(df, columns[fold("Code Iris")], "iris", label, header_rows)
    require_unique(df, columns[fold("Code Iris")], label, header_rows)
    return mf


def _parse(raw: str, label: str, has_header: bool, header: list[str]) -> pd.DataFrame:
    if not raw.strip():
        raise InputError(label, "file is empty")
    first = raw.split("\n", 1)[0]
    width = len(next(csv.reader([first], delimiter=";")))
    if ";" not in first:
        raise InputError(label, "wrong separator: expected ';' (the 2020 IFN file is ';'-separated)", rows=[1])
    if not has_header and width != len(header):
        raise InputError(label, f"{width} columns without a header row; the 2020 layout has {len(header)}", rows=[1])
    try:
        df = pd.read_csv(io.StringIO(raw), sep=";", dtype=str, keep_default_na=False,
                         header=0 if has_header else None, names=None if has_header else header)
    except pd.errors.ParserError as exc:
        raise InputError(label, f"malformed row: {exc}") from exc
    return df


def iris_frame(mf: MednumFile) -> pd.DataFrame:
    """The staging table of a MedNum-fed run: the same columns the RP readers produce."""
    label, header_rows = mf.file, mf.header_rows
    counts = pd.DataFrame({k: mf.col(v) for k, v in COUNTS.items()})
    counts = to_numeric(counts, list(COUNTS), label, header_rows=header_rows)
    # the file writes 0 where no communal median is published (2 417 communes): that is a
    # missing value, not an income of 0
    counts.loc[counts["med_commune"] == 0, "med_commune"] = np.nan
    dep = mf.col("Insee Dep").astype(str).str.strip()
    dep = dep.where(dep.str.len() != 1, dep.str.zfill(2))
    typ = mf.col("Type Iris").map(lambda s: TYP_IRIS.get(fold(s), s)) if mf.has("Type Iris") else "Z"
    out = pd.DataFrame({
        "code_iris": mf.col("Code Iris"),
        "nom_iris": mf.col("Nom Iris") if mf.has("Nom Iris") else mf.col("Libiris"),
        "typ_iris": typ,
        "code_commune": mf.col("Insee Com"),
        "nom_commune": mf.col("Libcom"),
        "code_epci": mf.col("Epci").astype(str).str.strip(),
        "nom_epci": mf.col("Libepci"),
        "code_departement": dep,
        "nom_departement": mf.col("Nom Dep") if mf.has("Nom Dep") else mf.col("Libdep"),
        "code_region": pad_code(mf.col("Insee Reg"), 2),
        "nom_region": mf.col("Nom Reg") if mf.has("Nom Reg") else mf.col("Libreg"),
    })
    out = pd.concat([out, counts], axis=1)
    geo = mf.col("Geo Shape").astype(str).str.strip()
    given = (geo != "").to_numpy()
    texts = np.array([g if ok else None for g, ok in zip(geo, given)], dtype=object)
    geoms = shapely.from_geojson(texts, on_invalid="ignore")
    unreadable = given & shapely.is_missing(geoms)
    if unreadable.any():
        raise InputError(label, "unreadable GeoJSON geometry", column="Geo Shape",
                         rows=spreadsheet_rows(np.flatnonzero(unreadable), header_rows))
    out["geometry"] = geoms
    out["epsg"] = 4326
    return out


def published_thresholds(mf: MednumFile, level: str) -> pd.DataFrame:
    """SEUILS columns of one reference level: code_iris + one column per indicator (NaN if absent)."""
    out = pd.DataFrame({"code_iris": mf.col("Code Iris")})
    suffix = LEVELS[level]
    for ind, stem in STEMS.items():
        name = f"SEUILS {stem} {suffix}"
        if mf.has(name):
            out[ind] = to_numeric(pd.DataFrame({name: mf.col(name)}), [name], mf.file)[name]
        else:
            out[ind] = np.nan
    return out


def published_scores(mf: MednumFile, level: str) -> pd.DataFrame:
    """The file's own "... <level> 1" means and, where published, the "*" integers."""
    out = pd.DataFrame({"code_iris": mf.col("Code Iris")})
    for ours, stem in SCORES.items():
        name = f"{stem} {level} 1"
        if mf.has(name):
            out[ours] = to_numeric(pd.DataFrame({name: mf.col(name)}), [name], mf.file)[name]
        star = f"{stem} {level} *"
        if mf.has(star):
            out[ours + "_entier"] = to_numeric(pd.DataFrame({star: mf.col(star)}), [star], mf.file)[star]
    return out
