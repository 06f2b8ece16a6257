"""SYNTHETIC SIRENE files for the sample's territory, in INSEE's exact published layouts.

No SIRENE extract exists on these machines, so the sample's platform-worker indicators come from
this seeded generator. EVERYTHING IT WRITES IS SYNTHETIC: the establishments, names, addresses and
counts are invented; only the places (the real IRIS and QPV polygons of the sample) are real.
The QPV share of delivery riders and VTC drivers is planted near the national figures Compas
published (24 % and 19 %), so that the pipeline has something realistic to find, not to report.

Layouts (column names and order, types, quoting, zip and parquet editions):
- StockEtablissement_utf8.zip / .parquet (comma-separated, header, v3.11 columns)
- StockUniteLegale_utf8.zip / .parquet
- GeolocalisationEtablissement_Sirene_pour_etudes_statistiques_utf8.zip / .parquet (`;`)
The parquet editions hold text, except the geolocation file's coordinates and distance: 32-bit
floats, as in data.gouv.fr's edition (`PARQUET_FLOATS`; a Lambert-93 ordinate keeps half a
metre there, not the CSV's decimetre). The stock files' published parquet types could not be
checked here: text.

Traps a real file has, each planted on purpose: closed establishments, other APE codes, companies
(not individual entrepreneurs), employers, domiciliation addresses with dozens of registrations (a
CCAS, a domiciliation company, an unnamed point), partially diffused rows (`[ND]`, no address, no
coordinates), establishments missing from the geolocation file (located by the stock file's
Lambert coordinates, or not at all), poor geocoding quality, overseas coordinates in EPSG:5490,
foreign establishments, and sirets duplicated in the geolocation file.

Run: python scripts/generate_sirene.py [--out DIR] [--seed 2024] [--scale 1.0] [--parquet]
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "raw" / "sample"
DATE_REFERENCE = "2024-01-01"

ETAB_COLUMNS = [
    "siren", "nic", "siret", "statutDiffusionEtablissement", "dateCreationEtablissement",
    "trancheEffectifsEtablissement", "anneeEffectifsEtablissement", "activitePrincipaleRegistreMetiersEtablissement",
    "dateDernierTraitementEtablissement", "etablissementSiege", "nombrePeriodesEtablissement",
    "complementAdresseEtablissement", "numeroVoieEtablissement", "indiceRepetitionEtablissement",
    "dernierNumeroVoieEtablissement", "indiceRepetitionDernierNumeroVoieEtablissement", "typeVoieEtablissement",
    "libelleVoieEtablissement", "codePostalEtablissement", "libelleCommuneEtablissement",
    "libelleCommuneEtrangerEtablissement", "distributionSpecialeEtablissement", "codeCommuneEtablissement",
    "codeCedexEtablissement", "libelleCedexEtablissement", "codePaysEtrangerEtablissement",
    "libellePaysEtrangerEtablissement", "identifiantAdresseEtablissement", "coordonneeLambertAbscisseEtablissement",
    "coordonneeLambertOrdonneeEtablissement", "complementAdresse2Etablissement", "numeroVoie2Etablissement",
    "indiceRepetition2Etablissement", "typeVoie2Etablissement", "libelleVoie2Etablissement", "codePostal2Etablissement",
    "libelleCommune2Etablissement", "libelleCommuneEtranger2Etablissement", "distributionSpeciale2Etablissement",
    "codeCommune2Etablissement", "codeCedex2Etablissement", "libelleCedex2Etablissement",
    "codePaysEtranger2Etablissement", "libellePaysEtranger2Etablissement", "dateDebut",
    "etatAdministratifEtablissement", "enseigne1Etablissement", "enseigne2Etablissement", "enseigne3Etablissement",
    "denominationUsuelleEtablissement", "activitePrincipaleEtablissement",
    "nomenclatureActivitePrincipaleEtablissement", "caractereEmployeurEtablissement",
]
UL_COLUMNS = [
    "siren", "statutDiffusionUniteLegale", "unitePurgeeUniteLegale", "dateCreationUniteLegale", "sigleUniteLegale",
    "sexeUniteLegale", "prenom1UniteLegale", "prenom2UniteLegale", "prenom3UniteLegale", "prenom4UniteLegale",
    "prenomUsuelUniteLegale", "pseudonymeUniteLegale", "identifiantAssociationUniteLegale",
    "trancheEffectifsUniteLegale", "anneeEffectifsUniteLegale", "dateDernierTraitementUniteLegale",
    "nombrePeriodesUniteLegale", "categorieEntreprise", "anneeCategorieEntreprise", "dateDebut",
    "etatAdministratifUniteLegale", "nomUniteLegale", "nomUsageUniteLegale", "denominationUniteLegale",
    "denominationUsuelle1UniteLegale", "denominationUsuelle2UniteLegale", "denominationUsuelle3UniteLegale",
    "categorieJuridiqueUniteLegale", "activitePrincipaleUniteLegale", "nomenclatureActivitePrincipaleUniteLegale",
    "nicSiegeUniteLegale", "economieSocialeSolidaireUniteLegale", "societeMissionUniteLegale",
    "caractereEmployeurUniteLegale",
]
# typed float32 in data.gouv.fr's parquet edition of the geolocation file (a schema dump of the
# published file, 2026); the stock files' parquet columns are kept as text here
PARQUET_FLOATS = {"geolocalisation": ["x", "y", "distance_precision", "y_latitude", "x_longitude"]}
GEO_COLUMNS = ["siret", "x", "y", "qualite_xy", "epsg", "plg_code_commune", "plg_qp24", "plg_qp15", "plg_iris",
               "plg_zus", "distance_precision", "qualite_qp24", "qualite_qp15", "qualite_iris",
               "y_latitude", "x_longitude"]
PRENOMS = ["KARIM", "MOHAMED", "YANIS", "LUCAS", "THOMAS", "ADAMA", "MAMADOU", "ILYES", "NICOLAS", "SOFIANE"]
NOMS = ["MARTIN", "BERNARD", "DIALLO", "TRAORE", "BENALI", "GARCIA", "PETIT", "ROUX", "HADDAD", "FAURE"]
VOIES = [("RUE", "DE LA REPUBLIQUE"), ("AV", "JEAN JAURES"), ("BD", "VICTOR HUGO"), ("RUE", "DES LILAS"),
         ("CHE", "DU MOULIN"), ("ALL", "DES PINS"), ("RUE", "PASTEUR"), ("IMP", "DES ROSES")]


def load_places():
    import geopandas as gpd

    from indicators.sources.readers import read_contours_iris, read_rp_iris
    from indicators.sources.readers.qpv import read_qpv_contours

    contours = read_contours_iris(SAMPLE / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z")
    pop = read_rp_iris(SAMPLE / "rp_population/2016/base-ic-evol-struct-pop-2016.zip", "rp_population").frame
    contours = contours.merge(pop[["code_iris", "pop"]], on="code_iris", how="inner")
    iris = gpd.GeoDataFrame(contours.drop(columns="geometry"), geometry=list(contours["geometry"]), crs=None)
    qpv = read_qpv_contours(SAMPLE / "qpv_contours_2015/2015/qp-politiquedelaville-shp.zip", "2015")
    return iris, gpd.GeoDataFrame(qpv.drop(columns="geometry"), geometry=list(qpv["geometry"]), crs=2154)


def random_points(rng: np.random.Generator, polygon, n: int) -> np.ndarray:
    minx, miny, maxx, maxy = polygon.bounds
    out = []
    while len(out) < n:
        xs, ys = rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)
        pts = shapely.points(xs, ys)
        out.extend(pts[shapely.contains(polygon, pts)][: n - len(out)])
    return np.array(out[:n], dtype=object)


def generate(seed: int = 2024, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    iris, qpv = load_places()
    metro = iris[iris["epsg"] == 2154]
    mtq = iris[iris["epsg"] == 5490]
    qpv_union = shapely.union_all(qpv.geometry.to_numpy())
    rows = []

    def place(n: int, in_qpv: bool, where) -> list[tuple]:
        """n (point, code_iris, code_commune, epsg) drawn by population, inside or outside QPVs."""
        placed = []
        if in_qpv:
            weights = qpv.geometry.area.to_numpy()
            for k in rng.choice(len(qpv), size=n, p=weights / weights.sum()):
                pt = random_points(rng, qpv.geometry.iloc[k], 1)[0]
                hit = where[shapely.contains(where.geometry.to_numpy(), pt)]
                if len(hit):
                    placed.append((pt, hit.iloc[0]["code_iris"], hit.iloc[0]["code_commune"], int(hit.iloc[0]["epsg"])))
            return placed
        weights = where["pop"].clip(lower=0).to_numpy()
        for k in rng.choice(len(where), size=n, p=weights / weights.sum()):
            r = where.iloc[k]
            pt = random_points(rng, r.geometry, 1)[0]
            if int(r["epsg"]) == 2154 and qpv_union.contains(pt):
                continue
            placed.append((pt, r["code_iris"], r["code_commune"], int(r["epsg"])))
        return placed

    def add(kind: str, places: list[tuple], **fields) -> None:
        for pt, code_iris, commune, epsg in places:
            rows.append({"kind": kind, "x": pt.x, "y": pt.y, "code_iris": code_iris, "commune": commune,
                         "epsg": epsg, **fields})

    n = lambda k: max(1, int(round(k * scale)))
    # the counted population: individual, active, non-employer riders and VTC drivers
    add("livreur", place(n(190), True, metro), ape="53.20Z")
    add("livreur", place(n(600), False, metro), ape="53.20Z")
    add("vtc", place(n(55), True, metro), ape="49.32Z")
    add("vtc", place(n(235), False, metro), ape="49.32Z")
    add("livreur_972", place(n(30), False, mtq), ape="53.20Z")           # overseas, EPSG:5490
    # traps
    add("ferme", place(n(150), False, metro), ape="53.20Z", etat="F")
    add("autre_ape", place(n(300), False, metro), ape=str(rng.choice(["56.10A", "47.11B", "49.41A", "53.10Z"])))
    add("societe", place(n(80), False, metro), ape="53.20Z", cj="5710")
    add("employeur", place(n(40), False, metro), ape="49.32Z", employeur="O")
    add("sans_geoloc", place(n(60), False, metro), ape="53.20Z")           # stock Lambert coordinates only
    add("qualite_faible", place(n(40), False, metro), ape="53.20Z")        # geocoded to the commune only
    add("diffusion_partielle", place(n(50), False, metro), ape="53.20Z")   # [ND], no coordinates
    df = pd.DataFrame(rows)
    # domiciliation addresses: dozens of registrations at one address / one point
    anchors = [("CCAS DE NIMES", "30189", "RUE", "DE LA REPUBLIQUE", "1", 35),
               ("DOMICILIATION EXPRESS", "66136", "BD", "VICTOR HUGO", "12", 30),
               ("", "81004", "RUE", "PASTEUR", "8", 25)]
    dom = []
    for complement, commune, tv, voie, num, count in anchors:
        base = metro[metro["code_commune"] == commune].iloc[0]
        pt = base.geometry.representative_point()
        for _ in range(n(count)):
            dom.append({"kind": "domiciliation", "x": pt.x, "y": pt.y, "code_iris": base["code_iris"],
                        "commune": commune, "epsg": 2154, "ape": "53.20Z", "complement": complement,
                        "typeVoie": tv, "voie": voie, "numero": num})
    df = pd.concat([df, pd.DataFrame(dom)], ignore_index=True)
    foreign = pd.DataFrame({"kind": "etranger", "ape": "53.20Z", "x": np.nan, "y": np.nan, "code_iris": None,
                            "commune": None, "epsg": np.nan}, index=range(n(10)))
    df = pd.concat([df, foreign], ignore_index=True)
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return build_files(df, rng, qpv)


def build_files(df: pd.DataFrame, rng: np.random.Generator, qpv) -> dict[str, pd.DataFrame]:
    m = len(df)
    siren = pd.Series(rng.choice(np.arange(300_000_000, 999_999_999), size=m, replace=False)).astype(str)
    nic = pd.Series([f"{v:05d}" for v in rng.integers(10, 99, size=m)])
    df["siren"], df["nic"] = siren, nic
    df["siret"] = siren + nic
    etat = df.get("etat", pd.Series(index=df.index, dtype=object)).fillna("A")
    employeur = df.get("employeur", pd.Series(index=df.index, dtype=object)).fillna("N")
    cj = df.get("cj", pd.Series(index=df.index, dtype=object)).fillna("1000")
    partial = df["kind"] == "diffusion_partielle"
    voie_idx = rng.integers(0, len(VOIES), size=m)
    created = pd.to_datetime("2016-01-01") + pd.to_timedelta(rng.integers(0, 2800, size=m), unit="D")
    etab = pd.DataFrame("", index=df.index, columns=ETAB_COLUMNS)
    etab["siren"], etab["nic"], etab["siret"] = df["siren"], df["nic"], df["siret"]
    etab["statutDiffusionEtablissement"] = np.where(partial, "P", "O")
    etab["dateCreationEtablissement"] = created.strftime("%Y-%m-%d")
    etab["dateDernierTraitementEtablissement"] = "2023-12-20T03:14:07.000"
    etab["etablissementSiege"] = "true"
    etab["nombrePeriodesEtablissement"] = "1"
    etab["numeroVoieEtablissement"] = df.get("numero", pd.Series(index=df.index, dtype=object)).fillna(
        pd.Series(rng.integers(1, 120, size=m).astype(str), index=df.index))
    etab["typeVoieEtablissement"] = df.get("typeVoie", pd.Series(index=df.index, dtype=object)).fillna(
        pd.Series([VOIES[i][0] for i in voie_idx], index=df.index))
    etab["libelleVoieEtablissement"] = df.get("voie", pd.Series(index=df.index, dtype=object)).fillna(
        pd.Series([VOIES[i][1] for i in voie_idx], index=df.index))
    etab["complementAdresseEtablissement"] = df.get("complement", pd.Series(index=df.index, dtype=object)).fillna("")
    etab["codeCommuneEtablissement"] = df["commune"].fillna("")
    etab["codePostalEtablissement"] = df["commune"].fillna("").str[:2] + "000"
    foreign = df["kind"] == "etranger"
    etab.loc[foreign, ["codePaysEtrangerEtablissement", "libellePaysEtrangerEtablissement",
                       "libelleCommuneEtrangerEtablissement", "codePostalEtablissement"]] = ["99131", "BELGIQUE", "BRUXELLES", ""]
    has_xy = df["x"].notna() & ~partial
    etab["coordonneeLambertAbscisseEtablissement"] = np.where(has_xy, df["x"].round(1).astype(str), "")
    etab["coordonneeLambertOrdonneeEtablissement"] = np.where(has_xy, df["y"].round(1).astype(str), "")
    for col in ("numeroVoieEtablissement", "typeVoieEtablissement", "libelleVoieEtablissement",
                "complementAdresseEtablissement", "coordonneeLambertAbscisseEtablissement",
                "coordonneeLambertOrdonneeEtablissement"):
        etab.loc[partial, col] = "[ND]"
    etab["dateDebut"] = etab["dateCreationEtablissement"]
    etab["etatAdministratifEtablissement"] = etat
    etab["activitePrincipaleEtablissement"] = df["ape"]
    etab["nomenclatureActivitePrincipaleEtablissement"] = "NAFRev2"
    etab["caractereEmployeurEtablissement"] = employeur
    etab["identifiantAdresseEtablissement"] = ""

    ul = pd.DataFrame("", index=df.index, columns=UL_COLUMNS)
    ul["siren"] = df["siren"]
    ul["statutDiffusionUniteLegale"] = np.where(partial, "P", "O")
    ul["unitePurgeeUniteLegale"] = ""
    ul["dateCreationUniteLegale"] = etab["dateCreationEtablissement"]
    individual = cj == "1000"
    ul["sexeUniteLegale"] = np.where(individual, rng.choice(["M", "F"], size=m, p=[0.9, 0.1]), "")
    ul["prenom1UniteLegale"] = np.where(individual, rng.choice(PRENOMS, size=m), "")
    ul["nomUniteLegale"] = np.where(individual, rng.choice(NOMS, size=m), "")
    ul.loc[partial, ["prenom1UniteLegale", "nomUniteLegale"]] = "[ND]"
    ul["denominationUniteLegale"] = np.where(individual, "", "LIVRAISONS " + pd.Series(rng.choice(NOMS, size=m)) + " SAS")
    ul["dateDernierTraitementUniteLegale"] = "2023-12-20T03:14:07.000"
    ul["nombrePeriodesUniteLegale"] = "1"
    ul["categorieEntreprise"] = "PME"
    ul["anneeCategorieEntreprise"] = "2021"
    ul["dateDebut"] = ul["dateCreationUniteLegale"]
    ul["etatAdministratifUniteLegale"] = np.where(etat == "F", "C", "A")
    ul["categorieJuridiqueUniteLegale"] = cj
    ul["activitePrincipaleUniteLegale"] = df["ape"]
    ul["nomenclatureActivitePrincipaleUniteLegale"] = "NAFRev2"
    ul["nicSiegeUniteLegale"] = df["nic"]
    ul["economieSocialeSolidaireUniteLegale"] = "N"
    ul["caractereEmployeurUniteLegale"] = employeur

    # the truth: the QPV each point lies in (real polygons), for tests and INSEE's codes below
    located = df["x"].notna().to_numpy()
    all_pts = shapely.points(df["x"].fillna(0).to_numpy(float), df["y"].fillna(0).to_numpy(float))
    truth_qpv = np.full(m, "", dtype=object)
    metro_all = (df["epsg"] == 2154).to_numpy() & located
    for code, poly in zip(qpv["code_qpv"], qpv.geometry):
        truth_qpv[metro_all & shapely.contains(poly, all_pts)] = code
    df["code_qpv_vrai"] = truth_qpv
    # geolocation file: INSEE's own zoning codes, computed here from the real polygons
    geo_rows = df[df["x"].notna() & ~partial & (df["kind"] != "sans_geoloc")].copy()
    qcode = np.where(geo_rows["code_qpv_vrai"] == "", "HZ", geo_rows["code_qpv_vrai"]).astype(object)
    geo = pd.DataFrame({
        "siret": geo_rows["siret"].to_numpy(),
        "x": geo_rows["x"].round(1).to_numpy(), "y": geo_rows["y"].round(1).to_numpy(),
        "qualite_xy": "11", "epsg": geo_rows["epsg"].astype(int).astype(str).to_numpy(),
        "plg_code_commune": geo_rows["commune"].to_numpy(),
        "plg_qp24": "", "plg_qp15": qcode,
        "plg_iris": geo_rows["code_iris"].str[5:].to_numpy(),
        "plg_zus": "HZ", "distance_precision": "0", "qualite_qp24": "", "qualite_qp15": "1", "qualite_iris": "1",
        "y_latitude": "", "x_longitude": "",
    })
    weak = (geo_rows["kind"] == "qualite_faible").to_numpy()
    geo.loc[weak, ["qualite_xy", "plg_iris", "plg_qp15", "qualite_iris", "qualite_qp15"]] = ["33", "", "", "", ""]
    z_unsplit = geo["plg_iris"] == "0000"
    geo.loc[z_unsplit, "plg_iris"] = "CSZ"          # commune without zoning into IRIS
    dup = geo.sample(n=min(5, len(geo)), random_state=1).copy()
    dup["qualite_xy"] = "22"                          # the same siret again, geocoded worse
    geo = pd.concat([geo, dup], ignore_index=True)
    truth = df[["siret", "kind", "ape", "code_iris", "commune", "code_qpv_vrai"]].copy()
    return {"etablissements": etab, "unites_legales": ul, "geolocalisation": geo, "verite": truth}


def write(files: dict[str, pd.DataFrame], out: Path, parquet: bool = False) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    names = {"etablissements": ("StockEtablissement_utf8", ","),
             "unites_legales": ("StockUniteLegale_utf8", ","),
             "geolocalisation": ("GeolocalisationEtablissement_Sirene_pour_etudes_statistiques_utf8", ";")}
    paths = {}
    for key, (stem, sep) in names.items():   # the truth table is never written: tests use it
        df = files[key]
        if parquet:
            path = out / f"{stem}.parquet"
            table = df.astype("string").replace("", pd.NA)
            for col in PARQUET_FLOATS.get(key, []):
                table[col] = pd.to_numeric(table[col]).astype("float32")
            table.to_parquet(path, index=False)
        else:
            buf = io.StringIO()
            df.to_csv(buf, sep=sep, index=False, lineterminator="\n")
            path = out / f"{stem}.zip"
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                info = zipfile.ZipInfo(f"{stem}.csv", date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())
        paths[key] = path
    note = ("Fichiers SIRENE SYNTHÉTIQUES générés par scripts/generate_sirene.py (graine, échelle en tête des "
            "fichiers de test). Aucun établissement réel. Date de référence fictive : " + DATE_REFERENCE)
    (out / "SYNTHETIQUE.txt").write_text(note + "\n", encoding="utf-8")
    # the registry's marker (registry.is_synthetic): a run reading these files, wherever they are, says synthetic
    (out / "SYNTHETIQUE.json").write_text(json.dumps({"synthetic": True, "generator": "scripts/generate_sirene.py",
                                                      "note": note}, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description="SYNTHETIC SIRENE files in the published layouts")
    parser.add_argument("--out", type=Path, default=SAMPLE / "sirene_synthetique" / DATE_REFERENCE[:7])
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--parquet", action="store_true")
    args = parser.parse_args()
    paths = write(generate(args.seed, args.scale), args.out, args.parquet)
    for k, p in paths.items():
        print(f"{k}: {p} (SYNTHETIC)")


if __name__ == "__main__":
    main()
