"""A SYNTHETIC national dataset, in the published layouts, for the France-scale benchmark.

EVERYTHING IT WRITES IS SYNTHETIC (seeded): invented IRIS, communes, populations, QPVs and SIRENE
establishments, with realistic sizes and shapes. Scale 1.0 is about France: 49 000 IRIS,
35 000 communes, 1 600 QPVs, 40 million SIRENE establishments.

Shapes: IRIS are Voronoi cells of points clustered around cities (dense, small) and spread over
the countryside (one IRIS per commune), in Lambert-93, their edges densified to realistic vertex
counts; QPVs are small estates inside dense city IRIS; SIRENE points cluster where people live.
Layouts: those the readers of `indicators/readers/` read (RP IRIS zips, Filosofi, CONTOURS-IRIS
7z, EPCI composition, QPV shapefile zip and DEMO file, Filosofi 200 m cells around the QPVs with
their emprise, SIRENE stock and geolocation files as zip of CSV and as parquet).

Run: python benchmarks/generate_national.py --scale 0.1 --out benchmarks/data/0.1
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import json
import shutil
import zipfile
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import py7zr
import shapely

from dataset import DATASET_VERSION, SIRENE_EDITIONS, inputs  # noqa: E402,F401  (light: run.py's children)

XMIN, XMAX, YMIN, YMAX = 150_000, 1_150_000, 6_150_000, 7_050_000
DEPS = [f"{i:02d}" for i in range(1, 96) if i != 20]      # 94 metropolitan codes, Corsica left out
REAL = Path(os.environ.get("FRAGILITE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "real"
BASE_DATE, NEXT_DATE = "2023-12-20T03:14:07.000", "2024-01-20T03:14:07.000"


def _zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def _zip_file(target: Path, member: Path, level: int = 6) -> None:
    """Zip one (large) file, streamed, with a fixed date: same content, same bytes."""
    info = zipfile.ZipInfo(member.name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf, \
            open(member, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)


def _csv(df: pd.DataFrame, sep: str = ";") -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, sep=sep, index=False, lineterminator="\n")
    return buf.getvalue().encode()


def _coverage(xy: np.ndarray) -> np.ndarray:
    """Voronoi cells of the seeds, in seed order, as IGN delivers IRIS: a coverage whose
    neighbours share every vertex of their common edge. Each edge is densified once (real IRIS
    contours have a hundred vertices and more) and the faces are rebuilt from the edges."""
    frame = shapely.box(XMIN, YMIN, XMAX, YMAX)
    edges = shapely.voronoi_polygons(shapely.multipoints(shapely.points(xy)), extend_to=frame, only_edges=True)
    lines = shapely.intersection(np.asarray(shapely.get_parts(edges)), frame)
    lines = lines[~shapely.is_empty(lines)]
    network = shapely.get_parts(shapely.line_merge(shapely.union_all(np.r_[lines, [frame.boundary]])))
    network = shapely.segmentize(network, np.maximum(shapely.length(network) / 20, 5.0))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(network)))
    seed, face = shapely.STRtree(faces).query(shapely.points(xy), predicate="within")
    if len(seed) != len(xy) or len(set(face)) != len(xy):
        raise RuntimeError("Voronoi faces and seeds do not match one to one")
    polys = np.empty(len(xy), dtype=object)
    polys[seed] = faces[face]
    return polys


XMIN_YMIN = np.array([XMIN, YMIN])


def _department(xy: np.ndarray) -> np.ndarray:
    """Index in DEPS of the département of each point: a grid of 10 x 10 cells over France, where
    the last column's top six cells join their western neighbour (100 cells for 94 départements),
    so that every département is one compact block, as real ones are."""
    idx = (np.floor((xy[:, 0] - XMIN) / (XMAX - XMIN) * 10).clip(0, 9) * 10
           + np.floor((xy[:, 1] - YMIN) / (YMAX - YMIN) * 10).clip(0, 9)).astype(int)
    return np.where(idx >= len(DEPS), idx - 10, idx)


def geography(rng: np.random.Generator, scale: float) -> gpd.GeoDataFrame:
    n_iris = max(200, int(49_000 * scale))
    n_communes = max(150, int(35_000 * scale))
    n_cities = max(5, int(300 * scale))
    city_iris = n_iris - (n_communes - n_cities)          # IRIS of the split communes
    # city sizes: a few large cities, many small ones
    sizes = rng.pareto(1.2, n_cities) + 1
    sizes = np.maximum(2, np.round(sizes / sizes.sum() * city_iris)).astype(int)
    sizes[0] += city_iris - sizes.sum()
    centres = np.column_stack([rng.uniform(XMIN + 50_000, XMAX - 50_000, n_cities),
                               rng.uniform(YMIN + 50_000, YMAX - 50_000, n_cities)])
    # a city's IRIS about a square kilometre each (real cities: 0.2 km2 in the centres, a few km2 at
    # the edges), so 95 % of a city of n IRIS lie within 2 x 300 x sqrt(n) m of its centre; version 2
    # spread them over 1 500 x sqrt(n) m (47 km for the largest), across neighbouring départements
    spreads = 300 * np.sqrt(sizes)
    # a city lies in its centre's département: the centre is moved inside the département's cell
    # far enough from its edges for the city to fit (as a real commune lies inside its département)
    cell = np.array([(XMAX - XMIN) / 10, (YMAX - YMIN) / 10])
    margin = np.minimum(2 * spreads[:, None], cell / 2 - 5_000)
    low = XMIN_YMIN + np.floor((centres - XMIN_YMIN) / cell) * cell
    centres = np.clip(centres, low + margin, low + cell - margin)
    pts, commune_of, kind = [], [], []
    for c, (size, centre, spread) in enumerate(zip(sizes, centres, spreads)):
        pts.append(centre + rng.normal(0, spread, (size, 2)))
        commune_of += [c] * size
        kind += ["H"] * size
    rural = n_communes - n_cities
    pts.append(np.column_stack([rng.uniform(XMIN, XMAX, rural), rng.uniform(YMIN, YMAX, rural)]))
    commune_of += list(range(n_cities, n_cities + rural))
    kind += ["Z"] * rural
    xy = np.clip(np.vstack(pts), [XMIN + 1, YMIN + 1], [XMAX - 1, YMAX - 1])
    xy += rng.uniform(-0.5, 0.5, xy.shape)                 # no two seeds at the same place
    polys = _coverage(xy)
    commune_of = np.array(commune_of)
    # départements: a grid of 94 bands over France; régions: groups of about 7 départements
    where = np.vstack([centres, xy[len(commune_of) - rural:]])   # a city by its centre, a village by its seed
    dep_of = _department(where)
    dep_idx = dep_of[commune_of]
    deps = np.array(DEPS)[dep_idx]
    communes = np.array([f"{d}{(c % 900) + 1:03d}" for d, c in zip(deps, commune_of)])
    # make commune codes unique per commune
    codes = pd.Series(communes).groupby(commune_of).first()
    uniq = {}
    for c, code in codes.items():
        base, n = code, 0
        while code in uniq.values():
            n += 1
            code = f"{base[:2]}{(int(base[2:]) + n) % 1000:03d}"
        uniq[c] = code
    communes = np.array([uniq[c] for c in commune_of])
    order = pd.Series(range(len(commune_of))).groupby(commune_of).cumcount().to_numpy()
    code_iris = np.where(np.array(kind) == "Z", [c + "0000" for c in communes],
                         [f"{c}{i + 101:04d}" for c, i in zip(communes, order)])
    pop = np.where(np.array(kind) == "H", rng.normal(2200, 500, len(kind)).clip(300),
                   rng.lognormal(np.log(450), 0.9, len(kind)).clip(20))
    return gpd.GeoDataFrame({
        "code_iris": code_iris, "code_commune": communes, "dep": deps,
        "reg": np.array([f"{11 + (DEPS.index(d) // 7) * 3:02d}" for d in deps]),
        "typ_iris": kind, "pop": pop.round(3), "x": xy[:, 0], "y": xy[:, 1],
        "city": commune_of < n_cities,
    }, geometry=polys, crs=2154)


def write_rp(g: gpd.GeoDataFrame, rng: np.random.Generator, out: Path) -> None:
    n, pop = len(g), g["pop"].to_numpy()
    share = lambda lo, hi: rng.uniform(lo, hi, n)
    base = pd.DataFrame({"IRIS": g["code_iris"], "REG": g["reg"], "DEP": g["dep"], "COM": g["code_commune"],
                         "LIBCOM": "Commune " + g["code_commune"], "LIBIRIS": "Iris " + g["code_iris"],
                         "TYP_IRIS": g["typ_iris"]})
    men = pop / share(2.0, 2.5)
    tables = {
        "rp_population/2016/base-ic-evol-struct-pop-2016": {
            "P16_POP": pop, "P16_POP1529": pop * share(0.12, 0.25), "P16_POP65P": pop * share(0.12, 0.30),
            "P16_POP6074": pop * share(0.10, 0.18), "P16_POP75P": pop * share(0.05, 0.12)},
        "rp_familles/2016/base-ic-couples-familles-menages-2016": {
            "C16_MEN": men, "C16_MENPSEUL": men * share(0.25, 0.50), "C16_FAM": men * share(0.5, 0.7),
            "C16_FAMMONO": men * share(0.5, 0.7) * share(0.08, 0.3)},
        "rp_diplomes/2016/base-ic-diplomes-formation-2016": {
            "P16_NSCOL15P": pop * 0.75, "P16_NSCOL15P_DIPLMIN": pop * 0.75 * share(0.15, 0.45)},
        "rp_activite/2016/base-ic-activite-residents-2016": {
            "P16_ACT1564": pop * 0.47, "P16_CHOM1564": pop * 0.47 * share(0.05, 0.25),
            "P16_ACTOCC15P": pop * 0.42, "P16_ACTOCC1564": pop * 0.41},
    }
    for stem, cols in tables.items():
        df = base.copy()
        for k, v in cols.items():
            df[k] = np.round(v, 6)
        name = Path(stem).name
        _zip(out / f"{stem}.zip", {f"{name}.CSV": _csv(df)})


def write_filosofi(g: gpd.GeoDataFrame, rng: np.random.Generator, out: Path) -> None:
    city = g[g["city"]]
    iris = pd.DataFrame({"IRIS": city["code_iris"], "DISP_MED15": rng.normal(19_500, 3_500, len(city)).round(),
                         "DISP_TP6015": rng.uniform(5, 45, len(city)).round(1).astype(str)})
    iris.loc[iris.sample(frac=0.03, random_state=1).index, "DISP_TP6015"] = ""   # secret
    target = out / "filosofi_iris/2015/BASE_TD_FILO_DISP_IRIS_2015.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_csv(iris))
    com = g.groupby("code_commune").size().index
    c = pd.DataFrame({"CODGEO": com, "MED16": rng.normal(20_500, 3_000, len(com)).round(),
                      "TP6016": rng.uniform(5, 30, len(com)).round(1)})
    _zip(out / "filosofi_communes/2016/base-cc-filosofi-2016.zip", {"cc_filosofi_2016_COM.CSV": _csv(c)})


def write_contours(g: gpd.GeoDataFrame, out: Path) -> None:
    work = out / ".work-contours"
    shutil.rmtree(work, ignore_errors=True)
    folder = work / "CONTOURS-IRIS" / "1_DONNEES_LIVRAISON" / "CONTOURS-IRIS_2-1_SHP_LAMB93_FXX-2016"
    folder.mkdir(parents=True)
    gpd.GeoDataFrame({"INSEE_COM": g["code_commune"], "NOM_COM": "Commune " + g["code_commune"],
                      "IRIS": g["code_iris"].str[5:], "CODE_IRIS": g["code_iris"], "NOM_IRIS": "Iris " + g["code_iris"],
                      "TYP_IRIS": g["typ_iris"]}, geometry=g.geometry, crs=2154).to_file(folder / "CONTOURS-IRIS.shp")
    target = out / "contours_iris/2016/CONTOURS-IRIS.7z"
    target.parent.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(target, "w") as a:
        a.writeall(work / "CONTOURS-IRIS", "CONTOURS-IRIS")
    shutil.rmtree(work)


def write_epci(g: gpd.GeoDataFrame, rng: np.random.Generator, out: Path) -> None:
    com = g.groupby("code_commune").agg(dep=("dep", "first"), reg=("reg", "first"), x=("x", "mean")).reset_index()
    # about 36 communes per EPCI, within a département
    com["epci"] = [f"2{int(d):02d}{int(x // 40_000):03d}00" for d, x in zip(com["dep"], com["x"])]
    df = pd.DataFrame({"CODGEO": com["code_commune"], "LIBGEO": "Commune " + com["code_commune"],
                       "EPCI": com["epci"], "LIBEPCI": "CC " + com["epci"], "DEP": com["dep"], "REG": com["reg"]})
    target = out / "epci_composition/2020/composition_communale.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_csv(df))


def write_qpv(g: gpd.GeoDataFrame, rng: np.random.Generator, scale: float, out: Path) -> gpd.GeoDataFrame:
    n = max(3, int(1_600 * scale))
    dense = g[g["city"]].sample(n=n, random_state=int(rng.integers(1 << 30)), replace=len(g[g["city"]]) < n)
    centres = shapely.points(dense["x"].to_numpy(), dense["y"].to_numpy())
    radius = rng.uniform(150, 450, n)
    polys = shapely.buffer(centres, radius, quad_segs=8)
    dep3 = dense["dep"].str.zfill(3).to_numpy()
    rank = pd.Series(dep3).groupby(dep3).cumcount().to_numpy()     # numbered within the département
    codes = [f"QP{d}{(i % 999) + 1:03d}" for i, d in zip(rank, dep3)]
    qpv = gpd.GeoDataFrame({"CODE_QP": codes, "NOM_QP": [f"Quartier {c}" for c in codes],
                            "COMMUNE_QP": dense["code_commune"].to_numpy()}, geometry=polys, crs=2154)
    qpv = qpv.drop_duplicates("CODE_QP")
    work = out / ".work-qpv"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    qpv.to_file(work / "QP_METROPOLE_LB93.shp")
    _zip(out / "qpv_contours_2015/2015/qp-politiquedelaville-shp.zip", {f.name: f.read_bytes() for f in work.iterdir()})
    shutil.rmtree(work)
    demo = pd.DataFrame({"CODGEO": qpv["CODE_QP"], "POP_MUN": (qpv.area * 0.012).round().astype(int),
                         "TX_TOT_60ETPLUS": [f"{v:.1f}".replace(".", ",") for v in rng.uniform(10, 30, len(qpv))]})
    target = out / "insee_qpv_demo/2020/data_DEMO_2020_V1_QP.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_csv(demo))
    return qpv


# Columns of INSEE's Filosofi 2019 200 m file (carreaux_200m_met.csv); the pipeline reads two of
# them, the others are there so that reading the file costs what reading the real one costs.
GRID_COLUMNS = ["Idcar_200m", "I_est_200", "Idcar_1km", "I_est_1km", "Idcar_nat", "Groupe", "Ind", "Men",
                "Men_pauv", "Men_1ind", "Men_5ind", "Men_prop", "Men_fmp", "Ind_snv", "Men_surf", "Men_coll",
                "Men_mais", "Log_av45", "Log_45_70", "Log_70_90", "Log_ap90", "Log_inc", "Log_soc", "Ind_0_3",
                "Ind_4_5", "Ind_6_10", "Ind_11_17", "Ind_18_24", "Ind_25_39", "Ind_40_54", "Ind_55_64",
                "Ind_65_79", "Ind_80p", "Ind_inc", "lcog_geo"]
GRID_CELLS = 2_300_000          # populated 200 m cells of metropolitan France in Filosofi 2019
FISCAL_SHARE = 0.97             # people in fiscal households / census population (Filosofi's Ind)


def _grid_candidates(g: gpd.GeoDataFrame, rng: np.random.Generator, n: int) -> np.ndarray:
    """n points (Lambert-93) where people live: around each IRIS's seed (the village, the city
    centre) and scattered over its ground (hamlets), more for more populated IRIS."""
    pop = g["pop"].to_numpy()
    which = rng.choice(len(g), size=n, p=pop ** 0.75 / (pop ** 0.75).sum())
    bounds = shapely.bounds(g.geometry.to_numpy())[which]
    size = np.sqrt(shapely.area(g.geometry.to_numpy()))[which]
    near = rng.random(n) < 0.6
    xy = np.where(near[:, None],
                  np.column_stack([g["x"].to_numpy()[which], g["y"].to_numpy()[which]])
                  + rng.normal(0, 1, (n, 2)) * (0.12 * size)[:, None],
                  rng.uniform(bounds[:, :2], bounds[:, 2:]))
    return xy


def write_cells(g: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame, rng: np.random.Generator, scale: float,
                out: Path) -> None:
    """The national 200 m grid (EPSG:3035): about 2.3 million populated cells x scale over the
    whole territory, as INSEE's file, with every cell around a QPV (denser inside it, as an estate
    is). Each cell's people are its IRIS's census population x FISCAL_SHARE, shared between the
    cells whose centre lies in that IRIS: the grid and the census agree, IRIS by IRIS."""
    from pyproj import Transformer

    to3035 = Transformer.from_crs(2154, 3035, always_xy=True)
    to2154 = Transformer.from_crs(3035, 2154, always_xy=True)
    target = max(2_000, int(GRID_CELLS * scale))
    corners = np.empty((0, 2), dtype=np.int64)
    while len(corners) < target:             # draw until enough distinct cells (clusters repeat cells)
        e, n = to3035.transform(*_grid_candidates(g, rng, target).T)
        corners = np.unique(np.vstack([corners, np.column_stack([e // 200 * 200, n // 200 * 200]).astype(np.int64)]), axis=0)
    corners = corners[np.sort(rng.choice(len(corners), target, replace=False))]
    # every cell touching a QPV's surroundings, the estate itself dense
    qb = qpv.to_crs(3035)
    boxes = qb.buffer(800).bounds
    near = [np.column_stack([xs.ravel(), ys.ravel()]) for b in boxes.itertuples()
            for xs, ys in [np.meshgrid(np.arange(int(b.minx // 200 * 200), int(b.maxx // 200 * 200) + 200, 200),
                                       np.arange(int(b.miny // 200 * 200), int(b.maxy // 200 * 200) + 200, 200))]]
    corners = np.unique(np.vstack([corners, *near]), axis=0)
    cx, cy = to2154.transform(corners[:, 0] + 100.0, corners[:, 1] + 100.0)
    centres = shapely.points(cx, cy)
    cell_i, iris_i = shapely.STRtree(g.geometry.to_numpy()).query(centres, predicate="within")
    home = np.full(len(corners), -1)
    home[cell_i] = iris_i
    keep = home >= 0
    corners, home, centres = corners[keep], home[keep], centres[keep]
    in_qpv = np.zeros(len(corners), dtype=bool)
    cell_q, _ = shapely.STRtree(qpv.geometry.to_numpy()).query(centres, predicate="within")
    in_qpv[cell_q] = True
    w = np.where(in_qpv, rng.uniform(80, 300, len(corners)), rng.lognormal(np.log(15), 1.0, len(corners)))
    pop = g["pop"].to_numpy() * FISCAL_SHARE
    total = np.bincount(home, weights=w, minlength=len(g))
    ind = (pop[home] * w / total[home]).round(1)
    _write_grid(corners, ind, g["code_commune"].to_numpy()[home], rng, out)
    # a national file covers the whole territory: one rectangle, so that every IRIS is "covered"
    # (a square without a row has nobody), none falls back to area weights
    e0, n0 = corners.min(axis=0) - 10_000
    e1, n1 = corners.max(axis=0) + 10_000
    pd.DataFrame([("EPSG:3035", e0, n0, e1, n1, "carreaux_200m_met.csv (national)")],
                 columns=["crs", "xmin", "ymin", "xmax", "ymax", "fichier"]).to_csv(
        out / "filosofi_200m/2019/emprise.csv", sep=";", index=False)


def _write_grid(corners: np.ndarray, ind: np.ndarray, commune: np.ndarray, rng: np.random.Generator,
                out: Path) -> None:
    n = len(ind)
    e, nn = corners[:, 0], corners[:, 1]
    men = (ind / rng.uniform(1.9, 2.6, n)).round(1)
    share = lambda lo, hi: rng.uniform(lo, hi, n)
    cols = {
        "Idcar_200m": np.char.add(np.char.add(np.char.add("CRS3035RES200mN", nn.astype(str)), "E"), e.astype(str)),
        "I_est_200": (men < 11).astype(int),
        "Idcar_1km": np.char.add(np.char.add(np.char.add("CRS3035RES1000mN", (nn // 1000 * 1000).astype(str)), "E"),
                                 (e // 1000 * 1000).astype(str)),
        "I_est_1km": (men < 11).astype(int),
        "Idcar_nat": np.char.add(np.char.add(np.char.add("CRS3035RES200mN", nn.astype(str)), "E"), e.astype(str)),
        "Groupe": np.arange(n) % 50_000,
        "Ind": ind, "Men": men,
    }
    for c in GRID_COLUMNS[8:23]:
        cols[c] = (men * share(0.0, 0.6)).round(1)
    for c in GRID_COLUMNS[23:34]:
        cols[c] = (ind * share(0.0, 0.2)).round(1)
    cols["lcog_geo"] = commune
    df = pd.DataFrame(cols)
    con = duckdb.connect()
    con.register("grid_df", df)
    folder = out / "filosofi_200m/2019"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "carreaux_200m_met.csv"
    con.execute(f"COPY (SELECT * FROM grid_df ORDER BY Idcar_200m) TO '{tmp}' (HEADER, DELIMITER ';')")
    con.close()
    _zip_file(folder / "Filosofi2019_carreaux_200m_csv.zip", tmp)
    tmp.unlink()


def _by_rank(real_size: pd.Series, syn_size: pd.Series, scale: float, injective: bool) -> pd.Series:
    """Real unit code -> synthetic unit code, the k-th largest to the k-th largest: about
    scale x the real units are kept, evenly spread over the ranks (so the size distribution is the
    real one); `injective`: never two real units on one synthetic unit."""
    real = real_size.sort_index().sort_values(ascending=False, kind="stable").index.to_numpy()
    syn = syn_size.sort_index().sort_values(ascending=False, kind="stable").index.to_numpy()
    n_keep = max(1, round(len(real) * min(scale, 1.0)))
    if injective:
        n_keep = min(n_keep, len(syn))
    k = np.arange(n_keep)
    return pd.Series(syn[k * len(syn) // n_keep], index=real[((k + 0.5) * len(real) / n_keep).astype(int)])


def write_bpe(g: gpd.GeoDataFrame, scale: float, out: Path) -> bool:
    """INSEE's real BPE 2019 (every equipment of France, by IRIS or commune and type), its places
    moved onto the synthetic geography: each real unit (an IRIS of a split commune, or a commune
    not split) to a synthetic one of the same kind and the same rank by size (equipments, people),
    its rows kept as published (TYPEQU, NB_EQUIP); rows meeting on one unit are summed. The types
    and counts are real; where they are is not."""
    src = REAL / "insee_bpe_2019" / "DERIVED_bpe19_ensemble.csv.gz"
    if not src.exists():
        print(f"no {src}: no BPE in the dataset")
        return False
    bpe = pd.read_csv(src, sep=";", dtype=str, keep_default_na=False)
    bpe["NB_EQUIP"] = bpe["NB_EQUIP"].astype(int)
    size = bpe.groupby("DCIRIS")["NB_EQUIP"].sum()
    syn = g.set_index("code_iris")
    split = syn["typ_iris"] == "H"
    dciris = np.where(split, syn["code_commune"] + "_" + syn.index.str[5:], syn["code_commune"])
    syn_code = pd.Series(dciris, index=syn.index)
    moved = pd.concat([
        _by_rank(size[size.index.str.contains("_")], syn.loc[split, "pop"], scale, injective=False),
        _by_rank(size[~size.index.str.contains("_")], syn.loc[~split, "pop"], scale, injective=False)])
    bpe = bpe[bpe["DCIRIS"].isin(moved.index)]
    iris = moved.reindex(bpe["DCIRIS"]).to_numpy()
    rows = pd.DataFrame({"REG": syn.loc[iris, "reg"].to_numpy(), "DEP": syn.loc[iris, "dep"].to_numpy(),
                         "DEPCOM": syn.loc[iris, "code_commune"].to_numpy(), "DCIRIS": syn_code[iris].to_numpy(),
                         "AN": bpe["AN"].to_numpy(), "TYPEQU": bpe["TYPEQU"].to_numpy(),
                         "NB_EQUIP": bpe["NB_EQUIP"].to_numpy()})
    rows = rows.groupby(["REG", "DEP", "DEPCOM", "DCIRIS", "AN", "TYPEQU"], as_index=False)["NB_EQUIP"].sum()
    rows = rows.sort_values(["DEP", "DEPCOM", "DCIRIS", "TYPEQU"])[["REG", "DEP", "DEPCOM", "DCIRIS", "AN", "TYPEQU", "NB_EQUIP"]]
    _zip(out / "insee_bpe/2019/bpe19_ensemble_csv.zip", {"bpe19_ensemble.csv": _csv(rows)})
    return True


def write_arcep(g: gpd.GeoDataFrame, scale: float, out: Path) -> bool:
    """ARCEP's real "Ma connexion internet" commune file (2019-09-30, every commune), each real
    commune moved onto one synthetic commune of the same rank by size (premises, people): the
    counts by speed class are real, the places are not. Line 1 stays the beta disclaimer."""
    src = REAL / "arcep_mednum_batch8_commune" / "commune-debit-beta.csv.gz"
    if not src.exists():
        print(f"no {src}: no ARCEP in the dataset")
        return False
    raw = pd.read_csv(src, sep=";", dtype=str, keep_default_na=False, skiprows=1)
    disclaimer = gzip.open(src, "rt", encoding="utf-8").readline()
    raw = raw.drop_duplicates("code_insee")
    com = g.groupby("code_commune").agg(pop=("pop", "sum"), dep=("dep", "first"), reg=("reg", "first"))
    moved = _by_rank(raw.set_index("code_insee")["nbr"].astype(float), com["pop"], scale, injective=True)
    rows = raw[raw["code_insee"].isin(moved.index)].copy()
    code = moved.reindex(rows["code_insee"]).to_numpy()
    rows["code_insee"], rows["nom_com"] = code, "Commune " + code
    rows["code_dep"], rows["code_reg"] = com.loc[code, "dep"].to_numpy(), com.loc[code, "reg"].to_numpy()
    target = out / "arcep_fixe/2019/commune-debit-beta.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(disclaimer.encode() + _csv(rows))
    return True


def write_sirene(g: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame, scale: float, seed: int, out: Path,
                 csv: bool = True) -> None:
    """SIRENE with DuckDB: 40 M x scale establishments, 0.6 % of them riders or VTC drivers, in two
    monthly editions (SIRENE_EDITIONS): the refresh after only SIRENE changed is measured on them."""
    n = max(10_000, int(40_000_000 * scale))
    con = duckdb.connect()
    # a machine shared with other work: spill to disk rather than take half its memory
    con.execute(f"SET memory_limit = '4GB'; SET temp_directory = '{out / '.duckdb-tmp'}'")
    iris = pd.DataFrame({"code_iris": g["code_iris"], "code_commune": g["code_commune"], "x": g["x"], "y": g["y"],
                         "w": g["pop"] / g["pop"].sum()})
    iris["cum"] = iris["w"].cumsum()
    con.register("iris_df", iris)
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute(f"""
        CREATE TABLE e AS
        WITH r AS (SELECT i, random() AS u, random() AS a, random() AS k, random() AS j1, random() AS j2
                   FROM range({n}) t(i))
        SELECT r.*, s.code_iris, s.code_commune, s.x + (j1 - 0.5) * 40 AS px, s.y + (j2 - 0.5) * 40 AS py
        FROM r ASOF JOIN (SELECT * FROM iris_df ORDER BY cum) s ON r.u <= s.cum
    """)
    # the next month's stock: 1 % of the establishments changed (closed, category...), 0.5 % new
    # ones (copies under new sirens), their last-processing date a month later
    con.execute(f"""
        CREATE VIEW e_next AS
        SELECT * REPLACE (CASE WHEN (i * 2654435761) % 100 = 0 THEN 0.1 ELSE k END AS k),
               CASE WHEN (i * 2654435761) % 100 = 0 THEN '{NEXT_DATE}' ELSE '{BASE_DATE}' END AS d
        FROM e
        UNION ALL
        SELECT * REPLACE (i + {n} AS i), '{NEXT_DATE}' AS d FROM e WHERE i % 200 = 7
    """)
    con.execute(f"CREATE VIEW e_base AS SELECT *, '{BASE_DATE}' AS d FROM e")
    for table, edition in (("e_base", SIRENE_EDITIONS[0]), ("e_next", SIRENE_EDITIONS[1])):
        _write_sirene_edition(con, table, out / "sirene" / edition, csv)
    con.close()
    shutil.rmtree(out / ".duckdb-tmp", ignore_errors=True)


def _write_sirene_edition(con, table: str, folder: Path, csv: bool) -> None:
    """The three SIRENE files of one edition, from an establishments table (DuckDB)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from generate_sirene import ETAB_COLUMNS, GEO_COLUMNS, PARQUET_FLOATS, UL_COLUMNS

    sub = {c: "''" for c in ETAB_COLUMNS}
    sub.update({
        "siren": "CAST(300000000 + i AS VARCHAR)", "nic": "'00011'", "siret": "CAST(300000000 + i AS VARCHAR) || '00011'",
        "statutDiffusionEtablissement": "'O'", "dateCreationEtablissement": "'2019-06-01'",
        "dateDernierTraitementEtablissement": "d", "etablissementSiege": "'true'",
        "numeroVoieEtablissement": "CAST(1 + i % 150 AS VARCHAR)", "typeVoieEtablissement": "'RUE'",
        # distinct addresses: a shared one would (rightly) look like a domiciliation
        "libelleVoieEtablissement": "'DES ' || CAST(i // 150 AS VARCHAR)", "codeCommuneEtablissement": "code_commune",
        "coordonneeLambertAbscisseEtablissement": "CAST(round(px, 1) AS VARCHAR)",
        "coordonneeLambertOrdonneeEtablissement": "CAST(round(py, 1) AS VARCHAR)",
        "etatAdministratifEtablissement": "CASE WHEN k < 0.3 THEN 'F' ELSE 'A' END",
        "activitePrincipaleEtablissement": "CASE WHEN a < 0.0045 THEN '53.20Z' WHEN a < 0.006 THEN '49.32Z' "
                                           "WHEN a < 0.3 THEN '47.11B' ELSE '70.22Z' END",
        "nomenclatureActivitePrincipaleEtablissement": "'NAFRev2'",
        "caractereEmployeurEtablissement": "CASE WHEN k > 0.97 THEN 'O' ELSE 'N' END",
    })
    ul = {c: "''" for c in UL_COLUMNS}
    ul.update({"siren": "CAST(300000000 + i AS VARCHAR)", "statutDiffusionUniteLegale": "'O'",
               "categorieJuridiqueUniteLegale": "CASE WHEN k BETWEEN 0.8 AND 0.9 THEN '5710' ELSE '1000' END",
               "etatAdministratifUniteLegale": "'A'"})
    geo = {c: "''" for c in GEO_COLUMNS}
    geo.update({"siret": "CAST(300000000 + i AS VARCHAR) || '00011'", "x": "CAST(round(px, 1) AS VARCHAR)",
                "y": "CAST(round(py, 1) AS VARCHAR)", "qualite_xy": "'11'", "epsg": "'2154'",
                "plg_code_commune": "code_commune", "plg_iris": "substr(code_iris, 6, 4)",
                "plg_qp15": "''"})
    # the parquet edition's coordinates are float32, as data.gouv.fr publishes them (version 4)
    typed = {**geo, "x": "CAST(round(px, 1) AS FLOAT)", "y": "CAST(round(py, 1) AS FLOAT)",
             **{c: "CAST(NULL AS FLOAT)" for c in PARQUET_FLOATS["geolocalisation"] if c not in ("x", "y")}}
    folder.mkdir(parents=True, exist_ok=True)
    for stem, cols, sep in (("StockEtablissement_utf8", sub, ","), ("StockUniteLegale_utf8", ul, ","),
                            ("GeolocalisationEtablissement_Sirene_pour_etudes_statistiques_utf8", geo, ";")):
        select = ", ".join(f"{expr} AS \"{name}\"" for name, expr in cols.items())
        in_parquet = ", ".join(f"{expr} AS \"{name}\"" for name, expr in (typed if cols is geo else cols).items())
        where = "WHERE j1 > 0.02" if stem.startswith("Geoloc") else ""   # 2 % missing from the geolocation file
        con.execute(f"COPY (SELECT {in_parquet} FROM {table} {where} ORDER BY i) TO '{folder / stem}.parquet' (FORMAT parquet)")
        if csv:
            tmp = folder / f"{stem}.csv"
            con.execute(f"COPY (SELECT {select} FROM {table} {where} ORDER BY i) TO '{tmp}' (HEADER, DELIMITER '{sep}')")
            _zip_file(folder / f"{stem}.zip", tmp, level=1)
            tmp.unlink()


def generate(scale: float, out: Path, seed: int = 2024, csv_sirene: bool = True, sirene: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    g = geography(rng, scale)
    write_rp(g, rng, out)
    write_filosofi(g, rng, out)
    write_contours(g, out)
    write_epci(g, rng, out)
    qpv = write_qpv(g, rng, scale, out)
    write_cells(g, qpv, rng, scale, out)
    real = {"insee_bpe": write_bpe(g, scale, out), "arcep_fixe": write_arcep(g, scale, out)}
    if sirene:  # SIRENE draws from its own seed: the other files can be rewritten without it
        write_sirene(g, qpv, scale, seed, out, csv=csv_sirene)
    meta = {"scale": scale, "seed": seed, "iris": int(len(g)), "communes": int(g["code_commune"].nunique()),
            "qpv": int(len(qpv)), "synthetic": True, "version": DATASET_VERSION,
            "real_counts_on_synthetic_places": [k for k, v in real.items() if v]}
    (out / "SYNTHETIQUE.json").write_text(json.dumps(meta, indent=1))
    return meta


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="SYNTHETIC national dataset for the benchmark")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--keep-sirene", action="store_true", help="rewrite everything but the SIRENE files")
    args = parser.parse_args()
    out = args.out or Path(__file__).resolve().parent / "data" / str(args.scale)
    print(generate(args.scale, out, args.seed, sirene=not args.keep_sirene))
