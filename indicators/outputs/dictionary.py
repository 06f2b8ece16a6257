"""dictionary.json: every column of every layer, with its label, unit, source, vintage and method."""

from __future__ import annotations

from indicators import __version__
from indicators.outputs.layers import ADDITIVE, layer_columns
from indicators.stages.classes import SCHEME_SHORT
from indicators.stages.levels import LEVELS
from indicators.stages.deciles import INDICATORS_2023
from indicators.stages.methods import BY_ID, IDS, IFN_2023, SCORE_LABELS, SCORES, class_column
from indicators.stages.reliability import (COMPLEMENTARY, CENSUS_INDICATORS_2023, INSEE_ADVICE, MIN_DENOMINATOR,
                                           census_indicators, flag_column)
from indicators.stages.scoring import ABSENT_RULE


def dictionary(method: str, reference: str, provenance: dict, epsg: int, deciles: dict | None = None,
               stats: dict | None = None) -> dict:
    """Every column: label, unit, source, vintage, method. `deciles`: ifn-2023's cut points as the
    run report has them (stats["deciles"]), kept here for explain and the web map. `stats`: the
    run's, which say where the commune-level indicators came from (ARCEP, BPE, the user's figures),
    how each layer was classed ("classes": the bounds, stages/classes.py) and the reliability rule
    ("fiabilite", stages/reliability.py)."""
    stats = stats or {}
    sources = {sid: {"millesime": p.get("millesime"), "files": [f["path"] for f in p.get("files", [])],
                     "synthetique": any(f.get("synthetic") for f in p.get("files", []))}
               for sid, p in provenance.items()}
    rp = [p.get("millesime") for sid, p in provenance.items() if sid.startswith("rp_") and p.get("millesime")]
    rp_vintage = rp[0] if rp else provenance.get("mednum_kit_2020", {}).get("millesime") and 2016
    scheme = stats.get("classes", {}).get("schema")
    reliability = reliability_entries(stats.get("fiabilite", {}).get("effectif_minimal", MIN_DENOMINATOR), method)
    if method == IFN_2023:
        cols = {**fixed_columns(method, rp_vintage, epsg), **columns_2023(rp_vintage, scheme), **reliability}
        document = {**_document(method, reference, epsg, sources, cols), **ABOUT_2023, "seuils_deciles": deciles}
    else:
        origins = stats.get("sources_communales", {}).get("indicateurs", {})
        cols = {**fixed_columns(method, rp_vintage, epsg),
                **indicator_columns(method, reference, rp_vintage, origins, scheme), **reliability}
        cols.update(smoothing_entries(stats.get("lissage"), cols))
        document = _document(method, reference, epsg, sources, cols)
        document["lissage"] = {k: v for k, v in (stats.get("lissage") or {"methode": "aucun"}).items()
                               if k != "par_couche"}
    document["classes"] = stats.get("classes", {})
    document["fiabilite"] = {**{k: v for k, v in stats.get("fiabilite", {}).items() if k != "par_couche"},
                             "regle": "fiable_<id> faux quand le dénominateur de l'indicateur (effectif du "
                                      "recensement) est inférieur à effectif_minimal ; fiabilite = nombre de tels "
                                      "indicateurs dans le score de l'unité",
                             "source": INSEE_ADVICE}
    return document


def reliability_entries(min_denominator: float, method: str | None = None) -> dict[str, dict]:
    """The reliability columns and the class scheme column."""
    threshold = f"{min_denominator:g}"
    cols = {
        "fiabilite": {"label": f"Nombre d'indicateurs du score reposant sur un effectif du recensement inférieur à "
                               f"{threshold} (0 : aucun ; les effectifs inférieurs à 200 « doivent être maniés avec "
                               "précaution », Insee)", "unit": "indicateurs", "method": "stages/reliability.py"},
        "methode_classes": {"label": "Méthode des classes classe_* (quantiles, fisher-jenks, equal-width) ; bornes "
                                     "dans la section classes du dictionnaire", "unit": "code"},
    }
    for ind in census_indicators(method):
        note = (" ; indicateur de l'exploitation complémentaire : l'Insee déconseille ses données pour les zones de "
                "moins de 2 000 habitants (non appliqué)") if ind in COMPLEMENTARY else ""
        cols[flag_column(ind)] = {"label": f"Faux si le dénominateur de {ind} est inférieur à {threshold} "
                                           f"(vide si l'indicateur n'a pas de valeur){note}", "unit": "booléen",
                                  "method": "stages/reliability.py"}
    return cols


ABOUT_2023 = {
    "method_label": "ifn-2023 : reconstruction « 2023-like » de l'indice de La MedNum publié en mars 2023 "
                    "(fragilite-numerique.fr), retrouvée à partir de ses scores publiés (METHODS 1.4) ; "
                    "La MedNum n'a pas publié sa transformation : ce n'est pas son calcul officiel",
    "cut_points": "seuils_deciles.csv : pour chaque indicateur, borne_s = la plus grande valeur notée s ou "
                  "moins (s = 1..9 ; vide : aucune valeur n'est notée si bas), le nombre d'unités classées et "
                  "le territoire qu'elles couvrent ; à redonner à un autre run avec --seuils-deciles",
}
SOURCE_2023 = {
    "non_couverture_thd": "ARCEP « Ma connexion internet », statistiques communales (locaux par classe de débit ; "
                          "sous le débit de --debit-thd, 30 Mbit/s par défaut)",
    "non_couverture_4g": "indicateurs_communes, colonne couverture_4g (valeur communale fournie par l'utilisateur ; "
                         "aucune source réelle ici)",
    "65_plus": "INSEE RP (POP65P / POP)",
    "peu_diplomes": "INSEE RP diplômes (non ou peu diplômés / NSCOL15P)",
    "pauvrete": "INSEE Filosofi (DISP_TP60, IRIS ; valeur communale pour les communes non découpées)",
}


def smoothing_entries(smoothing: dict | None, cols: dict[str, dict]) -> dict[str, dict]:
    """The `lissage` column; with --lissage, the smoothed ind_<id> of `cols` say so (never silently)."""
    out = {"lissage": {"label": "Lissage des taux du recensement : aucun, ou bayes-empirique (ind_<id> lissés vers le "
                                "taux du territoire de référence ; num_<id> et den_<id> restent les effectifs bruts)",
                       "unit": "code", "method": "stages/smoothing.py"}}
    if smoothing and smoothing.get("methode") != "aucun":
        for ind in smoothing.get("indicateurs", []):
            out[f"ind_{ind}"] = {**cols[f"ind_{ind}"], "label": f"{BY_ID[ind].label} — LISSÉ : {smoothing['libelle']}",
                                 "method": f"{smoothing['methode']} (stages/smoothing.py)"}
    return out


# why ifn-2023's score_total is classed in quintiles by default (stages/classes.py)
CLASSES_2023 = ("score_total est une moyenne de déciles : il se concentre autour de 5,5 et des classes fixes "
                "sur l'échelle 1-10 laisseraient les classes extrêmes presque vides ; les quintiles des unités "
                "de la couche font de la classe 5 « les 20 % d'unités au score total le plus haut »")


def columns_2023(rp_vintage, scheme: str | None = None) -> dict[str, dict]:
    """The values, counts, 1-10 scores and class of ifn-2023."""
    cols: dict[str, dict] = {}
    for name, label in INDICATORS_2023.items():
        cols[f"val_{name}"] = {"label": f"{label} (taux de l'unité ; THD et 4G : valeur communale, "
                                        "locaux sommés au-dessus de la commune)", "unit": "share",
                               "source": SOURCE_2023[name], "vintage": rp_vintage, "method": IFN_2023}
        cols[f"score_{name}"] = {"label": f"Score 1-10 (10 = plus à risque) : {label}. IRIS et communes non "
                                          "découpées : décile parmi les unités (entier, ex aequo au rang le plus "
                                          "haut) ; au-dessus : moyenne des scores des unités pondérée par la "
                                          "population", "unit": "score 1-10", "method": IFN_2023}
    for name, count in CENSUS_INDICATORS_2023.items():
        info = BY_ID[count]
        cols[f"num_{name}"] = {"label": f"Numérateur de val_{name} : {info.numerator}", "unit": "personnes",
                               "source": SOURCE_2023[name], "vintage": rp_vintage}
        cols[f"den_{name}"] = {"label": f"Dénominateur de val_{name} : {info.denominator} (effectif du recensement "
                                        "dont dépend fiable_" + name + ")", "unit": "personnes",
                               "source": SOURCE_2023[name], "vintage": rp_vintage}
    cols["score_total"] = {"label": "Score total 1-10 : moyenne des scores présents (n_indicateurs)",
                           "unit": "score 1-10", "method": IFN_2023}
    cols["classe_total"] = {"label": f"Classe 1-5 du score total ({SCHEME_SHORT.get(scheme, scheme)}, 1 = moins "
                                     f"fragile ; bornes dans la section classes). Pourquoi : {CLASSES_2023}",
                            "unit": "classe", "method": scheme or IFN_2023}
    return cols


# where each indicator comes from, when not from the census; the run's own figures (which file,
# which speed, which BPE types, which communes the user gave) replace these where it has them
SOURCE_OF = {
    "couverture_fixe": "ARCEP Ma connexion internet (locaux éligibles à la vitesse --debit-fixe ou plus / locaux): "
                       "none in this run",
    "couverture_mobile": "no source read by the pipeline: only --input indicateurs_communes=FILE gives it",
    "taux_pauvrete": "INSEE Filosofi (DISP_TP60, IRIS; communal value for small communes)",
    "revenu_median": "INSEE Filosofi (DISP_MED, IRIS; MED communal value for small communes)",
    "services_publics": "INSEE BPE (équipements des types --services-publics / population): none in this run",
    "chomeurs_15_64": "INSEE RP activité des résidents (CHOM1564 / ACT1564)",
}
# how an IRIS of a commune gets a commune figure (the dictionary's notes)
SPLIT_NOTES = {
    "couverture_fixe": "ARCEP compte les locaux par commune : chaque IRIS reçoit une part des locaux et la même part "
                       "des locaux éligibles, proportionnelle à ses ménages (RP ; sa population si la commune n'a "
                       "aucun ménage compté) ; l'IRIS a donc le taux de sa commune, les IRIS somment aux chiffres "
                       "ARCEP de la commune et les niveaux supérieurs cumulent les locaux. Paris, Lyon, Marseille "
                       "(publiés entiers) sont répartis de même entre leurs arrondissements.",
    "services_publics": "compte BPE par IRIS ; les équipements d'un code IRIS inconnu du recensement sont répartis "
                        "entre les IRIS de leur commune selon la population ; 0 (et non vide) pour une unité d'un "
                        "département couvert par la BPE sans aucun des types retenus.",
    "indicateurs_communes": "une valeur communale fournie par l'utilisateur s'applique à chaque IRIS de la commune, "
                            "avec le dénominateur de la source (sinon la population) ; la commune a exactement la "
                            "valeur fournie.",
}


def fixed_columns(method: str, rp_vintage, epsg: int) -> dict[str, dict]:
    """Codes, names, counts and the columns of the QPV and platform-worker stages."""
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
        "territoire_complet": {"label": "Territoire entier dans les fichiers d'entrée : faux quand des départements "
                                        "(région, d'après le COG) ou des communes (EPCI, d'après la composition des EPCI) "
                                        "y manquent ; le score ne porte alors que sur la partie présente (vide : "
                                        "composition inconnue)", "unit": "booléen", "source": "COG INSEE ; INSEE composition des EPCI"},
        "n_indicateurs": {"label": "Nombre d'indicateurs disponibles dans le score", "unit": "indicateurs", "method": method},
        "methode": {"label": "Méthode de score (ifn-2020, kit-2020, d4g-2020, ifn-2023)", "unit": "code"},
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
        "sirene_synthetique": {"label": "VRAI si les fichiers SIRENE de ce run sont SYNTHÉTIQUES (échantillon embarqué, ou jeu généré marqué par un SYNTHETIQUE.json) : les comptes de plateformes ne décrivent alors aucune réalité", "unit": "booléen"},
        "facteur_calibration": {"label": "Facteur appliqué pour atteindre la population publiée (--qpv-calibration population)", "unit": "ratio"},
    }
    return cols


def indicator_columns(method: str, reference: str, rp_vintage, origins: dict | None = None,
                      scheme: str | None = None) -> dict[str, dict]:
    """Per indicator its value, numerator, denominator, threshold and points; then the scores."""
    cols: dict[str, dict] = {}
    for ind in IDS:
        info = BY_ID[ind]
        source = " ; ".join((origins or {}).get(ind, [])) or SOURCE_OF.get(ind, "INSEE RP")
        cols[f"ind_{ind}"] = {"label": info.label, "unit": info.unit, "source": source, "vintage": rp_vintage, "method": method}
        if ind in ADDITIVE:
            cols[f"num_{ind}"] = {"label": f"Numérateur : {info.numerator}", "unit": "personnes/ménages/familles", "source": source}
            cols[f"den_{ind}"] = {"label": f"Dénominateur : {info.denominator}", "unit": "personnes/ménages/familles", "source": source}
        cols[f"seuil_{ind}"] = {"label": f"Seuil ({reference}) : {info.label}", "unit": info.unit, "method": method}
        cols[f"pts_{ind}"] = {"label": f"Points : {info.label}", "unit": "points (base 100)", "method": method}
    for score in SCORES:
        cols[score] = {"label": SCORE_LABELS[score], "unit": "points (base 100, plus = plus fragile)", "method": method}
        cols[f"{score}_entier"] = {"label": f"{SCORE_LABELS[score]}, partie entière (colonnes * du jeu 2020)", "unit": "points", "method": "d4g-2020"}
        cols[class_column(score)] = {"label": f"Classe 1-5 ({SCHEME_SHORT.get(scheme, 'amplitudes égales')}, 1 = moins "
                                              f"fragile) : {SCORE_LABELS[score]}", "unit": "classe", "method": scheme or method}
    return cols


def _document(method: str, reference: str, epsg: int, sources: dict, cols: dict) -> dict:
    notes = {
        "taux_pauvrete": "numérateur = taux Filosofi x population RP : approximation (population fiscale et population du recensement diffèrent)",
        "revenu_median": "au-dessus de la commune : médiane des médianes communales pondérée par la population (approximation)",
        **SPLIT_NOTES,
        "indicateurs_absents": {m: rule for m, rule in ABSENT_RULE.items()},
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
