"""IGN CONTOURS-IRIS: shapefiles inside a .7z (or .zip), one folder per territory and CRS.

Metropolitan France is delivered in Lambert-93 (EPSG:2154), the overseas départements in their
own CRS. Each polygon keeps the CRS it was delivered in; the export reprojects once, at the end.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio


from ..errors import InputError
from ..download import extract
from .common import archive_members, check_codes, pad_code, require_columns, require_unique

# When a .prj is missing, the IGN folder name still says the CRS.
FOLDER_CRS = {
    "LAMB93": 2154, "RGAF09UTM20": 5490, "UTM22RGFG95": 2972, "RGFG95UTM22": 2972,
    "RGR92UTM40S": 2975, "RGM04UTM38S": 4471, "RGSPM06U21": 4467,
}
FIELDS = ["INSEE_COM", "NOM_COM", "CODE_IRIS", "NOM_IRIS", "TYP_IRIS"]


def _crs_of(frame: gpd.GeoDataFrame, shp: Path, label: str) -> int:
    if frame.crs is not None:
        epsg = frame.crs.to_epsg(min_confidence=20)
        if epsg:
            return epsg
    for token, epsg in FOLDER_CRS.items():
        if token in str(shp).upper():
            return epsg
    raise InputError(label, f"no CRS for {shp.name} (no .prj and no CRS in the folder name {shp.parent.name})")


def _read_folder(root: Path, label: str) -> pd.DataFrame:
    shapes = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".shp", ".gpkg"})
    if not shapes:
        raise InputError(label, "no shapefile or GeoPackage inside")
    parts = []
    for shp in shapes:
        try:
            frame = pyogrio.read_dataframe(shp)
        except Exception as exc:
            raise InputError(label, f"cannot read {shp.name} ({exc})") from exc
        require_columns(frame, FIELDS, f"{label}!{shp.relative_to(root)}")
        epsg = _crs_of(frame, shp, label)
        part = pd.DataFrame({
            "code_iris": pad_code(frame["CODE_IRIS"], 9),
            "code_commune": pad_code(frame["INSEE_COM"], 5),
            "nom_commune": frame["NOM_COM"].astype(str),
            "nom_iris": frame["NOM_IRIS"].astype(str),
            "typ_iris": frame["TYP_IRIS"].astype(str),
            "epsg": epsg,
            "geometry": frame.geometry.to_numpy(dtype=object),  # plain shapely: CRS kept in epsg
        })
        part["member"] = str(shp.relative_to(root))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def read_contours_iris(path: Path) -> pd.DataFrame:
    label = str(path)
    if path.is_dir():
        df = _read_folder(path, label)
    elif path.suffix.lower() in {".shp", ".gpkg"}:
        df = _read_folder(path.parent, label) if path.suffix.lower() == ".shp" else _read_folder_file(path, label)
    else:
        archive_members(path)  # raises a clear error on a truncated archive
        with tempfile.TemporaryDirectory(prefix="fragilite-iris-") as tmp:
            try:
                extract(path, Path(tmp))   # refuses entries escaping the folder
            except InputError:
                raise
            except Exception as exc:
                raise InputError(label, f"cannot extract archive ({type(exc).__name__}: {exc})") from exc
            df = _read_folder(Path(tmp), label)
    check_codes(df, "code_iris", "iris", label)
    require_unique(df, "code_iris", label)
    return df.drop(columns="member")


def _read_folder_file(path: Path, label: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / path.name
        link.symlink_to(path.resolve())
        return _read_folder(Path(tmp), label)
