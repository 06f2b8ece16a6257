"""QPV sources: contours of the 2015 and 2024 lists, INSEE/ANCT figures by QPV, Filosofi 200 m cells.

- 2015 list: shapefiles in a zip (`QP_METROPOLE_LB93` in Lambert-93, one layer per overseas
  territory in its CRS), fields `CODE_QP`, `NOM_QP`, `COMMUNE_QP`; codes `QP` + 6 digits.
- 2024 list: GeoJSON (WGS84) in a zip, fields `code_qp` (`QN…`), `lib_qp`, `insee_com`, `lib_com`,
  `insee_dep`, `siren_epci`; a QPV spanning several communes may come as several features: they
  are merged into one polygon with the list of its communes.
- Figures by QPV: `;` separated, decimal comma, blank = secret; key `CODGEO` (DEMO files) or
  `codeQPV` (`pop_QPV24.csv`).
- Filosofi 200 m: the national CSV (or GPKG) with `Idcar_200m` and `Ind`; the cell's square is
  read from its identifier `CRS3035RES200mN{north}E{east}` (south-west corner, metres).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely

from indicators.errors import InputError
from indicators.sources.readers.common import (SECRET_TOKENS, archive_members, extracted, pick_member, read_layer, read_text_table,
                     require_columns, require_unique, spreadsheet_rows, to_numeric, unpacked)
from indicators.sources.readers.zipstream import open_member

CODE = {"2015": re.compile(r"^QP\d{6}$"), "2024": re.compile(r"^QN\w{5,8}$")}
FIELDS = {
    "2015": {"code": ["CODE_QP"], "nom": ["NOM_QP"], "communes": ["COMMUNE_QP"]},
    "2024": {"code": ["code_qp"], "nom": ["lib_qp"], "communes": ["insee_com"]},
}
CELL_ID = re.compile(r"^CRS(\d{4,5})RES(\d+)mN(\d+)E(\d+)$")
CELL_ID_FIELDS = r"^CRS(?P<epsg>\d{4,5})RES(?P<size>\d+)mN(?P<y0>\d+)E(?P<x0>\d+)$"   # the same, named


def _pick(frame: pd.DataFrame, names: list[str]) -> str | None:
    lower = {c.lower(): c for c in frame.columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _layers(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in {".shp", ".geojson", ".json", ".gpkg"})


def read_qpv_contours(path: Path, liste: str) -> pd.DataFrame:
    """code_qpv, nom_qpv, communes (comma-separated, may be empty), epsg, geometry (source CRS)."""
    label = str(path)
    with unpacked(path, label) as root:
        layers = _layers(root) if path.is_dir() or path.suffix.lower() in {".zip", ".7z"} else [path]
        if not layers:
            raise InputError(label, "no shapefile, GeoJSON or GeoPackage inside")
        parts = []
        for layer in layers:
            frame = read_layer(layer, label)
            fields = FIELDS[liste]
            code = _pick(frame, fields["code"])
            if code is None:
                raise InputError(f"{label}!{layer.name}", "missing column", column=fields["code"][0])
            nom, communes = _pick(frame, fields["nom"]), _pick(frame, fields["communes"])
            epsg = frame.crs.to_epsg(min_confidence=20) if frame.crs is not None else None
            if epsg is None:
                raise InputError(f"{label}!{layer.name}", "no CRS (.prj missing?)")
            parts.append(pd.DataFrame({
                "code_qpv": frame[code].astype(str).str.strip(),
                "nom_qpv": frame[nom].astype(str) if nom else "",
                "communes": frame[communes].astype(str) if communes else "",
                "epsg": epsg,
                "geometry": frame.geometry.to_numpy(dtype=object),
            }))
    df = pd.concat(parts, ignore_index=True)
    bad = ~df["code_qpv"].str.match(CODE[liste])
    if bad.any():
        raise InputError(label, f"codes {df.loc[bad, 'code_qpv'].head(3).tolist()} are not of the {liste} list",
                         column=FIELDS[liste]["code"][0], rows=spreadsheet_rows(np.flatnonzero(bad.to_numpy())))
    if df["code_qpv"].duplicated().any():
        # one QPV over several communes can come as one feature per commune: merge them
        df = df.groupby("code_qpv", as_index=False, sort=True).agg(
            nom_qpv=("nom_qpv", "first"),
            communes=("communes", lambda s: ",".join(sorted({c.strip() for v in s for c in str(v).split(",") if c.strip()}))),
            epsg=("epsg", "first"),
            geometry=("geometry", lambda g: shapely.union_all(shapely.make_valid(np.asarray(g, dtype=object)))),
        )
    return df.sort_values("code_qpv").reset_index(drop=True)


POPULATION = ["POP_MUN", "popMuniQPV", "pop_mun", "POP_MUN_QP"]
KEYS = ["CODGEO", "codeQPV", "code_qp", "CODE_QP"]


def read_qpv_figures(path: Path) -> pd.DataFrame:
    """Official figures by QPV: code_qpv, population_officielle, part_60_plus_officielle (DEMO),
    and, when the file has them, taux_pauvrete_officiel and taux_emploi_officiel (shares 0-1)."""
    label = str(path)
    with extracted(path, ("*.csv",)) as local:
        first = local.read_text(encoding="utf-8-sig", errors="replace").splitlines()[0]
        sep = ";" if ";" in first else ","
        df = read_text_table(local, label, sep=sep)
    key = _pick(df, KEYS)
    if key is None:
        raise InputError(label, f"no QPV code column (one of {KEYS})", column=KEYS[0])
    decimal = "," if sep == ";" else "."
    out = pd.DataFrame({"code_qpv": df[key].astype(str).str.strip()})
    wanted = {
        "population_officielle": (POPULATION, 1.0),
        "part_60_plus_officielle": (["TX_TOT_60ETPLUS"], 0.01),
        "taux_pauvrete_officiel": (["tp60", "TP60"], 0.01),
        "taux_emploi_officiel": (["tx_tot_empl", "TX_TOT_EMPL"], 0.01),
    }
    for name, (candidates, scale) in wanted.items():
        col = _pick(df, candidates)
        if col is not None:
            out[name] = to_numeric(df[[col]], [col], label, decimal=decimal)[col] * scale
    if len(out.columns) == 1:
        raise InputError(label, "no figure column known by QPV (POP_MUN, popMuniQPV, TX_TOT_60ETPLUS, tp60, tx_tot_empl)")
    require_unique(df, key, label)
    return out


GRID_ID = ["Idcar_200m", "IdINSPIRE", "idcar_200m", "Idcar"]
GRID_IND = ["Ind", "ind", "Ind_c"]


def read_filosofi_200m(path: Path) -> pd.DataFrame:
    """idcar, epsg, x0, y0, size (metres), ind (individuals; NULL if secret).

    The national CSV (2.3 million cells, 30-odd columns) is streamed out of its zip and only the
    identifier and `Ind` are parsed, by pyarrow: reading it whole into pandas took 5 GB."""
    import pyarrow as pa

    label = str(path)
    members = archive_members(path)
    member = pick_member(path, members, ("*.csv", "*.gpkg")) if members else None
    if Path(member or path).suffix.lower() == ".csv" and (member is None or zipfile.is_zipfile(path)):
        idcol, ind, table = _grid_columns(path, member, label)
    else:
        with extracted(path, ("*.csv", "*.gpkg")) as local:
            df = pyogrio.read_dataframe(local, read_geometry=False).astype(str)
        idcol, ind = _pick(df, GRID_ID), _pick(df, GRID_IND)
        _require_grid_columns(idcol, ind, label)
        table = pa.Table.from_pandas(df[[idcol, ind]], preserve_index=False)
    return _cells(table, idcol, ind, label)


def _require_grid_columns(idcol: str | None, ind: str | None, label: str) -> None:
    if idcol is None:
        raise InputError(label, "missing column", column="Idcar_200m")
    if ind is None:
        raise InputError(label, "missing column", column="Ind")


def _grid_columns(path: Path, member: str | None, label: str):
    """The identifier and population columns of a grid CSV (in a zip or not), as strings."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def stream():
        return open_member(path, member) if member else open(path, "rb")

    with stream() as raw:
        first = raw.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    sep = ";" if ";" in first else ","
    header = pd.DataFrame(columns=[c.strip().strip('"') for c in first.split(sep)])
    idcol, ind = _pick(header, GRID_ID), _pick(header, GRID_IND)
    _require_grid_columns(idcol, ind, label)
    try:
        with stream() as raw:
            table = pacsv.open_csv(raw, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                   parse_options=pacsv.ParseOptions(delimiter=sep),
                                   convert_options=pacsv.ConvertOptions(
                                       include_columns=[idcol, ind], column_types={idcol: pa.string(), ind: pa.string()},
                                       strings_can_be_null=False)).read_all()
    except (pa.ArrowInvalid, OSError, zipfile.BadZipFile) as exc:
        raise InputError(label, f"malformed delimited text: {exc}") from exc
    return idcol, ind, table


def _cells(table, idcol: str, ind: str, label: str) -> pd.DataFrame:
    """The cells' squares from their identifiers and their people, checked (arrow kernels: a
    pandas regex over 2.3 million identifiers took half a minute)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    header_rows = 1
    ids = pc.utf8_trim_whitespace(table[idcol].combine_chunks())
    parsed = pc.extract_regex(ids, CELL_ID_FIELDS)
    bad = pc.invert(parsed.is_valid()).to_numpy(zero_copy_only=False)
    if bad.any():
        raise InputError(label, "cell identifier not of the form CRS3035RES200mN…E…", column=idcol,
                         rows=spreadsheet_rows(np.flatnonzero(bad), header_rows))
    raw = pc.utf8_trim_whitespace(table[ind].combine_chunks())
    secret = pc.is_in(pc.utf8_lower(raw), value_set=pa.array(sorted(SECRET_TOKENS)))
    comma = pc.any(pc.match_substring(raw, ",")).as_py()
    cleaned = pc.replace_substring(pc.replace_substring(raw, " ", ""), ",", ".") if comma else raw
    try:
        values = pc.cast(pc.if_else(secret, pa.scalar(None, pa.string()), cleaned), pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:   # what is not a number: said with its rows, as every reader does
        values = to_numeric(pd.DataFrame({ind: raw.to_pandas()}), [ind], label,
                            decimal="," if comma else ".", header_rows=header_rows)[ind].to_numpy()
    field = lambda i, kind: pc.cast(parsed.field(i), kind).to_numpy(zero_copy_only=False)
    out = pd.DataFrame({"idcar": ids.to_pandas(), "epsg": field(0, pa.int64()).astype(int),
                        "size": field(1, pa.int64()).astype(int), "y0": field(2, pa.int64()),
                        "x0": field(3, pa.int64()), "ind": values.astype("float64")})
    require_unique(out, "idcar", label, header_rows)
    return out


def read_grid_emprise(path: Path) -> pd.DataFrame:
    """Rectangles a partial grid extract covers: crs, xmin, ymin, xmax, ymax."""
    label = str(path)
    df = read_text_table(path, label, sep=";")
    require_columns(df, ["crs", "xmin", "ymin", "xmax", "ymax"], label)
    df = to_numeric(df, ["xmin", "ymin", "xmax", "ymax"], label)
    df["epsg"] = df["crs"].str.upper().str.removeprefix("EPSG:").astype(int)
    return df[["epsg", "xmin", "ymin", "xmax", "ymax"]]
