"""Thresholds and scores of the units of one level: the glue between counts and methods.py.

Thresholds (seuils) come, by order of precedence, from a table the user gives (--thresholds),
from the published 2020 file (d4g-2020 only, when it has them), or from the data: the reference
territory's own value, i.e. pooled sum(num) / sum(den) over it (METHODS 1.2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import FragiliteError, InputError
from .methods import IDS, SCORES, add_classes, score_frame
from .readers.common import read_text_table, to_numeric

REFERENCES = ["france", "region", "departement", "epci"]
# units from the smallest to the largest; a unit is scored against the reference territory that
# contains it, or, when it is as large as the reference level, against the next level up.
CHAIN = ["iris", "communes", "epci", "departements", "regions", "france"]
REFERENCE_LEVEL = {"epci": "epci", "departement": "departements", "region": "regions", "france": "france"}
LEVEL_KEY = {"iris": "code_iris", "communes": "code_commune", "epci": "code_epci",
             "departements": "code_departement", "regions": "code_region", "france": "code_france",
             "qpv": "code_qpv"}


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


def score_units(method: str, values: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Indicator values, thresholds, points and scores, side by side, one row per unit."""
    scored = score_frame(method, values, thresholds)
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
                label: str = "input") -> pd.DataFrame:
    """`fragilite score`: a table the user brings, one row per unit, indicator columns by id.

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
    scored = add_classes(scored)
    scored.insert(0, "code", table["code"].astype(str).to_numpy())
    return scored


def score_columns(method: str) -> list[str]:
    cols = list(SCORES)
    if method == "d4g-2020":
        cols += [f"{s}_entier" for s in SCORES]
    return cols
