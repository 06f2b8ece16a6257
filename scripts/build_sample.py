"""Build the embedded real sample (data/raw/sample/) from the real published data in ../shared.

Run:  python scripts/build_sample.py [--shared ../shared] [--out data/raw/sample]

What it does, and why each step is a format conversion only (no value is changed):
- RP 2016 IRIS counts: the MedNum 2020 IFN file carries the genuine INSEE RP 2016 counts
  (P16 Pop, P16 Pop1529, P16 Pop65P, C16 Men, C16 Menpseul, C16 Fam, C16 Fammono, P16 Nscol15P,
  P16 Nscol15P Diplmin; checked equal to INSEE on 9 174 IRIS, see SOURCES.md 1a). They are written
  back in INSEE's layout (base-ic-*-2016, `;`, zip with a meta_ file), strings copied verbatim.
- Filosofi 2015 IRIS (disposable income) and Filosofi 2016 communes: the pg_dump extracts of
  SOURCES.md 3, filtered to the sample's départements, column names back to INSEE's upper case.
- CONTOURS-IRIS: the IRIS polygons of the IFN file (GeoJSON, WGS84), reprojected to the IGN
  delivery CRS (Lambert-93 EPSG:2154 for metropolitan France, RGAF09 / UTM 20N EPSG:5490 for
  Martinique), shapefiles in the IGN folder layout inside a .7z.
- EPCI composition: the commune -> EPCI -> département -> région links of the IFN file, in the
  layout of INSEE's "Intercommunalité" workbook (5 title rows, sheet Composition_communale).
- The MedNum file itself (two départements) for the d4g-2020 reproduction.
- P16_POP6074 and P16_POP75P (for the share of 60+ by QPV): INSEE RP 2016 values of the EpidIA
  subset (habitat IRIS of communes split into IRIS only; blank elsewhere = not in the extract).
- QPV 2015 contours (ANCT, the real Occitanie polygons) as the published shapefile zip
  (QP_METROPOLE_LB93, Lambert-93); the INSEE/CNAF DEMO file by QPV (rows of the sample's
  départements, bytes unchanged); the ANCT indicators by QPV compiled by Toulouse DataViz.
- Filosofi 2019 200 m cells (the real extracts around the QPVs) in INSEE's national layout
  (`Idcar_200m;I_est_200;Ind`), and `emprise.csv`: the rectangles those extracts cover, since a
  missing cell outside them means "not extracted", not "nobody lives here".
- ARCEP "Ma connexion internet" commune statistics (2019 beta): the disclaimer line, the header and
  the rows whose `code_dep` is a sample département, bytes unchanged. That keeps the communes the
  sample's census does not know (communes nouvelles after 2016, absorbed communes listed with 0
  premises), so that a run shows how it reports rows matching no unit.
- INSEE BPE 2019 "ensemble": the header and the rows whose `DEP` is a sample département, bytes
  unchanged, in a zip named and laid out as INSEE publishes it (`bpe19_ensemble_csv.zip`).

The result is deterministic: run it twice, get the same bytes (zip and 7z timestamps are fixed).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import py7zr
from shapely.geometry import shape

DEPARTEMENTS = ["09", "11", "12", "30", "32", "46", "48", "65", "66", "81", "82", "972"]
FIXED_DATE = (2020, 11, 5, 0, 0, 0)
TYP_IRIS = {
    "Commune non découpée en IRIS": "Z",
    "Iris d'habitat": "H",
    "Iris d'activité": "A",
    "Iris divers": "D",
}
IGN_DELIVERY = "CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01"
IGN_LOTS = {  # folder of each territory inside the IGN delivery, and its CRS
    "FXX": ("CONTOURS-IRIS_2-1_SHP_LAMB93_FXX-2016", 2154),
    "MTQ": ("CONTOURS-IRIS_2-1_SHP_RGAF09UTM20_MTQ-2016", 5490),
}


def read_mednum(shared: Path) -> pd.DataFrame:
    folder = shared / "data/real/ifn_mednum/team48_dept_full_152cols"
    header = (folder / "headers.csv").read_text(encoding="utf-8-sig").rstrip("\r\n").split(";")
    frames = []
    for dep in DEPARTEMENTS:
        with gzip.open(folder / f"{dep}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
            frames.append(
                pd.read_csv(fh, sep=";", header=None, names=header, dtype=str, keep_default_na=False)
            )
    df = pd.concat(frames, ignore_index=True)
    # this copy lost the leading zeros: pad the codes back
    df["IRIS"] = df["Code Iris"].str.zfill(9)
    df["COM"] = df["Insee Com"].str.zfill(5)
    df["DEP"] = df["Insee Dep"].str.zfill(2)
    df["REG"] = df["Insee Reg"].str.zfill(2)
    df["TYP_IRIS"] = df["Type Iris"].map(TYP_IRIS)
    assert df["TYP_IRIS"].notna().all(), "unknown Type Iris label"
    return df


def fix_dbf_date(folder: Path) -> None:
    """A .dbf header stores the day it was written (bytes 1-3): fix it, for reproducible bytes."""
    for dbf in folder.rglob("*.dbf"):
        data = bytearray(dbf.read_bytes())
        data[1:4] = bytes([FIXED_DATE[0] - 1900, FIXED_DATE[1], FIXED_DATE[2]])
        dbf.write_bytes(bytes(data))


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, sep=";", index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def meta_bytes(variables: list[tuple[str, str]]) -> bytes:
    meta = pd.DataFrame(variables, columns=["COD_VAR", "LIB_VAR"])
    return csv_bytes(meta)


KEYS = ["IRIS", "REG", "DEP", "COM", "LIBCOM", "LIBIRIS", "TYP_IRIS"]


def rp_frame(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(
        {"IRIS": df["IRIS"], "REG": df["REG"], "DEP": df["DEP"], "COM": df["COM"],
         "LIBCOM": df["Libcom"], "LIBIRIS": df["Libiris"], "TYP_IRIS": df["TYP_IRIS"]}
    )
    for insee, mednum in columns.items():
        out[insee] = df[mednum]
    return out.sort_values("IRIS")


def add_60_plus(shared: Path, df: pd.DataFrame) -> pd.DataFrame:
    path = shared / "data/real/insee_rp2016_iris_subsets/IRIS_population_IR_Hab.csv.gz"
    sub = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("IRIS")
    df = df.copy()
    for col in ("P16_POP6074", "P16_POP75P"):
        df[col] = df["IRIS"].map(sub[col]).fillna("")
    return df


def build_rp(df: pd.DataFrame, out: Path) -> None:
    specs = {
        # source id, file stem, member extension (INSEE used both cases), variables
        "rp_population": ("base-ic-evol-struct-pop-2016", ".CSV", {
            "P16_POP": ("P16 Pop", "Population en 2016 (princ)"),
            "P16_POP1529": ("P16 Pop1529", "Pop 15-29 ans en 2016 (princ)"),
            "P16_POP65P": ("P16 Pop65P", "Pop 65 ans ou plus en 2016 (princ)"),
            "P16_POP6074": ("P16_POP6074", "Pop 60-74 ans en 2016 (princ)"),
            "P16_POP75P": ("P16_POP75P", "Pop 75 ans ou plus en 2016 (princ)"),
        }),
        "rp_familles": ("base-ic-couples-familles-menages-2016", ".csv", {
            "C16_MEN": ("C16 Men", "Ménages en 2016 (compl)"),
            "C16_MENPSEUL": ("C16 Menpseul", "Ménages 1 personne en 2016 (compl)"),
            "C16_FAM": ("C16 Fam", "Familles en 2016 (compl)"),
            "C16_FAMMONO": ("C16 Fammono", "Fam Monoparentales en 2016 (compl)"),
        }),
        "rp_diplomes": ("base-ic-diplomes-formation-2016", ".CSV", {
            "P16_NSCOL15P": ("P16 Nscol15P", "Pop 15 ans ou plus non scolarisée en 2016 (princ)"),
            "P16_NSCOL15P_DIPLMIN": ("P16 Nscol15P Diplmin",
                                     "Pop 15 ans ou plus non scol. Sans diplôme ou BEPC, brevet des collèges, DNB en 2016 (princ)"),
        }),
    }
    for source, (stem, ext, variables) in specs.items():
        frame = rp_frame(df, {k: v[0] for k, v in variables.items()})
        meta = [("IRIS", "Code IRIS"), ("REG", "Région"), ("DEP", "Département"), ("COM", "Commune"),
                ("LIBCOM", "Libellé commune"), ("LIBIRIS", "Libellé IRIS"), ("TYP_IRIS", "Type d'IRIS")]
        meta += [(k, v[1]) for k, v in variables.items()]
        write_zip(out / source / "2016" / f"{stem}.zip",
                  {f"{stem}{ext}": csv_bytes(frame), f"meta_{stem}{ext}": meta_bytes(meta)})


def build_filosofi(shared: Path, df: pd.DataFrame, out: Path) -> None:
    folder = shared / "data/real/filosofi_iris_2015"
    communes = set(df["COM"])
    iris = pd.read_csv(folder / "iris_revenus_disponibles.csv", sep=";", dtype=str, keep_default_na=False)
    iris = iris[iris["com"].isin(communes)].sort_values("iris")
    iris.columns = [c.upper() for c in iris.columns]
    target = out / "filosofi_iris" / "2015" / "BASE_TD_FILO_DISP_IRIS_2015.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(csv_bytes(iris))

    com = pd.read_csv(folder / "revenus_communes.csv", sep=";", dtype=str, keep_default_na=False)
    com = com[com["codgeo"].isin(communes)].sort_values("codgeo")
    com.columns = [c.upper() for c in com.columns]
    write_zip(out / "filosofi_communes" / "2016" / "base-cc-filosofi-2016.zip",
              {"cc_filosofi_2016_COM.CSV": csv_bytes(com)})


def build_contours(df: pd.DataFrame, out: Path, work: Path) -> None:
    geoms = [shape(json.loads(s)) for s in df["Geo Shape"]]
    gdf = gpd.GeoDataFrame(
        {"INSEE_COM": df["COM"], "NOM_COM": df["Nom Com"], "IRIS": df["IRIS"].str[5:],
         "CODE_IRIS": df["IRIS"], "NOM_IRIS": df["Nom Iris"], "TYP_IRIS": df["TYP_IRIS"]},
        geometry=geoms, crs="EPSG:4326",
    ).sort_values("CODE_IRIS")
    lots = {"FXX": gdf[~gdf["INSEE_COM"].str.startswith("97")],
            "MTQ": gdf[gdf["INSEE_COM"].str.startswith("972")]}
    root = work / IGN_DELIVERY
    for lot, part in lots.items():
        folder_name, epsg = IGN_LOTS[lot]
        folder = root / "CONTOURS-IRIS" / "1_DONNEES_LIVRAISON_2016" / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        part.to_crs(epsg=epsg).to_file(folder / "CONTOURS-IRIS.shp", engine="pyogrio", encoding="UTF-8")
    target = out / "contours_iris" / "2016" / f"{IGN_DELIVERY}.7z"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    fix_dbf_date(root)
    stamp = pd.Timestamp(*FIXED_DATE[:3]).timestamp()
    for file in root.rglob("*"):
        os.utime(file, (stamp, stamp))  # 7z stores member times: fix them for reproducible bytes
    with py7zr.SevenZipFile(target, "w") as archive:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                archive.write(file, str(file.relative_to(work)))


def build_epci(df: pd.DataFrame, out: Path) -> None:
    com = (df[["COM", "Libcom", "Epci", "Libepci", "DEP", "REG"]]
           .drop_duplicates("COM").sort_values("COM"))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Composition_communale"
    ws.append(["Composition communale des EPCI au 1er janvier 2020"])
    ws.append(["Source : Insee, via le jeu national IFN 2020 de La MedNum (liens commune-EPCI de ce jeu)"])
    ws.append([])
    ws.append(["Champ : communes de l'échantillon fragilite"])
    ws.append([])
    ws.append(["CODGEO", "LIBGEO", "EPCI", "LIBEPCI", "DEP", "REG"])
    for row in com.itertuples(index=False):
        ws.append([row.COM, row.Libcom, row.Epci, row.Libepci, row.DEP, row.REG])
    target = out / "epci_composition" / "2020" / "Intercommunalite-Metropole_au_01-01-2020.xlsx"
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.properties.created = pd.Timestamp("2020-11-05").to_pydatetime()
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps the save time in docProps/core.xml and in the zip entries: fix both
    with zipfile.ZipFile(buf) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["docProps/core.xml"] = re.sub(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>",
                                          b"", members["docProps/core.xml"])
    write_zip(target, members)


def qp_departement(code: str) -> str:
    """QP030004 -> 30, QP972001 -> 972: 2015 codes carry the département on three digits."""
    d3 = code[2:5]
    return d3[1:] if d3.startswith("0") else d3


def build_qpv(shared: Path, out: Path) -> None:
    deps = set(DEPARTEMENTS)
    qp = gpd.read_file(shared / "data/real/qpv_occitanie_hackaviz2021/qp.geojson")
    qp = qp[qp["code_departement"].isin(deps)].sort_values("code_qp")
    shp = gpd.GeoDataFrame({"CODE_QP": qp["code_qp"], "NOM_QP": qp["nom_qp"], "COMMUNE_QP": qp["commune_qp"]},
                           geometry=qp.geometry.values, crs="EPSG:4326").to_crs(2154)
    work = out / ".work-qpv"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shp.to_file(work / "QP_METROPOLE_LB93.shp", engine="pyogrio", encoding="UTF-8")
    fix_dbf_date(work)
    write_zip(out / "qpv_contours_2015" / "2015" / "qp-politiquedelaville-shp.zip",
              {f.name: f.read_bytes() for f in sorted(work.iterdir())})
    shutil.rmtree(work)

    # DEMO file: header and the rows of the sample's QPVs (and Martinique's), bytes unchanged
    demo = (shared / "data/real/insee_qp_demo_2020/data_DEMO_2020_V1_QP.csv").read_bytes().split(b"\r\n")
    keep = [demo[0]] + [line for line in demo[1:] if line and qp_departement(line[:8].decode()) in deps]
    target = out / "insee_qpv_demo" / "2020" / "data_DEMO_2020_V1_QP.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\r\n".join(keep) + b"\r\n")

    ind = pd.read_csv(shared / "data/real/qpv_occitanie_hackaviz2021/qp.csv", dtype=str, keep_default_na=False,
                      encoding="utf-8-sig")
    ind = ind[ind["code_qp"].map(qp_departement).isin(deps)]
    target = out / "anct_qpv_indicateurs" / "2021" / "qp.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(ind.to_csv(index=False, lineterminator="\n"), encoding="utf-8-sig")


def build_grid(shared: Path, out: Path) -> None:
    folder = shared / "data/real/filosofi_grid200m_occitanie"
    cells = pd.read_csv(folder / "DERIVED_filosofi200m_cells_long.csv", dtype=str, keep_default_na=False)
    cells = cells[cells["ind2019"].astype(float) > 0]  # absent from the 2019 file: not a 2019 cell
    grid = pd.DataFrame({"Idcar_200m": cells["idcar_200m"], "I_est_200": cells["imp2019"].str.replace(".0", "", regex=False),
                         "Ind": cells["ind2019"]}).sort_values("Idcar_200m")
    write_zip(out / "filosofi_200m" / "2019" / "Filosofi2019_carreaux_200m_csv.zip",
              {"carreaux_200m_met.csv": csv_bytes(grid)})
    ext = pd.read_csv(folder / "DERIVED_extract_extents.csv", dtype=str)
    # upper bounds in the file are the south-west corners of the last cells: the rectangle ends 200 m further
    emprise = pd.DataFrame({"crs": "EPSG:3035", "xmin": ext["E_min_3035"].astype(int),
                            "ymin": ext["N_min_3035"].astype(int), "xmax": ext["E_max_3035"].astype(int) + 200,
                            "ymax": ext["N_max_3035"].astype(int) + 200, "fichier": ext["file"]})
    (out / "filosofi_200m" / "2019" / "emprise.csv").write_bytes(csv_bytes(emprise))


ARCEP = "data/real/arcep_mednum_batch8_commune/commune-debit-beta.csv.gz"
BPE = "data/real/insee_bpe_2019/DERIVED_bpe19_ensemble.csv.gz"


def _lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def build_arcep(shared: Path, out: Path, departements: list[str]) -> Path:
    lines = _lines(shared / ARCEP)
    header = 1   # line 1 is ARCEP's disclaimer, line 2 the header
    column = lines[header].decode().split(";").index("code_dep")
    keep = lines[:header + 1] + [ln for ln in lines[header + 1:]
                                 if ln.decode("utf-8").split(";")[column] in departements]
    target = out / "arcep_fixe" / "2019" / "commune-debit-beta.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(keep))
    return target


def build_bpe(shared: Path, out: Path, departements: list[str]) -> Path:
    lines = _lines(shared / BPE)
    column = lines[0].decode().rstrip("\n").split(";").index("DEP")
    keep = lines[:1] + [ln for ln in lines[1:] if ln.decode().split(";")[column] in departements]
    target = out / "insee_bpe" / "2019" / "bpe19_ensemble_csv.zip"
    write_zip(target, {"bpe19_ensemble.csv": b"".join(keep)})
    return target


def copy_mednum(shared: Path, out: Path) -> None:
    folder = shared / "data/real/ifn_mednum/team48_dept_full_152cols"
    target = out / "mednum_kit_2020" / "2020"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("09.csv.gz", "972.csv.gz", "headers.csv"):
        shutil.copyfile(folder / name, target / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data/raw/sample")
    args = parser.parse_args()
    out: Path = args.out
    df = read_mednum(args.shared)
    for sub in ("rp_population", "rp_familles", "rp_diplomes", "filosofi_iris", "filosofi_communes",
                "contours_iris", "epci_composition", "mednum_kit_2020", "qpv_contours_2015", "insee_qpv_demo",
                "anct_qpv_indicateurs", "filosofi_200m", "arcep_fixe", "insee_bpe"):
        shutil.rmtree(out / sub, ignore_errors=True)
    build_rp(add_60_plus(args.shared, df), out)
    build_filosofi(args.shared, df, out)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    build_contours(df, out, work)
    shutil.rmtree(work)
    build_epci(df, out)
    copy_mednum(args.shared, out)
    build_qpv(args.shared, out)
    build_grid(args.shared, out)
    build_arcep(args.shared, out, DEPARTEMENTS)
    build_bpe(args.shared, out, DEPARTEMENTS)
    print(f"sample written to {out}: {len(df)} IRIS in {df['DEP'].nunique()} départements")


if __name__ == "__main__":
    main()
