"""Check a GeoParquet file: its `geo` metadata against the GeoParquet 1.1.0 JSON Schema, its CRS,
its bbox covering column, and its geometries, read back with pyarrow, geopandas and DuckDB.

Any GeoParquet 1.1 file can be checked (the specification's reference files included: native
GeoArrow encodings, no CRS, no covering). `strict` adds the fragilite layer contract: an explicit
CRS, a bbox covering column, and MultiPolygons that GEOS finds valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import jsonschema
import numpy as np
import pyarrow.parquet as pq
import pyproj
import shapely

from indicators import PACKAGE_DIR
from indicators.db import connect

SCHEMA_FILE = PACKAGE_DIR / "resources" / "geoparquet-1.1.0.schema.json"


@dataclass
class Report:
    path: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _schema() -> dict:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # the crs property points to the PROJJSON schema by URL; offline, pyproj checks the CRS instead
    crs = schema["properties"]["columns"]["patternProperties"][".+"]["properties"]["crs"]
    crs["oneOf"] = [{"type": "object"}, {"type": "null"}]
    return schema


def validate_file(path: Path, strict: bool = False) -> Report:
    """Every check of one GeoParquet file; `strict` adds the fragilite layer contract (explicit
    CRS, bbox covering, valid MultiPolygons)."""
    report = Report(str(path))
    found = _geo_metadata(path, report)
    if found is None:
        return report
    pf, column, primary = found
    _check_crs(column, report, strict)
    try:
        gdf = gpd.read_parquet(path, columns=None)
    except Exception as exc:
        report.errors.append(f"geopandas cannot read it: {exc}")
        return report
    report.info["rows"] = int(len(gdf))
    geoms = gdf.geometry.to_numpy()
    present = ~shapely.is_missing(geoms)
    _check_geometries(geoms, present, column, report, strict)
    _check_bbox(path, pf.schema_arrow.names, geoms, present, column, report, strict)
    if column["encoding"] == "WKB":
        _check_duckdb(path, primary, len(gdf), int(present.sum()), report)
    return report


def _geo_metadata(path: Path, report: Report):
    """(the Parquet file, its primary geometry column's metadata, its name), or None on error."""
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        report.errors.append(f"not a readable Parquet file: {exc}")
        return None
    metadata = pf.schema_arrow.metadata or {}
    if b"geo" not in metadata:
        report.errors.append("no `geo` key in the Parquet metadata: not GeoParquet")
        return None
    try:
        geo = json.loads(metadata[b"geo"])
    except json.JSONDecodeError as exc:
        report.errors.append(f"`geo` metadata is not JSON: {exc}")
        return None
    validator = jsonschema.Draft7Validator(_schema())
    for err in sorted(validator.iter_errors(geo), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.path) or "(root)"
        report.errors.append(f"geo metadata at {where}: {err.message}")
    if report.errors:
        return None
    report.info["version"] = geo["version"]
    primary = geo["primary_column"]
    if primary not in geo["columns"]:
        report.errors.append(f"primary_column {primary!r} is not described in `columns`")
        return None
    names = pf.schema_arrow.names
    for col in geo["columns"]:
        if col not in names:
            report.errors.append(f"geometry column {col!r} described in metadata is not in the file")
    column = geo["columns"][primary]
    report.info["encoding"] = column["encoding"]
    report.info["geometry_types"] = column["geometry_types"]
    return pf, column, primary


def _check_crs(column: dict, report: Report, strict: bool) -> None:
    # absent means OGC:CRS84 (lon/lat); our layers always say which
    if "crs" not in column:
        msg = "no explicit CRS (readers will assume OGC:CRS84)"
        (report.errors if strict else report.warnings).append(msg)
    elif column["crs"] is None:
        report.warnings.append("crs is null: the CRS is unknown")
    else:
        try:
            report.info["crs"] = pyproj.CRS.from_json_dict(column["crs"]).to_string()
        except Exception as exc:
            report.errors.append(f"crs is not valid PROJJSON: {exc}")


def _check_geometries(geoms: np.ndarray, present: np.ndarray, column: dict, report: Report, strict: bool) -> None:
    found = sorted({g.geom_type for g in geoms[present]})
    declared = column["geometry_types"]
    if declared:
        undeclared = [t for t in found if t not in {d.replace(" Z", "") for d in declared}]
        if undeclared:
            report.errors.append(f"geometry types {undeclared} are not in geometry_types {declared}")
    invalid = present & ~shapely.is_valid(geoms)
    if invalid.any():
        msg = f"{int(invalid.sum())} invalid geometries (first rows {np.flatnonzero(invalid)[:5].tolist()})"
        (report.errors if strict else report.warnings).append(msg)
    if strict and not all(t == "MultiPolygon" for t in found):
        report.errors.append(f"layer geometries must be MultiPolygon, found {found}")
    if (~present).any():
        report.warnings.append(f"{int((~present).sum())} rows without geometry (null)")


def _check_bbox(path: Path, names: list[str], geoms: np.ndarray, present: np.ndarray, column: dict,
                report: Report, strict: bool) -> None:
    covering = column.get("covering", {}).get("bbox")
    if covering is None:
        (report.errors if strict else report.warnings).append("no bbox covering column")
    elif covering["xmin"][0] not in names:
        report.errors.append(f"covering names column {covering['xmin'][0]!r}, absent from the file")
    else:
        bbox_col = covering["xmin"][0]
        table = pq.read_table(path, columns=[bbox_col]).column(bbox_col).combine_chunks()
        xmin, ymin, xmax, ymax = (table.field(k).to_numpy(zero_copy_only=False) for k in ("xmin", "ymin", "xmax", "ymax"))
        bounds = shapely.bounds(geoms)
        tol = 1e-6 * max(1.0, float(np.nanmax(np.abs(bounds))) if present.any() else 1.0)
        bad = present & ((xmin > bounds[:, 0] + tol) | (ymin > bounds[:, 1] + tol) |
                         (xmax < bounds[:, 2] - tol) | (ymax < bounds[:, 3] - tol))
        if bad.any():
            report.errors.append(f"bbox column does not contain the geometry on {int(bad.sum())} rows")
    if "bbox" in column and present.any():
        total = shapely.total_bounds(geoms[present])
        declared_bbox = column["bbox"]
        if len(declared_bbox) == 4 and not np.allclose(declared_bbox, total, rtol=1e-6, atol=1e-6):
            report.warnings.append(f"declared bbox {declared_bbox} differs from the data's {total.tolist()}")


def _check_duckdb(path: Path, primary: str, rows: int, with_geometry: int, report: Report) -> None:
    """Read back with DuckDB spatial (WKB columns)."""
    try:
        con = connect()
        kinds = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                 [str(path)]).fetchall())
        # DuckDB spatial turns a GeoParquet WKB column into GEOMETRY by itself
        geom = f'"{primary}"' if kinds.get(primary) == "GEOMETRY" else f'ST_GeomFromWKB("{primary}")'
        n, n_geom = con.execute(f"SELECT count(*), count({geom}) FROM read_parquet(?)", [str(path)]).fetchone()
        report.info["duckdb_type"] = kinds.get(primary)
        con.close()
        report.info["duckdb_rows"] = int(n)
        if n != rows or n_geom != with_geometry:
            report.errors.append(f"DuckDB reads {n} rows / {n_geom} geometries, geopandas {rows} / {with_geometry}")
    except Exception as exc:
        report.errors.append(f"DuckDB spatial cannot read it: {exc}")
