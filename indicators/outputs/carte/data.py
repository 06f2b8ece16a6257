"""What the web map shows of each unit: the properties drawn, the legend's classes and bounds,
each unit's explanation (fiche) and the search index.

Properties drawn are few (code, name, zone, the indicators offered and their classes, the
reliability summary): the explanation of a unit travels apart, in shards (`fiches/NNN.js`) the
map loads when a unit is opened, so that a national map stays light.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import shapely

from indicators.stages.classes import classify
from indicators.stages.deciles import INDICATORS_2023
from indicators.stages.methods import SCORE_LABELS, SCORES, class_column
from indicators.outputs import palette
from indicators.outputs.explain import KEY, LEVELS, NAME, RELIABILITY, compact, explanation, indicator_meta

# overseas départements (and their régions): drawn in insets beside the mainland
DROM = {"971": "Guadeloupe", "972": "Martinique", "973": "Guyane", "974": "La Réunion", "976": "Mayotte"}
DROM_OF_REGION = {"01": "971", "02": "972", "03": "973", "04": "974", "06": "976"}
MAINLAND = "fr"
PLATFORM = {"livreurs_pour_mille": "Livreurs pour 1 000 actifs occupés",
            "vtc_pour_mille": "Chauffeurs VTC pour 1 000 actifs occupés"}
# the context printed beside a unit's name in the search results
CONTEXT = {"iris": "nom_commune", "communes": "nom_departement", "epci": "nom_departement",
           "departements": "nom_region", "regions": None, "qpv": "nom_commune"}


def zones(level: str, df: pd.DataFrame) -> pd.Series:
    """MAINLAND, or the code of the overseas département the unit lies in."""
    if "code_departement" in df:
        dep = df["code_departement"].astype("string")
    else:
        dep = df["code_region"].astype("string").map(DROM_OF_REGION)
    return dep.where(dep.isin(list(DROM)), MAINLAND).fillna(MAINLAND).astype(str)


SCORES_2023 = {"score_total": "Score total (1 à 10)",
               **{f"score_{n}": f"Score 1 à 10 : {label[0].lower()}{label[1:]}" for n, label in INDICATORS_2023.items()}}


def indicators(layers: dict[str, pd.DataFrame]) -> list[dict]:
    """The indicators offered, those the layers hold: the seven scores of the 2020 methods (or
    ifn-2023's total and decile scores), then the platform-worker rates of the run, if any."""
    def present(col):
        return any(col in df and df[col].notna().any() for df in layers.values())

    offered = [{"id": s, "label": label, "classe": class_column(s), "kind": "score", "unit": "points"}
               for s, label in SCORE_LABELS.items() if present(s)]
    offered += [{"id": s, "label": label, "classe": class_column(s), "kind": "score", "unit": "1 à 10"}
                for s, label in SCORES_2023.items() if present(s)]
    offered += [{"id": col, "label": label, "classe": class_column(col), "kind": "plateforme", "unit": "pour mille"}
                for col, label in PLATFORM.items() if present(col)]
    return offered


def with_classes(df: pd.DataFrame, offered: list[dict]) -> pd.DataFrame:
    """Classes for the indicators the layer does not class (platform-worker rates, ifn-2023's
    scores), as the report maps class them: quintiles of the layer's units (stages/classes.py)."""
    df = df.copy()
    df.attrs["classes_calculees"] = []
    for ind in offered:
        if ind["id"] in df and ind["classe"] not in df:
            df[ind["classe"]] = classify(df[ind["id"]], "quantiles")[0]
            df.attrs["classes_calculees"].append(ind["classe"])
    return df


def map_properties(level: str, df: pd.DataFrame, offered: list[dict]) -> pd.DataFrame:
    """The properties drawn: code, name, zone, each indicator (2 decimals) and its class."""
    props = pd.DataFrame({"code": df[KEY[level]].astype(str), "nom": df[NAME[level]].astype("string")})
    props["zone"] = zones(level, df).to_numpy()
    for ind in offered:
        if ind["id"] in df:
            props[ind["id"]] = df[ind["id"]].astype("float64").round(2)
            props[ind["classe"]] = df[ind["classe"]].astype("Int64")
    if RELIABILITY in df:
        props[RELIABILITY] = df[RELIABILITY].astype("Int64")
    return props


def dictionary_bounds(dictionary: dict | None, level: str, classe: str) -> list[float] | None:
    """The class bounds the run's dictionary gives (min, the cut points, max), if it gives them
    (its section `classes`, written by stages/classes.py)."""
    entry = (((dictionary or {}).get("classes") or {}).get("par_couche") or {}).get(level, {}).get(classe)
    bounds = entry.get("bornes") if isinstance(entry, dict) else None
    return [float(b) for b in bounds] if bounds and len(bounds) >= 2 else None


def legend(level: str, df: pd.DataFrame, ind: dict, dictionary: dict | None) -> dict:
    """The legend of one indicator on one level: each class's colour, label with its bounds, count.
    Bounds: the dictionary's when the run wrote them, else the smallest and largest value of the
    units of the class (what the map shows, whatever the scheme)."""
    if ind["id"] not in df or ind["classe"] not in df:
        return {"classes": [], "sans_classe": int(len(df))}
    values, classes = df[ind["id"]].astype("float64"), df[ind["classe"]].astype("Int64")
    given = dictionary_bounds(dictionary, level, ind["classe"]) if ind["kind"] == "score" else None
    out = []
    for k in range(1, palette.N_CLASSES + 1):
        members = values[classes == k]
        if given and k < len(given):
            lower, upper = given[k - 1], given[k]
        elif len(members):
            lower, upper = float(members.min()), float(members.max())
        else:
            continue
        labels = palette.CLASS_LABELS if ind["kind"] == "score" else palette.RATE_LABELS
        out.append({"classe": k, "couleur": palette.CLASS_COLOURS[k], "min": lower, "max": upper,
                    "label": palette.class_label(k, lower, upper, labels), "effectif": int(len(members))})
    computed = ind["classe"] in df.attrs.get("classes_calculees", [])
    return {"classes": out, "sans_classe": int(classes.isna().sum()),
            "source": "dictionary.json" if given else "données", "quintiles": computed}


def bboxes(geoms: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 4) for x in b] for b in shapely.bounds(geoms)]


def fnv1a(text: str) -> int:
    """32-bit FNV-1a over the code's characters (codes are ASCII): app.js has the same function
    and so finds a unit's shard from its code alone."""
    h = 0x811C9DC5
    for ch in text:
        h ^= ord(ch)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def fiches(level: str, df: pd.DataFrame, boxes: list[list[float]], dictionary: dict | None) -> dict[str, dict]:
    """Each unit's explanation (explain.explanation, compacted, indicator figures to seven
    significant digits; scores untouched) with its bounding box, by code."""
    out = {}
    meta = indicator_meta(dictionary)
    columns = [c for c in df.columns if c != "geometry"]
    for row, box in zip(df[columns].to_dict("records"), boxes):
        entry = compact(explanation(level, row, dictionary, meta))
        entry["indicators"] = [[_trim(v) for v in values] for values in entry["indicators"]]
        entry["bbox"] = box
        out[entry["code"]] = entry
    return out


def _trim(v):
    """Seven significant digits: the panel shows at most four; a national bundle halves."""
    return float(f"{v:.7g}") if isinstance(v, float) else v


def shard_count(n_units: int, per_shard: int = 300) -> int:
    return max(1, math.ceil(n_units / per_shard))


def search_entries(level: str, df: pd.DataFrame, boxes: list[list[float]]) -> list[list]:
    """[level index, code, name, context, bbox] per unit, for the search box."""
    ctx_col = CONTEXT[level]
    ctx = df[ctx_col].astype("string").fillna("") if ctx_col and ctx_col in df else pd.Series("", index=df.index)
    return [[LEVELS.index(level), str(c), n if isinstance(n, str) else "", str(x), b]
            for c, n, x, b in zip(df[KEY[level]], df[NAME[level]], ctx, boxes)]


def js_call(function: str, *args) -> str:
    """`FRAGILITE.function(args...);`: how the bundle's data scripts hand their data to the page
    (a script, not a fetch: browsers refuse fetch from file://)."""
    body = ",".join(a if isinstance(a, _Raw) else json.dumps(a, ensure_ascii=False, separators=(",", ":"),
                                                                 allow_nan=False) for a in args)
    return f"FRAGILITE.{function}({body});\n"


class _Raw(str):
    """JSON text already serialised (a large FeatureCollection), passed through js_call as is."""


def raw(text: str) -> _Raw:
    return _Raw(text)
