"""Write the layers: GeoParquet 1.1 (CRS, bbox covering), a GeoPackage twin, the dictionary,
the rejects table and the run report. Everything is written under a temporary name and renamed,
so a crash never leaves half a layer.

Layer schema (DESIGN.md contract; columns in this order, absent ones never renamed):

  iris          code_iris, nom_iris, typ_iris, then the parents below
  communes      code_commune, nom_commune, code_epci, nom_epci, code_departement, ...
  epci          code_epci, nom_epci, code_departement, nom_departement, code_region, nom_region
  departements  code_departement, nom_departement, code_region, nom_region
  regions       code_region, nom_region
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
    classe_<axis> (1-5, equal widths over the units of the layer), n_indicateurs,
    methode, reference, code_reference, millesime_rp, geometry (MultiPolygon)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd

from . import PACKAGE_DIR, __version__
from .compute import LEVELS, Computed
from .geometry import from_wkb
from .methods import BY_ID, IDS, SCORE_LABELS, SCORES, class_column
from .registry import sha256_of

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
    for ind in IDS:
        cols.append(f"ind_{ind}")
        if ind in ADDITIVE:
            cols += [f"num_{ind}", f"den_{ind}"]
        cols += [f"seuil_{ind}", f"pts_{ind}"]
    cols += list(SCORES)
    if method == "d4g-2020":
        cols += [f"{s}_entier" for s in SCORES]
    cols += [class_column(s) for s in SCORES]
    cols += ["n_indicateurs", "methode", "reference", "code_reference", "millesime_rp", "geometry"]
    return cols


def _names(kind: str) -> dict[str, str]:
    table = pd.read_csv(PACKAGE_DIR / "resources" / f"cog_{kind}.csv", sep=";", dtype=str)
    return dict(zip(table.iloc[:, 0], table["LIBELLE"]))


def build_layer(level: str, df: pd.DataFrame, method: str, reference: str, epsg: int,
                millesime_rp: int | None, sirene_synthetique: bool | None = None) -> gpd.GeoDataFrame:
    df = df.copy()
    key = KEYS[level][0]
    if level != "iris":
        df[key] = df["code"]
    df["nom_departement"] = df["code_departement"].map(_names("departements"))
    df["nom_region"] = df["code_region"].map(_names("regions"))
    df["methode"] = method
    df["reference"] = reference
    df["millesime_rp"] = millesime_rp
    df["sirene_synthetique"] = sirene_synthetique if "livreurs" in df else None
    columns = layer_columns(level, method)
    for col in columns:
        if col not in df.columns and col != "geometry":
            df[col] = np.nan
    geometry = from_wkb(df["wkb"])
    gdf = gpd.GeoDataFrame(df[[c for c in columns if c != "geometry"]].reset_index(drop=True),
                           geometry=gpd.GeoSeries(geometry, crs=epsg).reset_index(drop=True), crs=epsg)
    for col in [c for c in columns if c.startswith(("code_", "nom_", "typ_", "codes_")) or c in
                ("methode", "reference", "source_revenu", "source_poids", "liste_qpv", "date_sirene")]:
        gdf[col] = gdf[col].astype("string")
    for col in [c for c in columns if c.startswith("classe_")] + ["n_indicateurs", "n_iris", "n_iris_qpv", "millesime_rp",
                                                                 "livreurs", "vtc"]:
        if col in gdf:
            gdf[col] = gdf[col].astype("Int64")
    return gdf.sort_values(key).reset_index(drop=True)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside target, renamed onto it only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp) if os.path.isfile(tmp) else shutil.rmtree(tmp)


def write_geoparquet(gdf: gpd.GeoDataFrame, target: Path) -> None:
    with atomic_path(target) as tmp:
        gdf.to_parquet(tmp, index=False, schema_version="1.1.0", write_covering_bbox=True,
                       compression="zstd")


# GeoPackage stores the time it was written; fixed, so that the same inputs give the same bytes
GPKG_DATE = "2000-01-01T00:00:00Z"


def write_gpkg(gdf: gpd.GeoDataFrame, target: Path, layer: str) -> None:
    os.environ["OGR_CURRENT_DATE"] = GPKG_DATE
    with atomic_path(target) as tmp:
        out = gdf.copy()
        for col in out.columns:  # GeoPackage has no nullable integer: write them as real numbers
            if str(out[col].dtype) == "Int64":
                out[col] = out[col].astype("float64")
        out.to_file(tmp, driver="GPKG", layer=layer, engine="pyogrio")


def write_json(obj, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def dictionary(method: str, reference: str, provenance: dict, epsg: int) -> dict:
    """Every column: label, unit, source, vintage, method."""
    sources = {sid: {"millesime": p.get("millesime"), "files": [f["path"] for f in p.get("files", [])]}
               for sid, p in provenance.items()}
    rp = [p.get("millesime") for sid, p in provenance.items() if sid.startswith("rp_") and p.get("millesime")]
    rp_vintage = rp[0] if rp else provenance.get("mednum_kit_2020", {}).get("millesime") and 2016
    src_of = {
        "couverture_fixe": "ARCEP (not read yet)", "couverture_mobile": "ARCEP (not read yet)",
        "taux_pauvrete": "INSEE Filosofi (DISP_TP60, IRIS; communal value for small communes)",
        "revenu_median": "INSEE Filosofi (DISP_MED, IRIS; MED communal value for small communes)",
        "services_publics": "INSEE BPE (not read yet)",
        "chomeurs_15_64": "INSEE RP activité des résidents (CHOM1564 / ACT1564)",
    }
    cols: dict[str, dict] = {
        "code_iris": {"label": "Code IRIS (9 caractères)", "unit": "code", "source": "INSEE RP / IGN CONTOURS-IRIS"},
        "nom_iris": {"label": "Nom de l'IRIS", "unit": "texte", "source": "IGN CONTOURS-IRIS"},
        "typ_iris": {"label": "Type d'IRIS (H habitat, A activité, D divers, Z commune non découpée)", "unit": "code"},
        "code_commune": {"label": "Code commune (COG)", "unit": "code"},
        "nom_commune": {"label": "Nom de la commune", "unit": "texte"},
        "code_epci": {"label": "Code SIREN de l'EPCI (ZZZZZZZZZ : sans EPCI)", "unit": "code", "source": "INSEE composition des EPCI"},
        "nom_epci": {"label": "Nom de l'EPCI", "unit": "texte"},
        "code_departement": {"label": "Code département", "unit": "code"},
        "nom_departement": {"label": "Nom du département", "unit": "texte", "source": "COG INSEE"},
        "code_region": {"label": "Code région", "unit": "code"},
        "nom_region": {"label": "Nom de la région", "unit": "texte", "source": "COG INSEE"},
        "population": {"label": "Population (RP, population des ménages et hors ménages)", "unit": "personnes", "source": "INSEE RP", "vintage": rp_vintage},
        "actifs_occupes": {"label": "Actifs occupés de 15 ans ou plus", "unit": "personnes", "source": "INSEE RP activité", "vintage": rp_vintage},
        "source_revenu": {"label": "Échelle du revenu et du taux de pauvreté : iris, ou commune quand Filosofi ne publie pas l'IRIS", "unit": "code"},
        "n_iris": {"label": "Nombre d'IRIS sommés", "unit": "IRIS"},
        "n_indicateurs": {"label": "Nombre d'indicateurs disponibles dans le score", "unit": "indicateurs", "method": method},
        "methode": {"label": "Méthode de score (ifn-2020, kit-2020, d4g-2020)", "unit": "code"},
        "reference": {"label": "Niveau du territoire de référence des seuils", "unit": "code"},
        "code_reference": {"label": "Code du territoire de référence (seuils)", "unit": "code"},
        "millesime_rp": {"label": "Millésime du recensement", "unit": "année"},
        "geometry": {"label": "Contour (MultiPolygon)", "unit": f"EPSG:{epsg}", "source": "IGN CONTOURS-IRIS, unions d'IRIS au-dessus ; contours ANCT des QPV"},
        "part_population_qpv": {"label": "Part de la population de l'IRIS vivant en QPV (somme des poids IRIS x QPV)", "unit": "share", "method": "two-class dasymetric, Filosofi 200 m (or area)"},
        "codes_qpv": {"label": "Codes des QPV où vivent des habitants de l'IRIS", "unit": "codes"},
        "code_qpv": {"label": "Code du QPV", "unit": "code", "source": "ANCT"},
        "nom_qpv": {"label": "Nom du QPV", "unit": "texte", "source": "ANCT"},
        "codes_communes_qpv": {"label": "Communes du QPV, telles que publiées", "unit": "codes"},
        "liste_qpv": {"label": "Géographie prioritaire (liste 2015 ou 2024)", "unit": "année"},
        "population_officielle": {"label": "Population municipale publiée du QPV", "unit": "personnes", "source": "INSEE (DEMO 2020 / pop_QPV24)"},
        "part_60_plus": {"label": "Part des 60 ans ou plus (estimée : comptes IRIS répartis)", "unit": "share", "source": "INSEE RP"},
        "part_60_plus_officielle": {"label": "Part des 60 ans ou plus publiée (TX_TOT_60ETPLUS)", "unit": "share", "source": "INSEE DEMO par QPV"},
        "taux_pauvrete_officiel": {"label": "Taux de pauvreté publié (tp60)", "unit": "share", "source": "INSEE Filosofi par QPV, via ANCT"},
        "taux_emploi_officiel": {"label": "Taux d'emploi des 15-64 ans publié", "unit": "share", "source": "INSEE RP par QPV, via ANCT"},
        "source_poids": {"label": "Source principale des poids IRIS x QPV (carreaux_200m ou surface)", "unit": "code"},
        "part_poids_carreaux": {"label": "Part de la population allouée par les carreaux 200 m", "unit": "share"},
        "n_iris_qpv": {"label": "Nombre d'IRIS qui recoupent le QPV", "unit": "IRIS"},
        "livreurs": {"label": "Livreurs : établissements SIRENE retenus (APE 53.20Z, EI, actifs, non employeurs, hors domiciliations) localisés dans l'unité", "unit": "établissements", "source": "INSEE SIRENE (stock + géolocalisation)"},
        "vtc": {"label": "Chauffeurs VTC : établissements SIRENE retenus (APE 49.32Z, mêmes règles)", "unit": "établissements", "source": "INSEE SIRENE"},
        "livreurs_pour_mille": {"label": "Livreurs pour 1 000 actifs occupés résidents", "unit": "pour mille", "source": "INSEE SIRENE, RP activité"},
        "vtc_pour_mille": {"label": "Chauffeurs VTC pour 1 000 actifs occupés résidents", "unit": "pour mille", "source": "INSEE SIRENE, RP activité"},
        "quotient_localisation_livreurs": {"label": "Quotient de localisation des livreurs (part locale / part sur tout le territoire du run)", "unit": "ratio"},
        "quotient_localisation_vtc": {"label": "Quotient de localisation des chauffeurs VTC", "unit": "ratio"},
        "date_sirene": {"label": "Date du stock SIRENE (dernier traitement le plus récent)", "unit": "date"},
        "sirene_synthetique": {"label": "VRAI si les fichiers SIRENE de ce run sont SYNTHÉTIQUES (échantillon embarqué) : les comptes de plateformes ne décrivent alors aucune réalité", "unit": "booléen"},
        "facteur_calibration": {"label": "Facteur appliqué pour atteindre la population publiée (--qpv-calibration population)", "unit": "ratio"},
    }
    for ind in IDS:
        info = BY_ID[ind]
        source = src_of.get(ind, "INSEE RP")
        cols[f"ind_{ind}"] = {"label": info.label, "unit": info.unit, "source": source, "vintage": rp_vintage, "method": method}
        if ind in ADDITIVE:
            cols[f"num_{ind}"] = {"label": f"Numérateur : {info.numerator}", "unit": "personnes/ménages/familles", "source": source}
            cols[f"den_{ind}"] = {"label": f"Dénominateur : {info.denominator}", "unit": "personnes/ménages/familles", "source": source}
        cols[f"seuil_{ind}"] = {"label": f"Seuil ({reference}) : {info.label}", "unit": info.unit, "method": method}
        cols[f"pts_{ind}"] = {"label": f"Points : {info.label}", "unit": "points (base 100)", "method": method}
    for score in SCORES:
        cols[score] = {"label": SCORE_LABELS[score], "unit": "points (base 100, plus = plus fragile)", "method": method}
        cols[f"{score}_entier"] = {"label": f"{SCORE_LABELS[score]}, partie entière (colonnes * du jeu 2020)", "unit": "points", "method": "d4g-2020"}
        cols[class_column(score)] = {"label": f"Classe 1-5 (amplitudes égales) : {SCORE_LABELS[score]}", "unit": "classe", "method": method}
    notes = {
        "taux_pauvrete": "numérateur = taux Filosofi x population RP : approximation (population fiscale et population du recensement diffèrent)",
        "revenu_median": "au-dessus de la commune : médiane des médianes communales pondérée par la population (approximation)",
    }
    return {
        "fragilite_version": __version__,
        "method": method,
        "reference": reference,
        "crs": f"EPSG:{epsg}",
        "sources": sources,
        "notes": notes,
        "columns": cols,
        "layers": {level: layer_columns(level, method) for level in [*LEVELS, "qpv"]},
    }


def sirene_is_synthetic(provenance: dict) -> bool | None:
    """Whether the run's SIRENE files are synthetic (None: the run had no SIRENE)."""
    files = [f for sid, p in provenance.items() if sid.startswith("sirene_") for f in p.get("files", [])]
    return any(f.get("synthetic") for f in files) if files else None


def write_outputs(computed: Computed, out_dir: Path, method: str, reference: str,
                  provenance: dict, started: float, failures: list[str] | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    rp = [p.get("millesime") for sid, p in provenance.items() if sid.startswith("rp_") and p.get("millesime")]
    millesime_rp = rp[0] if rp else (2016 if "mednum_kit_2020" in provenance else None)
    sirene_synthetique = sirene_is_synthetic(provenance)
    written = {}
    layers = {}
    for level in computed.layers:
        df = pd.read_parquet(computed.layers[level])
        gdf = build_layer(level, df, method, reference, computed.epsg, millesime_rp, sirene_synthetique)
        layers[level] = gdf
    # build everything first, then write: a failure above leaves the old outputs untouched
    # two files at a time: GDAL, Arrow and GEOS release the GIL; each file is still atomic
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(write_geoparquet, gdf, out_dir / f"{level}.parquet") for level, gdf in layers.items()]
        jobs += [pool.submit(write_gpkg, gdf, out_dir / f"{level}.gpkg", level) for level, gdf in layers.items()]
        for job in jobs:
            job.result()
    for level, gdf in layers.items():
        written[level] = {"parquet": str(out_dir / f"{level}.parquet"), "gpkg": str(out_dir / f"{level}.gpkg"),
                          "rows": int(len(gdf))}
    rejects = pd.read_parquet(computed.rejects)
    with atomic_path(out_dir / "rejects.csv") as tmp:
        rejects.to_csv(tmp, index=False)
    for name, path in computed.tables.items():
        table = pd.read_parquet(path)
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
        written[name] = {"csv": str(out_dir / f"{name}.csv"), "rows": int(len(table))}
    write_json(dictionary(method, reference, provenance, computed.epsg), out_dir / "dictionary.json")
    report = {
        "fragilite_version": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.time() - started, 2),
        "method": method,
        "reference": reference,
        "crs": f"EPSG:{computed.epsg}",
        "inputs": provenance,
        "stats": computed.stats,
        "notes": computed.notes,
        "echecs": list(failures or []),
        "outputs": {level: {**info, "sha256": sha256_of(Path(info.get("parquet") or info["csv"]))}
                    for level, info in written.items()},
        "rejects": {"file": str(out_dir / "rejects.csv"), "rows": int(len(rejects))},
    }
    write_json(report, out_dir / "run_report.json")
    with atomic_path(out_dir / "run_report.md") as tmp:
        tmp.write_text(report_markdown(report), encoding="utf-8")
    return report


def report_markdown(report: dict) -> str:
    lines = ["# fragilite run report", ""]
    if report.get("echecs"):
        lines += ["## FAILED inputs: their units are missing from the layers", ""]
        lines += [f"- {f}" for f in report["echecs"]] + [""]
    lines += [
             f"- method: `{report['method']}`, reference: `{report['reference']}`, CRS: {report['crs']}",
             f"- duration: {report['duration_s']} s", "", "## Inputs", "",
             "| source | millésime | file | sha256 | rows staged (read) |", "|---|---|---|---|---|"]
    for sid, p in report["inputs"].items():
        rows = str(p.get("rows", ""))
        if p.get("rows_read") is not None:
            rows += f" ({p['rows_read']})"
        for f in p.get("files", []):
            flag = " **SYNTHETIC**" if f.get("synthetic") else ""
            lines.append(f"| {sid}{flag} | {p.get('millesime') or ''} | `{f['path']}` | `{f['sha256'][:12]}…` | {rows} |")
    lines += ["", "## Outputs", "", "| output | rows |", "|---|---|"]
    for level, info in report["outputs"].items():
        lines.append(f"| {level} | {info['rows']} |")
    if "qpv_comparaison" in report["stats"]:
        lines += ["", "## QPV: our allocation against INSEE's published figures", "",
                  f"Calibration: `{report['stats'].get('qpv_calibration')}`. Per QPV in `qpv_comparaison.csv`.", "",
                  "| weights | QPV | median abs. error, population | total ours / official | median abs. gap, 60+ (pts) | median abs. gap, poverty (pts) |",
                  "|---|---|---|---|---|---|"]
        for r in report["stats"]["qpv_comparaison"]:
            pts = lambda k: f"{100 * r[k]:.1f}" if k in r else "–"
            lines.append(f"| {r['source_poids']} | {r['qpv']} | {100 * r['erreur_mediane_population']:.1f} % | "
                         f"{r['total_estime_sur_officiel']:.2f} | {pts('ecart_median_part_60_plus')} | {pts('ecart_median_taux_pauvrete')} |")
    pf = report["stats"].get("plateformes")
    if pf:
        synthetic = sirene_is_synthetic(report["inputs"])
        lines += ["", "## Platform workers (SIRENE, " + str(pf.get("date_sirene")) + ")", ""]
        if synthetic:
            lines += ["**The SIRENE files of this run are SYNTHETIC: these counts describe nothing real.**", ""]
        pct = lambda v: "–" if v is None else f"{100 * v:.1f} %"
        lines += ["| profession | establishments | in a QPV | share in QPV | share of workers in QPV | over-representation |",
                  "|---|---|---|---|---|---|"]
        for r in pf["synthese"]:
            ratio = "–" if r["surrepresentation"] is None else f"{r['surrepresentation']:.2f}"
            lines.append(f"| {r['profession']} | {r['etablissements']} | {r['en_qpv']} | {pct(r['part_en_qpv'])} | "
                         f"{pct(r['part_actifs_occupes_en_qpv'])} | {ratio} |")
        lines += ["", "Left out: " + ", ".join(f"{r['profession']} {r['statut']} {r['n']}" for r in pf["exclusions"]
                                             if r["statut"] != "compté") + ".",
                  "Located by: " + ", ".join(f"{r['chemin_iris']} {r['n']}" for r in pf["chemins"]) + ".",
                  f"INSEE's IRIS code and our polygon disagree on {pf['desaccord_iris']['differents']} of "
                  f"{pf['desaccord_iris']['comparables']} establishments having both; QPV: "
                  f"{pf['desaccord_qpv']['differents']} of {pf['desaccord_qpv']['comparables']}."]
    lines += ["", f"Rejected units: {report['rejects']['rows']} (see `rejects.csv`)."]
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"
