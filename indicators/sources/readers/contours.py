"""IGN CONTOURS-IRIS: shapefiles inside a .7z (or .zip), one folder per territory and CRS.

Metropolitan France is delivered in Lambert-93 (EPSG:2154), the overseas départements in their
own CRS. Each polygon keeps the CRS it was delivered in; the export reprojects once, at the end.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


from indicators.errors import InputError
from indicators.sources.readers.common import check_codes, pad_code, read_layer, require_columns, require_unique, unpacked

# When a .prj is missing, the IGN folder name still says the CRS.
FOLDER_CRS = {
    "LAMB93": 2154, "RGAF09UTM20": 5490, "UTM22RGFG95": 2972, "RGFG95UTM22": 2972,
    "RGR92UTM40S": 2975, "RGM04UTM38S": 4471, "RGSPM06U21": 4467,
}
FIELDS = ["INSEE_COM", "NOM_COM", "CODE_IRIS", "NOM_IRIS", "TYP_IRIS"]
# the newer IGN deliveries (GeoPackage) name the same fields otherwise
ALIASES = {"INSEE_COM": ["insee_com", "code_insee"], "NOM_COM": ["nom_com", "nom_commune"],
           "CODE_IRIS": ["code_iris"], "NOM_IRIS": ["nom_iris"], "TYP_IRIS": ["typ_iris", "type_iris"]}


def _canonical(frame):
    lower = {c.lower(): c for c in frame.columns}
    renames = {}
    for field, names in ALIASES.items():
        if field not in frame.columns:
            found = next((lower[n] for n in names if n in lower), None)
            if found:
                renames[found] = field
    return frame.rename(columns=renames)


def _crs_of(frame, shp: Path, label: str) -> int:
    if frame.crs is not None:
        epsg = frame.crs.to_epsg(min_confidence=20)
        if epsg:
            return epsg
    for token, epsg in FOLDER_CRS.items():
        if token in str(shp).upper():
            return epsg
    raise InputError(label, f"no CRS for {shp.name} (no .prj and no CRS in the folder name {shp.parent.name})")


def _read_folder(root: Path, label: str, only: Path | None = None) -> pd.DataFrame:
    shapes = [only] if only else sorted(p for p in root.rglob("*") if p.suffix.lower() in {".shp", ".gpkg"})
    if not shapes:
        raise InputError(label, "no shapefile or GeoPackage inside")
    parts = []
    for shp in shapes:
        frame = _canonical(read_layer(shp, label))
        require_columns(frame, FIELDS, f"{label}!{shp.name}")
        epsg = _crs_of(frame, shp, label)
        parts.append(pd.DataFrame({
            "code_iris": pad_code(frame["CODE_IRIS"], 9),
            "code_commune": pad_code(frame["INSEE_COM"], 5),
            "nom_commune": frame["NOM_COM"].astype(str),
            "nom_iris": frame["NOM_IRIS"].astype(str),
            "typ_iris": frame["TYP_IRIS"].astype(str),
            "epsg": epsg,
            "geometry": frame.geometry.to_numpy(dtype=object),  # plain shapely: CRS kept in epsg
        }))
    return pd.concat(parts, ignore_index=True)


def read_contours_iris(path: Path) -> pd.DataFrame:
    label = str(path)
    single = path if path.suffix.lower() == ".gpkg" else None
    with unpacked(path, label) as root:
        df = _read_folder(root, label, single)
    check_codes(df, "code_iris", "iris", label)
    require_unique(df, "code_iris", label)
    return df
