"""France-scale benchmark: one dataset, one run, every figure, printed as a table and as one JSON
line (last line). On a SYNTHETIC national dataset (benchmarks/generate_national.py).

  python benchmarks/run.py --scale 0.1

(a) refresh_s, peak_rss_mb: the full refresh from raw files (run_local, no Prefect server:
    its start-up is not the pipeline's cost), wall time and peak RSS of the whole process tree;
(b) floor_s: DuckDB (and pyogrio for the shapefiles) reading every input once;
(c) baseline_s: a straightforward pandas/geopandas implementation of the same IRIS outputs
    (ifn-2020 scores, riders and VTC drivers per IRIS), the way a newcomer would write it;
(d) noop_s: a second refresh on unchanged inputs;
(e) outputs_agree: the baseline's and the pipeline's IRIS numbers are equal (1e-9);
(f) sirene_only_s: in another folder, a refresh on the previous month's SIRENE stock, then the
    refresh after only the SIRENE files changed (the monthly case), timed; sirene_only_identical:
    its outputs equal the full refresh's (a) byte for byte;
(g) bbox_row_groups_share: a bounding-box query of one département on the IRIS layer, the share
    of the layer's row groups whose `bbox` column statistics it cannot skip (what DuckDB and
    GDAL read), averaged over the départements (the largest share beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from dataset import DATASET_VERSION, SIRENE_EDITIONS, inputs  # noqa: E402
from measure import peak_rss  # noqa: E402


def measure(cmd: list[str], timeout: float | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) of the process and its children, exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, killed = peak_rss(proc, timeout)
    if killed:
        return float("nan"), peak / 2**20, -9
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.stderr.write(proc.stderr.read().decode()[-3000:])
    return wall, peak / 2**20, proc.returncode


REFRESH = """
import sys, json
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
from pathlib import Path
from dataset import inputs
from indicators.stages.compute import RunOptions
from indicators.pipeline import run_local
report = run_local(inputs(Path({data!r}), {sirene!r}, {edition!r}), Path({out!r}), RunOptions())
print(json.dumps({{"a_jour": report.get("a_jour", False)}}))
"""


def floor(data: Path, sirene: str, edition: str) -> float:
    """Read every input once, as fast as the tools allow: the cost no pipeline can avoid."""
    import duckdb
    import pyogrio

    start = time.perf_counter()
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as tmp:
        for sid, paths in inputs(data, sirene, edition).items():
            for p in paths:
                if p.suffix == ".7z":
                    import py7zr
                    with py7zr.SevenZipFile(p) as a:
                        a.extractall(tmp)
                    for shp in Path(tmp).rglob("*.shp"):
                        pyogrio.read_dataframe(shp)
                elif p.suffix == ".zip" and sid.startswith("qpv"):
                    with zipfile.ZipFile(p) as zf:
                        zf.extractall(tmp)
                    for shp in Path(tmp).glob("*.shp"):
                        pyogrio.read_dataframe(shp)
                elif p.suffix == ".zip":
                    with zipfile.ZipFile(p) as zf:
                        for name in zf.namelist():
                            target = Path(tmp) / name
                            with zf.open(name) as src, open(target, "wb") as dst:
                                shutil.copyfileobj(src, dst, 1 << 22)
                            sep = ";" if not sid.startswith("sirene") or "Geoloc" in name else ","
                            con.execute(f"SELECT count(*) FROM read_csv('{target}', delim='{sep}', header=true, "
                                        "all_varchar=true)").fetchone()
                            target.unlink()
                elif p.suffix == ".parquet":
                    # every value read and decoded: count(*) alone reads only the footer, and a
                    # NULL test is answered from the column statistics
                    con.execute(f"SELECT sum(length(CAST(COLUMNS(*) AS VARCHAR))) FROM read_parquet('{p}')").fetchone()
                else:   # a disclaimer line before the header (ARCEP's beta file) is skipped
                    with open(p, encoding="utf-8", errors="replace") as fh:
                        skip = 0 if ";" in fh.readline() else 1
                    con.execute(f"SELECT count(*) FROM read_csv('{p}', delim=';', header=true, skip={skip}, "
                                "all_varchar=true)").fetchone()
    return time.perf_counter() - start


def published_files(out: Path) -> dict[str, bytes]:
    """Every output file of a refresh (the run report aside: it holds timings), by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)
            and not p.name.startswith("run_report")}


def bbox_share(layer: Path) -> tuple[float, float, int, float]:
    """For a bbox query of each département (its IRIS's extent) on the layer: the share of row
    groups whose bbox column statistics overlap it (the row groups a reader must fetch). Mean and
    max over the départements, the number of row groups, and the mean share of the file's
    compressed bytes those row groups hold."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(layer)
    geo = json.loads(pf.schema_arrow.metadata[b"geo"])
    cover = geo["columns"][geo["primary_column"]]["covering"]["bbox"]
    paths = {k: ".".join(v) for k, v in cover.items()}
    names = [pf.schema.column(i).path for i in range(pf.metadata.num_columns)]
    stats, sizes = [], []
    for rg in range(pf.metadata.num_row_groups):
        group = pf.metadata.row_group(rg)
        col = lambda k: group.column(names.index(paths[k])).statistics
        stats.append((col("xmin").min, col("ymin").min, col("xmax").max, col("ymax").max))
        sizes.append(sum(group.column(i).total_compressed_size for i in range(group.num_columns)))
    t = pq.read_table(layer, columns=["code_departement", cover["xmin"][0]])
    box = t.column(cover["xmin"][0]).combine_chunks()
    deps = t.column("code_departement").to_pylist()
    shares, byte_shares = [], []
    for dep in sorted(set(deps)):
        mask = pc.equal(t.column("code_departement"), dep)
        b = {k: pc.filter(box.field(k), mask) for k in ("xmin", "ymin", "xmax", "ymax")}
        q = (pc.min(b["xmin"]).as_py(), pc.min(b["ymin"]).as_py(), pc.max(b["xmax"]).as_py(), pc.max(b["ymax"]).as_py())
        hit = [s[0] <= q[2] and s[2] >= q[0] and s[1] <= q[3] and s[3] >= q[1] for s in stats]
        shares.append(sum(hit) / len(stats))
        byte_shares.append(sum(b for b, h in zip(sizes, hit) if h) / sum(sizes))
    return sum(shares) / len(shares), max(shares), len(stats), sum(byte_shares) / len(byte_shares)


BASELINE = """
import sys, json, zipfile
import numpy as np, pandas as pd
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
from pathlib import Path
from dataset import inputs
inp = inputs(Path({data!r}), {sirene!r}, {edition!r})
def rp(sid):
    with zipfile.ZipFile(inp[sid][0]) as zf:
        return pd.read_csv(zf.open(zf.namelist()[0]), sep=";", dtype={{"IRIS": str, "COM": str, "REG": str, "DEP": str}})
pop, fam, dip, act = rp("rp_population"), rp("rp_familles"), rp("rp_diplomes"), rp("rp_activite")
df = pop.merge(fam, on="IRIS", suffixes=("", "_f")).merge(dip, on="IRIS", suffixes=("", "_d")).merge(act, on="IRIS", suffixes=("", "_a"))
fi = pd.read_csv(inp["filosofi_iris"][0], sep=";", dtype={{"IRIS": str}})
with zipfile.ZipFile(inp["filosofi_communes"][0]) as zf:
    fc = pd.read_csv(zf.open(zf.namelist()[0]), sep=";", dtype={{"CODGEO": str}})
df = df.merge(fi, on="IRIS", how="left").merge(fc, left_on="COM", right_on="CODGEO", how="left")
split = set(fi["IRIS"].str[:5])
df["tp"] = np.where(df["IRIS"].isin(fi["IRIS"]), df["DISP_TP6015"] / 100, np.where(df["COM"].isin(split), np.nan, df["TP6016"] / 100))
df["rev"] = np.where(df["IRIS"].isin(fi["IRIS"]), df["DISP_MED15"], np.where(df["COM"].isin(split), np.nan, df["MED16"]))
ind = {{"taux_pauvrete": ("tp", None), "familles_monoparentales": ("C16_FAMMONO", "C16_FAM"),
       "menages_une_personne": ("C16_MENPSEUL", "C16_MEN"), "chomeurs_15_64": ("P16_CHOM1564", "P16_ACT1564"),
       "personnes_15_29": ("P16_POP1529", "P16_POP"), "personnes_65_plus": ("P16_POP65P", "P16_POP"),
       "peu_diplomes": ("P16_NSCOL15P_DIPLMIN", "P16_NSCOL15P")}}
pts = {{}}
for k, (num, den) in ind.items():
    if den is None:
        df["n_tp"], df["d_tp"] = df["tp"] * df["P16_POP"], df["P16_POP"].where(df["tp"].notna())
        x = df["tp"]; s = df.groupby("REG")["n_tp"].transform("sum") / df.groupby("REG")["d_tp"].transform("sum")
    else:
        x = df[num] / df[den].where(df[den] > 0)
        ok = df[num].notna() & df[den].notna()
        s = df[num].where(ok).groupby(df["REG"]).transform("sum") / df[den].where(ok).groupby(df["REG"]).transform("sum")
    pts[k] = 100 * x / s
def pooled(num, den):
    ok = num.notna() & den.notna()
    return num.where(ok).groupby(df["REG"]).transform("sum") / den.where(ok).groupby(df["REG"]).transform("sum")
# ARCEP (when the run reads it): a commune's premises shared among its IRIS by households;
# eligible at 3 Mbit/s or more; points (1 - x) / (1 - s), at most 200
if "arcep_fixe" in inp:
    a = pd.read_csv(inp["arcep_fixe"][0], sep=";", skiprows=1, dtype={{"code_insee": str}})
    a["elig"] = a[["elig_hd3", "elig_hd8", "elig_thd30", "elig_thd100", "elig_thd1g"]].sum(axis=1)
    a = a.groupby("code_insee")[["nbr", "elig"]].sum()
    ville = df["COM"].where(~df["COM"].between("75101", "75120"), "75056")
    ville = ville.where(~ville.between("69381", "69389"), "69123").where(~ville.between("13201", "13216"), "13055")
    men = df["C16_MEN"].fillna(0); tot = men.groupby(ville).transform("sum")
    popv = df["P16_POP"].fillna(0); totp = popv.groupby(ville).transform("sum")
    part = np.where(tot > 0, men / tot.where(tot > 0), np.where(totp > 0, popv / totp.where(totp > 0), 1 / ville.map(ville.value_counts())))
    num_cf, den_cf = ville.map(a["elig"]) * part, ville.map(a["nbr"]) * part
    x = num_cf / den_cf.where(den_cf > 0)
    pts["couverture_fixe"] = 100 * ((1 - x) / (1 - pooled(num_cf, den_cf))).clip(upper=2.0)
# BPE (when the run reads it): equipments of the listed types per IRIS over the population
if "insee_bpe" in inp:
    from indicators.sources.readers.bpe import PUBLIC_SERVICES
    with zipfile.ZipFile(inp["insee_bpe"][0]) as zf:
        b = pd.read_csv(zf.open(zf.namelist()[0]), sep=";", dtype=str)
    covered = df["DEP"].isin(set(b["DEP"]))     # the BPE lists every equipment of its départements
    b = b[b["TYPEQU"].isin(list(PUBLIC_SERVICES))]
    b["iris"] = np.where(b["DCIRIS"].str.len() == 5, b["DCIRIS"] + "0000", b["DCIRIS"].str.replace("_", ""))
    n = b.assign(n=b["NB_EQUIP"].astype(float)).groupby("iris")["n"].sum()
    num_sp = df["IRIS"].map(n).fillna(0).where(covered)
    den_sp = df["P16_POP"].where(num_sp.notna())
    x = num_sp / den_sp.where(den_sp > 0)
    pts["services_publics"] = 100 * (2 - x / pooled(num_sp, den_sp)).clip(lower=0.0)
# income threshold: population-weighted median of communal medians over the region
com = df.groupby("COM").agg(REG=("REG", "first"), pop=("P16_POP", "sum"), med=("MED16", "first"))
iris_med = df.groupby("COM")["rev"].median()
def wmed(g):
    g = g.dropna(subset=["med"]).sort_values("med"); c = g["pop"].cumsum()
    return g.loc[c >= c.iloc[-1] / 2, "med"].iloc[0] if len(g) else np.nan
thr = com.groupby("REG").apply(wmed)
pts["revenu_median"] = 100 * (2 - df["rev"] / df["REG"].map(thr))
points = pd.DataFrame(pts)
score = points.mean(axis=1)
# SIRENE, the newcomer's way: read everything with pandas
def sz(sid, sep, cols):
    if inp[sid][0].suffix == ".parquet":
        return pd.read_parquet(inp[sid][0], columns=cols).astype(str)
    with zipfile.ZipFile(inp[sid][0]) as zf:
        return pd.read_csv(zf.open(zf.namelist()[0]), sep=sep, dtype=str, usecols=cols, keep_default_na=False)
e = sz("sirene_etablissements", ",", ["siret", "siren", "activitePrincipaleEtablissement", "etatAdministratifEtablissement",
       "caractereEmployeurEtablissement", "coordonneeLambertAbscisseEtablissement", "coordonneeLambertOrdonneeEtablissement"])
u = sz("sirene_unites_legales", ",", ["siren", "categorieJuridiqueUniteLegale"])
g = sz("sirene_geolocalisation", ";", ["siret", "plg_code_commune", "plg_iris"])
e = e.merge(u, on="siren").merge(g, on="siret", how="left")
e = e[e["activitePrincipaleEtablissement"].isin(["53.20Z", "49.32Z"]) & (e["etatAdministratifEtablissement"] == "A")
      & (e["caractereEmployeurEtablissement"] != "O") & (e["categorieJuridiqueUniteLegale"] == "1000")]
e["code_iris"] = (e["plg_code_commune"] + e["plg_iris"]).where(e["plg_iris"].fillna("") != "")
# not in the geolocation file: the stock's Lambert coordinates in the IRIS polygons
import geopandas as gpd, py7zr, tempfile
missing = e[e["code_iris"].isna()]
with tempfile.TemporaryDirectory() as tmp:
    with py7zr.SevenZipFile(inp["contours_iris"][0]) as a:
        a.extractall(tmp)
    iris = gpd.read_file(next(Path(tmp).rglob("*.shp")))[["CODE_IRIS", "geometry"]]
pts = gpd.GeoDataFrame(missing[["siret"]], geometry=gpd.points_from_xy(missing["coordonneeLambertAbscisseEtablissement"].astype(float),
                       missing["coordonneeLambertOrdonneeEtablissement"].astype(float)), crs=2154)
hit = gpd.sjoin(pts, iris.set_crs(2154, allow_override=True), predicate="within").groupby("siret")["CODE_IRIS"].min()
e.loc[e["code_iris"].isna(), "code_iris"] = e.loc[e["code_iris"].isna(), "siret"].map(hit)
e = e[e["code_iris"].notna()]
cnt = e.groupby(["code_iris", "activitePrincipaleEtablissement"]).size().unstack(fill_value=0)
out = pd.DataFrame({{"code_iris": df["IRIS"], "score_global": score}}).join(points.add_prefix("pts_"))
out["livreurs"] = out["code_iris"].map(cnt.get("53.20Z", pd.Series(dtype=int))).fillna(0)
out["vtc"] = out["code_iris"].map(cnt.get("49.32Z", pd.Series(dtype=int))).fillna(0)
out.to_parquet({target!r})
"""


def agree(pipeline_out: Path, baseline: Path) -> bool:
    import geopandas as gpd
    import pandas as pd

    a = gpd.read_parquet(pipeline_out / "iris.parquet")[["code_iris", "score_global", "livreurs", "vtc"]].set_index("code_iris")
    b = pd.read_parquet(baseline).set_index("code_iris").reindex(a.index)
    same_counts = (a["livreurs"] == b["livreurs"]).all() and (a["vtc"] == b["vtc"]).all()
    diff = (a["score_global"] - b["score_global"]).abs()
    return bool(same_counts and (diff.max() < 1e-9))


def refresh(data: Path, sirene: str, edition: str, out: Path) -> tuple[float, float, int]:
    code = REFRESH.format(here=str(HERE), root=str(ROOT), data=str(data), sirene=sirene, out=str(out),
                          edition=edition)
    return measure([sys.executable, "-c", code])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--baseline-timeout", type=float, default=1800)
    parser.add_argument("--sirene", choices=["zip", "parquet"], default="zip",
                        help="SIRENE edition read by all three measures (INSEE publishes both)")
    args = parser.parse_args()
    data = args.data or HERE / "data" / str(args.scale)
    meta_path = data / "SYNTHETIQUE.json"
    if not meta_path.exists() or json.loads(meta_path.read_text()).get("version") != DATASET_VERSION:
        from generate_national import generate

        t = time.perf_counter()
        generate(args.scale, data)
        print(f"generated {data} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    previous, current = SIRENE_EDITIONS
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    monthly = Path(tempfile.mkdtemp(prefix="bench-monthly-"))
    refresh_s, peak, rc = refresh(data, args.sirene, current, out)
    noop_s, _, _ = refresh(data, args.sirene, current, out)
    _, peak_prev, rc_prev = refresh(data, args.sirene, previous, monthly)
    sirene_only_s, peak_monthly, rc_monthly = refresh(data, args.sirene, current, monthly)
    identical = (published_files(out) == published_files(monthly)) if rc == rc_prev == rc_monthly == 0 else None
    floor_s = floor(data, args.sirene, current)
    target = out / "baseline.parquet"
    baseline_s, base_peak, brc = measure([sys.executable, "-c", BASELINE.format(here=str(HERE), root=str(ROOT), data=str(data), target=str(target), sirene=args.sirene,
                                                        edition=current)],
                                         timeout=args.baseline_timeout)
    share, share_max, row_groups, bytes_share = bbox_share(out / "iris.parquet") if rc == 0 else (None,) * 4
    result = {
        "scale": args.scale,
        "refresh_s": round(refresh_s, 2) if rc == 0 else None,
        "floor_s": round(floor_s, 2),
        "baseline_s": round(baseline_s, 2) if brc == 0 else None,
        "noop_s": round(noop_s, 2),
        "peak_rss_mb": round(max(peak, peak_prev, peak_monthly)),
        "outputs_agree": agree(out, target) if brc == 0 and rc == 0 else None,
        "sirene": args.sirene,
        "sirene_only_s": round(sirene_only_s, 2) if rc_monthly == 0 else None,
        "sirene_only_identical": identical,
        "bbox_row_groups_share": round(share, 4) if share is not None else None,
        "bbox_row_groups_share_max": round(share_max, 4) if share_max is not None else None,
        "iris_row_groups": row_groups,
        "bbox_bytes_share": round(bytes_share, 4) if bytes_share is not None else None,
    }
    meta = json.loads(meta_path.read_text())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; dataset (SYNTHETIC): {meta}")
    print(f"{'figure':<26}{'value':>12}")
    for k, v in result.items():
        print(f"{k:<26}{str(v):>12}")
    if refresh_s and rc == 0:
        print(f"{'refresh / floor':<26}{refresh_s / floor_s:>12.2f}")
        if brc == 0:
            print(f"{'baseline / refresh':<26}{baseline_s / refresh_s:>12.2f}")
        if rc_monthly == 0:
            print(f"{'sirene_only / refresh':<26}{sirene_only_s / refresh_s:>12.2f}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(monthly, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
