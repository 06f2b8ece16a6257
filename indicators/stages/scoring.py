"""Thresholds and scores of the units of one level: the glue between counts and methods.py.

Thresholds (seuils) come, by order of precedence, from a table the user gives (--thresholds),
from the published 2020 file (d4g-2020 only, when it has them), or from the data: the reference
territory's own value, i.e. pooled sum(num) / sum(den) over it (METHODS 1.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from indicators.errors import FragiliteError, InputError
from indicators.stages.levels import LEVEL_KEY
from indicators.stages.classes import add_classes, resolve_scheme
from indicators.stages.methods import IDS, SCORES, method_indicators, score_frame
from indicators.stages.smoothing import EMPIRICAL_BAYES, NONE, smooth_values
from indicators.sources.readers.common import read_text_table, to_numeric

REFERENCES = ["france", "region", "departement", "epci"]
# units from the smallest to the largest; a unit is scored against the reference territory that
# contains it, or, when it is as large as the reference level, against the next level up.
CHAIN = ["iris", "communes", "epci", "departements", "regions", "france"]
REFERENCE_LEVEL = {"epci": "epci", "departement": "departements", "region": "regions", "france": "france"}


def reference_level(level: str, reference: str) -> str:
    if reference not in REFERENCE_LEVEL:
        raise FragiliteError(f"unknown reference {reference!r}; choose one of {REFERENCES}")
    ref = REFERENCE_LEVEL[reference]
    if level == "qpv":  # a QPV lies within its communes (or a few of them): scored like one
        level = "communes"
    if CHAIN.index(level) < CHAIN.index(ref):
        return ref
    return CHAIN[CHAIN.index(level) + 1]


def indicator_values(counts: pd.DataFrame) -> pd.DataFrame:
    """x_k = num_k / den_k where the denominator is positive; income is a value of its own."""
    out = pd.DataFrame(index=counts.index)
    for ind in IDS:
        if ind == "revenu_median":
            out[ind] = counts.get("val_revenu_median", pd.Series(np.nan, index=counts.index))
            continue
        num, den = counts.get(f"num_{ind}"), counts.get(f"den_{ind}")
        if num is None or den is None:
            out[ind] = np.nan
            continue
        den = den.astype("float64")
        out[ind] = (num.astype("float64") / den.where(den > 0)).astype("float64")
    return out


def read_thresholds(path: Path) -> pd.DataFrame:
    """A thresholds table: indicator ids as columns, an optional `reference` column (the code of
    the reference territory each row applies to). Rows are indexed by reference code, or '*'."""
    first = path.read_text(encoding="utf-8-sig").splitlines()[0] if path.stat().st_size else ""
    sep = ";" if ";" in first else ","
    df = read_text_table(path, sep=sep)
    unknown = [c for c in df.columns if c not in IDS and c not in ("reference", "code")]
    if unknown:
        raise InputError(path, f"unknown column(s) {unknown}: thresholds are named by indicator ids "
                               f"({', '.join(IDS)})", column=unknown[0])
    ids = [c for c in df.columns if c in IDS]
    if not ids:
        raise InputError(path, "no indicator column: name columns by indicator ids")
    df = to_numeric(df, ids, path)
    if "reference" in df.columns:
        df["reference"] = df["reference"].astype(str).str.strip()
        dup = df["reference"].duplicated()
        if dup.any():
            raise InputError(path, "several rows for one reference territory", column="reference",
                             rows=[i + 2 for i in np.flatnonzero(dup.to_numpy())])
        df = df.set_index("reference")
    else:
        if len(df) != 1:
            raise InputError(path, "without a `reference` column, the table must have exactly one row",
                             rows=list(range(2, len(df) + 2)))
        df.index = pd.Index(["*"])
    return df[ids]


def thresholds_for(ref_codes: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """Thresholds of each unit, looked up by its reference code in a table indexed by code."""
    if list(table.index) == ["*"]:
        rows = pd.DataFrame([table.iloc[0]] * len(ref_codes), index=ref_codes.index)
    else:
        rows = table.reindex(ref_codes.astype(str).to_numpy())
        rows.index = ref_codes.index
    return rows.reindex(columns=IDS)


def score_units(method: str, values: pd.DataFrame, thresholds: pd.DataFrame,
                absent: tuple[str, ...] = ()) -> pd.DataFrame:
    """Indicator values, thresholds, points and scores, side by side, one row per unit."""
    scored = score_frame(method, values, thresholds, absent)
    out = pd.DataFrame(index=values.index)
    for ind in IDS:
        out[f"ind_{ind}"] = values[ind]
        out[f"seuil_{ind}"] = thresholds[ind].astype("float64") if ind in thresholds else np.nan
        out[f"pts_{ind}"] = scored[f"pts_{ind}"] if f"pts_{ind}" in scored else np.nan
    for col in scored.columns:
        if not col.startswith("pts_"):
            out[col] = scored[col]
    return out


def score_table(table: pd.DataFrame, method: str, thresholds: pd.DataFrame | None,
                label: str = "input", classes: str = "auto") -> pd.DataFrame:
    """`fragilite score`: a table the user brings, one row per unit, indicator columns by id,
    classed by the scheme `classes` (stages/classes.py; auto: the method's own).

    Without a thresholds table, the thresholds are computed from the table itself, per
    `reference` value when there is one: the mean of the units' values for rates, their median
    for income (the kit's rule, unweighted since the table has no counts).
    """
    if "code" not in table.columns:
        raise InputError(label, "missing column", column="code")
    ids = [c for c in table.columns if c in IDS]
    if not ids:
        raise InputError(label, f"no indicator column; name them by indicator ids ({', '.join(IDS)})")
    values = to_numeric(table, ids, label)
    values = values.reindex(columns=list(table.columns) + [i for i in IDS if i not in table.columns])
    ref = table["reference"].astype(str) if "reference" in table.columns else pd.Series("*", index=table.index)
    if thresholds is None:
        grouped = values[IDS].groupby(ref.to_numpy())
        computed = grouped.mean()
        computed["revenu_median"] = grouped["revenu_median"].median()
        thr = thresholds_for(ref, computed)
    else:
        per_reference = list(thresholds.index) != ["*"]
        thr = thresholds_for(ref if per_reference else pd.Series("*", index=table.index), thresholds)
        unknown = ~ref.isin(thresholds.index) if per_reference else pd.Series(False, index=ref.index)
        if unknown.any():
            raise InputError(label, f"no thresholds for reference(s) {sorted(set(ref[unknown]))[:5]}",
                             column="reference", rows=[i + 2 for i in np.flatnonzero(unknown.to_numpy())])
    scored = score_units(method, values[IDS].astype("float64"), thr)
    add_classes(scored, resolve_scheme(classes, method))
    scored.insert(0, "code", table["code"].astype(str).to_numpy())
    return scored


def score_columns(method: str) -> list[str]:
    cols = list(SCORES)
    if method == "d4g-2020":
        cols += [f"{s}_entier" for s in SCORES]
    return cols


def level_thresholds(level: str, df: pd.DataFrame, counts: dict[str, pd.DataFrame], reference: str,
                     user: pd.DataFrame | None, published: pd.DataFrame | None, label: str | None,
                     notes: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Thresholds of each unit of a level, and the code of its reference territory."""
    ref_level = reference_level(level, reference)
    ref_codes = df[LEVEL_KEY[ref_level]].astype("string")
    if user is not None:
        thr = thresholds_for(ref_codes.fillna(""), user)
        if list(user.index) != ["*"]:
            missing = sorted(set(ref_codes.dropna()) - set(user.index))
            if missing:
                notes.append(f"{level}: no thresholds in {label} for reference territories "
                             f"{missing[:10]}: their units are not scored")
        return thr, ref_codes
    ref_counts = counts[ref_level].set_index("code")
    thr = thresholds_for(ref_codes.fillna(""), indicator_values(ref_counts).set_axis(ref_counts.index))
    if published is not None:
        thr = published_thresholds(published, df, level, ref_level, counts["iris"]).combine_first(thr)
    return thr, ref_codes


# what each method does with an indicator that has no value anywhere in the run (a blank column)
ABSENT_RULE = {
    "ifn-2020": "left out of the means (n_indicateurs says how many remain)",
    "kit-2020": "0 points for every unit, kept in the kit's fixed divisors, as La MedNum's own 2020 national "
                "file did with its blank columns (the same for all units: classes unchanged); likewise, within "
                "a reference territory where an indicator has no value at all, or a threshold of 0 (the workbook's "
                "#DIV/0!: no public service in the whole territory), that indicator scores 0 there",
    "d4g-2020": "0 points for every unit, kept in the means, as the published 2020 file does",
}


def absent_indicators(iris: pd.DataFrame, user: pd.DataFrame | None, method: str,
                      notes: list[str]) -> tuple[str, ...]:
    """Indicators the method uses that have no IRIS value in this run, or no column in the
    user's thresholds table: blank columns, handled per ABSENT_RULE and said in the notes."""
    values = indicator_values(iris)
    used = method_indicators(method, IDS)
    no_value = [i for i in used if values[i].isna().all()]
    no_threshold = [i for i in used if user is not None and i not in user.columns and i not in no_value]
    if no_value or no_threshold:
        what = ([f"no value in this run for {', '.join(no_value)}"] if no_value else []) + \
               ([f"no column in the thresholds table for {', '.join(no_threshold)}"] if no_threshold else [])
        notes.append(f"{method}: {'; '.join(what)}: {ABSENT_RULE[method]}")
    return tuple(no_value + no_threshold)


def score_levels(counts: dict[str, pd.DataFrame], levels: list[str], method: str, reference: str,
                 thresholds: Path | None, published: pd.DataFrame | None,
                 notes: list[str], smoothing: str = NONE, smoothed: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every unit of every level with its values, thresholds, points and scores. `smoothing`:
    the census rates smoothed toward their reference territory's first (smoothing.py); what
    changed per level goes into `smoothed`."""
    user = read_thresholds(thresholds) if thresholds else None
    absent = absent_indicators(counts["iris"], user, method, notes)
    results: dict[str, pd.DataFrame] = {}
    for level in levels:
        df = counts[level].copy()
        thr, ref_codes = level_thresholds(level, df, counts, reference, user, published, thresholds, notes)
        values = indicator_values(df)
        if smoothing == EMPIRICAL_BAYES:
            values, changed = smooth_values(values, df, ref_codes)
            if smoothed is not None:
                smoothed[level] = changed
        scored = score_units(method, values, thr, absent)
        scored["code_reference"] = ref_codes.to_numpy()
        results[level] = pd.concat([df.reset_index(drop=True), scored.reset_index(drop=True)], axis=1)
    return results


def published_thresholds(published: pd.DataFrame, units: pd.DataFrame, level: str, ref_level: str,
                         iris: pd.DataFrame) -> pd.DataFrame:
    """Thresholds the 2020 file publishes for the reference territory of each unit."""
    prefix = {"epci": "epci", "departements": "departement", "regions": "region"}.get(ref_level)
    cols = {f"{prefix}__{i}": i for i in IDS if f"{prefix}__{i}" in published.columns} if prefix else {}
    empty = pd.DataFrame(np.nan, index=units.index, columns=IDS)
    if not cols:
        return empty
    table = published[["code_iris", *cols]].rename(columns=cols)
    if level == "iris":
        out = table.set_index("code_iris").reindex(units["code_iris"].to_numpy())
    else:
        # one value per reference territory, read on the IRIS that lie in it
        key = LEVEL_KEY[ref_level]
        table = table.merge(iris[["code_iris", key]], on="code_iris", how="inner")
        out = table.groupby(key)[list(cols.values())].first().reindex(units[key].astype(str).to_numpy())
    out.index = units.index
    return out.reindex(columns=IDS)
