"""One unit's score explained, indicator by indicator: the content `fragilite explain` prints and
the web map's panel shows (both call `explanation`, so they cannot drift apart).

An explanation holds, for a unit of a layer: its level, code, name and parents, population,
method and reference territory; for each indicator of METHODS 1.1 its value, numerator,
denominator, threshold (seuil), points, source and reliability flag; the seven scores and their
classes; `n_indicateurs`; `fiabilite`. A unit of an ifn-2023 run has its own shape instead
(`explanation_2023`: per indicator its value and 1-10 score, and the cut points around it). Values are the layer's, unrounded: formatting is the
reader's (the terminal prints decimals, the map French numbers and percentages).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from indicators.stages import levels
from indicators.stages.deciles import INDICATORS_2023
from indicators.stages.methods import AXES, BY_ID, IDS, IFN_2023, SCORE_LABELS, SCORES, class_column
from indicators.stages.reliability import flag_column
from indicators.stages.scoring import REFERENCE_LEVEL, reference_level

# the order in which `explain CODE` looks for a code (an IRIS and an EPCI may share 9 digits)
LEVELS = [*levels.LEVELS, "qpv"]
KEY = {level: levels.LEVEL_KEY[level] for level in LEVELS}
NAME = {"iris": "nom_iris", "communes": "nom_commune", "epci": "nom_epci",
        "departements": "nom_departement", "regions": "nom_region", "qpv": "nom_qpv"}
LEVEL_LABELS = {"iris": "IRIS", "communes": "Commune", "epci": "EPCI", "departements": "Département",
                "regions": "Région", "qpv": "Quartier prioritaire (QPV)"}
# the parents named under a unit's title, nearest first
PARENTS = {"iris": ["nom_commune", "nom_epci", "nom_departement"], "communes": ["nom_epci", "nom_departement"],
           "epci": ["nom_departement", "nom_region"], "departements": ["nom_region"], "regions": [],
           "qpv": ["nom_commune", "nom_departement"]}
# reliability (stages/reliability.py): the per-unit count of flagged indicators; per indicator,
# fiable_<id> is false when its denominator is a small census count
RELIABILITY = "fiabilite"
FIELDS = ["value", "numerator", "denominator", "threshold", "points", "small_count"]


def _num(v):
    """A plain float, or None for NULL/NaN (so JSON and formatting see one kind of missing)."""
    if v is None or v is pd.NA:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _text(v):
    return v if isinstance(v, str) and v else None


def _flag(v):
    """A plain bool, or None for NULL (a layer without the column, a unit nothing knows of)."""
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else bool(v)


def indicator_meta(dictionary: Mapping | None = None) -> list[dict]:
    """What does not change from unit to unit: label, axis, unit, source of each indicator (from
    the run's dictionary.json when given, else from the method's definitions)."""
    columns = (dictionary or {}).get("columns", {})
    meta = []
    for ind in IDS:
        info = BY_ID[ind]
        col = columns.get(f"ind_{ind}", {})
        meta.append({"id": ind, "label": info.label, "axis": info.axis, "axis_label": AXES[info.axis],
                     "unit": info.unit, "source": col.get("source", "INSEE RP"), "vintage": col.get("vintage"),
                     "additive": info.numerator is not None})
    return meta


def score_meta() -> list[dict]:
    return [{"id": s, "label": SCORE_LABELS[s], "classe": class_column(s)} for s in SCORES]


def unit_name(level: str, row: Mapping) -> str:
    return _text(row.get(NAME[level])) or ""


def reference_territory(level: str, reference: str | None, code: str | None) -> str | None:
    """The territory whose thresholds scored the unit, named: a unit as large as the `--reference`
    level is scored against the next level up (stages/scoring.py), so a région of a run with
    `--reference region` was scored against France, not against "the région FR"."""
    if not reference or not code or reference not in REFERENCE_LEVEL:
        return None
    scored_against = reference_level(level, reference)
    return "France" if scored_against == "france" else f"{LEVEL_LABELS[scored_against].lower()} {code}"


def _scored_higher(expl: dict) -> bool:
    reference = expl.get("reference")
    return (reference in REFERENCE_LEVEL and expl.get("territoire_reference") is not None
            and reference_level(expl["level"], reference) != REFERENCE_LEVEL[reference])


def _header(level: str, row: Mapping) -> dict:
    return {"level": level, "level_label": LEVEL_LABELS[level], "code": str(row.get(KEY[level])),
            "name": unit_name(level, row), "parents": [p for p in (_text(row.get(c)) for c in PARENTS[level]) if p],
            "population": _num(row.get("population")), "method": _text(row.get("methode")),
            # false: a région or EPCI only part of which is in the inputs (stages/coverage.py)
            "territoire_complet": _flag(row.get("territoire_complet"))}


def explanation(level: str, row: Mapping, dictionary: Mapping | None = None, meta: list[dict] | None = None) -> dict:
    """Everything a reader needs to check one unit's score (see the module's docstring). meta:
    indicator_meta(dictionary), when the caller explains many units."""
    if _text(row.get("methode")) == IFN_2023:
        return explanation_2023(level, row, dictionary)
    meta = meta or indicator_meta(dictionary)
    indicators = []
    for m in meta:
        ind = m["id"]
        flag = _num(row.get(flag_column(ind)))
        indicators.append({**m,
                           "value": _num(row.get(f"ind_{ind}")), "numerator": _num(row.get(f"num_{ind}")),
                           "denominator": _num(row.get(f"den_{ind}")), "threshold": _num(row.get(f"seuil_{ind}")),
                           "points": _num(row.get(f"pts_{ind}")),
                           "small_count": None if flag is None else not flag})
    scores = [{**s, "value": _num(row.get(s["id"])), "class": _num(row.get(s["classe"]))} for s in score_meta()]
    n = _num(row.get("n_indicateurs"))
    fiab = _num(row.get(RELIABILITY))
    classes = _text(row.get("methode_classes"))
    return {
        **_header(level, row), "reference": _text(row.get("reference")),
        "code_reference": _text(row.get("code_reference")), "millesime_rp": _num(row.get("millesime_rp")),
        "territoire_reference": reference_territory(level, _text(row.get("reference")), _text(row.get("code_reference"))),
        "class_scheme": classes, "indicators": indicators, "scores": scores,
        "n_indicateurs": None if n is None else int(n), "fiabilite": None if fiab is None else int(fiab),
        "lissage": _text(row.get("lissage")),   # bayes-empirique: census values are smoothed, not num/den
    }


def explanation_2023(level: str, row: Mapping, dictionary: Mapping | None = None) -> dict:
    """ifn-2023 (a 2023-like reconstruction, METHODS 1.4): per indicator its value and 1-10 score
    (`deciles`); for a unit (IRIS layer), the two cut points its value lies between, from the
    run's dictionary (borne_basse < value <= borne_haute; None: no bound on that side), and for
    its census rates the numerator, denominator and whether it is a small count. Above the units a
    score is the population-weighted mean of the units' scores. No thresholds, points or axes:
    `indicators` is empty and `scores` holds score_total with its class (classe_total)."""
    columns = (dictionary or {}).get("columns", {})
    cuts = (dictionary or {}).get("seuils_deciles") or {}
    bounds = {r["indicateur"]: [r.get(f"borne_{s}") for s in range(1, 10)] for r in cuts.get("seuils", [])}
    unit = level == "iris"
    deciles = []
    for name, label in INDICATORS_2023.items():
        score = _num(row.get(f"score_{name}"))
        low = high = None
        if unit and score is not None and name in bounds:
            around = [None, *(_num(b) for b in bounds[name]), None]   # score s: (borne_{s-1}, borne_s]
            low, high = around[int(score) - 1], around[int(score)]
        flag = _num(row.get(flag_column(name)))
        deciles.append({"id": name, "label": label, "source": columns.get(f"val_{name}", {}).get("source"),
                        "value": _num(row.get(f"val_{name}")), "score": score,
                        "borne_basse": low, "borne_haute": high, "numerator": _num(row.get(f"num_{name}")),
                        "denominator": _num(row.get(f"den_{name}")),
                        "small_count": None if flag is None else not flag})
    n, fiab = _num(row.get("n_indicateurs")), _num(row.get(RELIABILITY))
    return {
        **_header(level, row), "reference": None, "code_reference": None,
        "millesime_rp": _num(row.get("millesime_rp")), "class_scheme": _text(row.get("methode_classes")),
        "indicators": [],
        "scores": [{"id": "score_total", "label": "Score total 1-10 (moyenne des scores présents)",
                    "classe": class_column("score_total"), "value": _num(row.get("score_total")),
                    "class": _num(row.get(class_column("score_total")))}],
        "n_indicateurs": None if n is None else int(n), "fiabilite": None if fiab is None else int(fiab),
        "deciles": deciles, "score_kind": "decile" if unit else "moyenne pondérée par la population",
        "seuils_territoire": cuts.get("fichier") or cuts.get("territoire"),
    }


def compact(expl: dict) -> dict:
    """The unit-specific part of an explanation (numbers only, in `indicator_meta` order): what the
    web map ships per unit; the map adds back the shared part from its configuration."""
    return {
        "level": expl["level"], "code": expl["code"], "name": expl["name"], "parents": expl["parents"],
        "population": expl["population"], "method": expl["method"], "reference": expl["reference"],
        "code_reference": expl["code_reference"], "millesime_rp": expl["millesime_rp"],
        "class_scheme": expl["class_scheme"], "indicators": [[i[f] for f in FIELDS] for i in expl["indicators"]],
        "scores": [[s["value"], s["class"]] for s in expl["scores"]],
        "n_indicateurs": expl["n_indicateurs"], "fiabilite": expl["fiabilite"], "lissage": expl.get("lissage"),
        **({"territoire_complet": False} if expl.get("territoire_complet") is False else {}),
        # only where the thresholds came from the next level up (a région with --reference region):
        # elsewhere the map names the reference level and code itself, for a few bytes a unit
        **({"territoire_reference": expl["territoire_reference"]} if _scored_higher(expl) else {}),
        **({"deciles": [[d["value"], d["score"], d["small_count"]] for d in expl["deciles"]]}
           if "deciles" in expl else {}),
    }


def read_dictionary(out_dir: Path) -> dict | None:
    path = Path(out_dir) / "dictionary.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def find_unit(out_dir: Path, code: str) -> tuple[str, dict] | None:
    """The first unit with this code in the layers of out_dir, in LEVELS order: (level, row)."""
    import pyarrow.parquet as pq

    for level in LEVELS:
        path = Path(out_dir) / f"{level}.parquet"
        if not path.exists():
            continue
        columns = [c for c in pq.read_schema(path).names if c != "geometry"]
        df = pd.read_parquet(path, columns=columns, filters=[(KEY[level], "==", code)])
        if len(df):
            return level, df.iloc[0].to_dict()
    return None
