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

The result is deterministic: run it twice, get the same bytes (zip and 7z timestamps are fixed).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
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


def build_rp(df: pd.DataFrame, out: Path) -> None:
    specs = {
        # source id, file stem, member extension (INSEE used both cases), variables
        "rp_population": ("base-ic-evol-struct-pop-2016", ".CSV", {
            "P16_POP": ("P16 Pop", "Population en 2016 (princ)"),
            "P16_POP1529": ("P16 Pop1529", "Pop 15-29 ans en 2016 (princ)"),
            "P16_POP65P": ("P16 Pop65P", "Pop 65 ans ou plus en 2016 (princ)"),
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
    # openpyxl stamps the creation time: fix it so the file is reproducible
    wb.properties.created = wb.properties.modified = pd.Timestamp("2020-11-05").to_pydatetime()
    wb.save(target)


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
                "contours_iris", "epci_composition", "mednum_kit_2020"):
        shutil.rmtree(out / sub, ignore_errors=True)
    build_rp(df, out)
    build_filosofi(args.shared, df, out)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    build_contours(df, out, work)
    shutil.rmtree(work)
    build_epci(df, out)
    copy_mednum(args.shared, out)
    print(f"sample written to {out}: {len(df)} IRIS in {df['DEP'].nunique()} départements")


if __name__ == "__main__":
    main()
