"""The layers: their schema, written down once, and their writers (GeoParquet 1.1 with CRS and
bbox covering, a GeoPackage twin). Every file is written under a temporary name and renamed.

Layer schema (DESIGN.md contract; columns in this order, absent ones never renamed):

  iris          code_iris, nom_iris, typ_iris, then the parents below
  communes      code_commune, nom_commune, code_epci, nom_epci, code_departement, ...
  epci          code_epci, nom_epci, code_departement, nom_departement, code_region, nom_region
  departements  code_departement, nom_departement, code_region, nom_region
  regions       code_region, nom_region
  (epci and regions also carry territoire_complet, after n_iris: false when some of the unit's
  communes or départements are not in the inputs, NA when nothing lists them: stages/coverage.py)
  qpv           code_qpv, nom_qpv, codes_communes_qpv, then the parents of its main commune;
                liste_qpv, population_officielle, part_60_plus, part_60_plus_officielle,
                taux_pauvrete_officiel, taux_emploi_officiel (INSEE/ANCT figures beside ours),
                source_poids, part_poids_carreaux, n_iris_qpv, facteur_calibration
  then, for every layer:
    population, actifs_occupes            census counts (summed from IRIS above the IRIS)
    per indicator <id> of METHODS 1.1:
      ind_<id>    the value (share 0-1, euros for revenu_median)
      num_<id>, den_<id>  its numerator and denominator (additive indicators)
      seuil_<id>  the threshold of the unit's reference territory
      pts_<id>    its points (100 x coefficient)
    score_acces_interfaces, score_acces_information, score_competences_administratives,
    score_competences_numeriques, score_global_acces, score_global_competences, score_global
    [score_*_entier: d4g-2020 only, the floor the 2020 file publishes as "*"]
    classe_<axis> (1-5 over the units of the layer, by the scheme of --classes: quintiles for
      ifn-2020, the kit's equal widths for kit-2020 and d4g-2020; bounds in dictionary.json),
    n_indicateurs,
    fiabilite      how many of the unit's indicators in the score rest on a census count below
                   --min-denominator (200, INSEE's advice; stages/reliability.py)
    fiable_<id>    per census-based indicator: false when its denominator is below it
    methode, methode_classes,
    lissage        aucun, or bayes-empirique: ind_<id> of the census rates are then smoothed toward
                   the reference territory's rate (stages/smoothing.py); num/den stay the raw counts
    reference, code_reference, millesime_rp, geometry (MultiPolygon)

  ifn-2023 (a 2023-like reconstruction of the portal's index, METHODS 1.4) replaces everything
  from ind_<id> to code_reference with its own block, names stable for the map and users:
    val_<name>    the unit's rate, for <name> in non_couverture_thd, non_couverture_4g, 65_plus,
                  peu_diplomes, pauvrete (share 0-1)
    score_<name>  1-10, 10 = most at risk: the decile among the units (IRIS of split communes,
                  communes not split) at the IRIS layer, integers; above it, the population-weighted
                  mean of the units' scores
    num_<name>, den_<name>  for the census rates 65_plus and peu_diplomes: the counts of val_<name>
    score_total   mean of the scores present; classe_total (1-5, quintiles of the layer's units by
                  default: stages/classes.py), n_indicateurs (how many scores)
    fiabilite, fiable_65_plus, fiable_peu_diplomes   as above, on those two census rates
    then methode, methode_classes, millesime_rp, geometry
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from indicators.outputs.files import atomic_path
from indicators.outputs.styles import CLASS_ATTRIBUTE, DOT_LAYERS, add_gpkg_style, qml
from indicators.stages.geometry import from_wkb
from indicators.stages.levels import cog
from indicators.stages.deciles import SCORE_COLUMNS_2023, VALUE_COLUMNS_2023
from indicators.stages.methods import BY_ID, IDS, IFN_2023, SCORES, class_column
from indicators.stages.reliability import CENSUS_INDICATORS_2023, reliability_columns

KEYS = {
    "iris": ["code_iris", "nom_iris", "typ_iris", "code_commune", "nom_commune", "code_epci", "nom_epci",
             "code_departement", "nom_departement", "code_region", "nom_region"],
    "communes": ["code_commune", "nom_commune", "code_epci", "nom_epci", "code_departement",
                 "nom_departement", "code_region", "nom_region"],
    "epci": ["code_epci", "nom_epci", "code_departement", "nom_departement", "code_region", "nom_region"],
    "departements": ["code_departement", "nom_departement", "code_region", "nom_region"],
    "regions": ["code_region", "nom_region"],
    "qpv": ["code_qpv", "nom_qpv", "codes_communes_qpv", "code_commune", "nom_commune", "code_epci", "nom_epci",
            "code_departement", "nom_departement", "code_region", "nom_region"],
}
QPV_EXTRA = ["liste_qpv", "population_officielle", "part_60_plus", "part_60_plus_officielle",
             "taux_pauvrete_officiel", "taux_emploi_officiel", "source_poids", "part_poids_carreaux",
             "n_iris_qpv", "facteur_calibration"]
ADDITIVE = [i for i in IDS if BY_ID[i].numerator is not None]
PLATEFORMES = ["livreurs", "vtc", "livreurs_pour_mille", "vtc_pour_mille", "quotient_localisation_livreurs",
               "quotient_localisation_vtc", "date_sirene", "sirene_synthetique"]


def layer_columns(level: str, method: str) -> list[str]:
    cols = list(KEYS[level]) + ["population", "actifs_occupes"] + PLATEFORMES
    if level == "iris":
        cols += ["source_revenu", "part_population_qpv", "codes_qpv"]
    elif level == "qpv":
        cols += QPV_EXTRA
    else:
        cols.append("n_iris")
        if level in ("epci", "regions"):
            cols.append("territoire_complet")
    if method == IFN_2023:
        counts = [f"{part}_{name}" for name in CENSUS_INDICATORS_2023 for part in ("num", "den")]
        return (cols + VALUE_COLUMNS_2023 + counts + SCORE_COLUMNS_2023 + ["classe_total", "n_indicateurs",
                *reliability_columns(method), "methode", "methode_classes", "millesime_rp", "geometry"])
    for ind in IDS:
        cols.append(f"ind_{ind}")
        if ind in ADDITIVE:
            cols += [f"num_{ind}", f"den_{ind}"]
        cols += [f"seuil_{ind}", f"pts_{ind}"]
    cols += list(SCORES)
    if method == "d4g-2020":
        cols += [f"{s}_entier" for s in SCORES]
    cols += [class_column(s) for s in SCORES]
    cols += ["n_indicateurs", *reliability_columns()]
    cols += ["methode", "methode_classes", "lissage", "reference", "code_reference", "millesime_rp", "geometry"]
    return cols


def _names(kind: str) -> dict[str, str]:
    table = cog(kind)
    return dict(zip(table.iloc[:, 0], table["LIBELLE"]))


def build_layer(level: str, df: pd.DataFrame, method: str, reference: str, epsg: int,
                millesime_rp: int | None, sirene_synthetique: bool | None = None,
                classes: str | None = None, lissage: str = "aucun") -> gpd.GeoDataFrame:
    df = df.copy()
    df["methode_classes"] = classes
    df["lissage"] = lissage
    key = KEYS[level][0]
    if level != "iris":
        df[key] = df["code"]
    df["nom_departement"] = df["code_departement"].map(_names("departements"))
    df["nom_region"] = df["code_region"].map(_names("regions"))
    df["methode"] = method
    df["reference"] = reference
    df["millesime_rp"] = millesime_rp
    df["sirene_synthetique"] = sirene_synthetique if "livreurs" in df else None
    if method == IFN_2023:   # the counts of its census rates, under the rates' names
        for name, count in CENSUS_INDICATORS_2023.items():
            for part in ("num", "den"):
                df[f"{part}_{name}"] = df[f"{part}_{count}"] if f"{part}_{count}" in df else np.nan
    columns = layer_columns(level, method)
    for col in columns:
        if col not in df.columns and col != "geometry":
            df[col] = np.nan
    geometry = from_wkb(df["wkb"])
    gdf = gpd.GeoDataFrame(df[[c for c in columns if c != "geometry"]].reset_index(drop=True),
                           geometry=gpd.GeoSeries(geometry, crs=epsg).reset_index(drop=True), crs=epsg)
    for col in [c for c in columns if c.startswith(("code_", "nom_", "typ_", "codes_")) or c in
                ("methode", "methode_classes", "lissage", "reference", "source_revenu", "source_poids", "liste_qpv",
                 "date_sirene")]:
        gdf[col] = gdf[col].astype("string")
    for col in [c for c in columns if c.startswith("classe_")] + ["n_indicateurs", "n_iris", "n_iris_qpv", "millesime_rp",
                                                                 "livreurs", "vtc", "fiabilite"]:
        if col in gdf:
            gdf[col] = gdf[col].astype("Int64")
    if method == IFN_2023 and level == "iris":   # the units' own scores are deciles: integers
        for col in SCORE_COLUMNS_2023[:-1]:
            gdf[col] = gdf[col].astype("Int64")
    for col in [c for c in columns if c.startswith("fiable_") or c == "territoire_complet"]:
        gdf[col] = gdf[col].astype("boolean")
    return gdf.sort_values(key).reset_index(drop=True)


# For cloud use (a reader fetching byte ranges over HTTP): the GeoParquet rows are in the Hilbert
# order of their bbox centres, in row groups holding about ROW_GROUP_GEOMETRY_BYTES of geometry, so
# that the `bbox` covering column's statistics of each row group describe a compact patch of ground
# and a bounding-box query (DuckDB on bbox.xmin..., GDAL >= 3.9) skips the groups outside it. The
# GeoPackage twins keep the code order (GeoPackage has its own R-tree).
HILBERT_ORDER = 16                      # a 65 536 x 65 536 grid over the layer's extent
# Half a MB: the national benchmark's IRIS (49 000, 120 vertices each) in 180 row groups of 270;
# a département's box then reads 5.0 % of them on average (6.6 % with 1 MB row groups, 90 of them).
ROW_GROUP_GEOMETRY_BYTES = 1 << 19
MIN_ROW_GROUP_ROWS = 256


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int = HILBERT_ORDER) -> np.ndarray:
    """Position of each integer cell (x, y) in [0, 2^order) along the Hilbert curve."""
    n = 1 << order
    x, y = x.astype(np.int64), y.astype(np.int64)
    d = np.zeros(len(x), dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx, ry = (x & s) > 0, (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = rx & ~ry                     # rotate the quadrant, as the curve does
        x, y = np.where(flip, n - 1 - x, x), np.where(flip, n - 1 - y, y)
        x, y = np.where(~ry, y, x), np.where(~ry, x, y)
        s >>= 1
    return d


def spatial_order(geoms: np.ndarray) -> np.ndarray:
    """Row order along the Hilbert curve of the bbox centres (ties and missing geometries last,
    in their current order): deterministic, so the same layer gives the same bytes."""
    bounds = shapely.bounds(geoms)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    known = ~np.isnan(cx)
    key = np.full(len(geoms), np.iinfo(np.int64).max)
    if known.any():
        lo = np.array([cx[known].min(), cy[known].min()])
        span = max(float(cx[known].max() - lo[0]), float(cy[known].max() - lo[1]), 1e-12)
        cells = (1 << HILBERT_ORDER) - 1
        gx = np.floor((cx[known] - lo[0]) / span * cells)
        gy = np.floor((cy[known] - lo[1]) / span * cells)
        key[known] = hilbert_index(gx, gy)
    return np.lexsort((np.arange(len(geoms)), key))


def row_group_rows(geoms: np.ndarray) -> int:
    """Rows per row group: about ROW_GROUP_GEOMETRY_BYTES of WKB each (16 bytes a vertex)."""
    per_row = 16 * max(float(np.mean(shapely.get_num_coordinates(geoms))), 1.0) if len(geoms) else 1.0
    return max(MIN_ROW_GROUP_ROWS, int(ROW_GROUP_GEOMETRY_BYTES / per_row))


# The geometry in zstd (WKB shrinks by two fifths), every other column in snappy: 180 small row
# groups of a hundred columns are 19 000 column chunks, and zstd's cost per chunk nearly doubled
# the writing of the national IRIS layer (1.15 s against 0.67 s) for 2 % of its bytes. Both codecs
# are read by every Parquet reader (DuckDB, GDAL's Arrow driver, pyarrow, Polars).
GEOMETRY_CODEC, ATTRIBUTE_CODEC = "zstd", "snappy"
COVERING_COLUMNS = [f"bbox.{side}" for side in ("xmin", "ymin", "xmax", "ymax")]


def column_codecs(gdf: gpd.GeoDataFrame) -> dict[str, str]:
    """The codec of each Parquet column of the layer (pyarrow leaves unnamed ones uncompressed)."""
    geometry = gdf.geometry.name
    return {str(col): GEOMETRY_CODEC if col == geometry else ATTRIBUTE_CODEC for col in [*gdf.columns, *COVERING_COLUMNS]}


def dictionary_columns(gdf: gpd.GeoDataFrame) -> list[str]:
    """The columns worth dictionary-encoding: the text ones (codes, names, methods; a few values
    repeated). Scores, rates and counts are nearly all distinct: the writer tried a dictionary on
    each and fell back page by page, which cost the national IRIS layer 0.75 s against 0.61 s and
    2.2 MB more (measured on the benchmark's layer)."""
    return [str(col) for col in gdf.columns
            if col != gdf.geometry.name and (pd.api.types.is_string_dtype(gdf[col]) or gdf[col].dtype == object)]


def write_geoparquet(gdf: gpd.GeoDataFrame, target: Path) -> None:
    geoms = gdf.geometry.to_numpy()
    ordered = gdf.iloc[spatial_order(geoms)].reset_index(drop=True)
    with atomic_path(target) as tmp:
        ordered.to_parquet(tmp, index=False, schema_version="1.1.0", write_covering_bbox=True,
                           compression=column_codecs(ordered), use_dictionary=dictionary_columns(ordered),
                           row_group_size=row_group_rows(geoms))


# GeoPackage stores the time it was written; fixed, so that the same inputs give the same bytes
GPKG_DATE = "2000-01-01T00:00:00Z"


def write_gpkg(gdf: gpd.GeoDataFrame, target: Path, layer: str, bounds: list[float] | None = None,
               classes: str = "", styled: bool = True, attribute: str = CLASS_ATTRIBUTE) -> None:
    """The GeoPackage twin, version 1.2 (QGIS 3.22's GDAL warns on the 1.4 GDAL writes by
    default), with its default QGIS style in layer_styles (outputs/styles.py) when `styled`."""
    os.environ["OGR_CURRENT_DATE"] = GPKG_DATE
    # SQLite's fsync at every commit made this 5 to 10 times slower; the file is written under a
    # temporary name and renamed when whole (atomic_path), so a crash loses a temporary file only.
    # The bytes are the same.
    os.environ["OGR_SQLITE_SYNCHRONOUS"] = "OFF"
    with atomic_path(target) as tmp:
        out = gdf.copy()
        for col in out.columns:  # GeoPackage has no nullable integer: write them as real numbers
            if str(out[col].dtype) == "Int64":
                out[col] = out[col].astype("float64")
        # through Arrow: the same bytes as row by row, a third faster
        out.to_file(tmp, driver="GPKG", layer=layer, engine="pyogrio", use_arrow=True,
                    dataset_options={"VERSION": "1.2"})
        if styled:
            add_gpkg_style(tmp, layer, bounds, classes, attribute=attribute)


def write_qml(target: Path, layer: str, bounds: list[float] | None, attribute: str = CLASS_ATTRIBUTE) -> None:
    """The QGIS style beside a GeoParquet layer (iris.parquet -> iris.qml), read by QGIS on opening."""
    with atomic_path(target) as tmp:
        tmp.write_text(qml(bounds, title=layer, attribute=attribute, dots=layer in DOT_LAYERS), encoding="utf-8")
