"""Classes 1-5 of the scores, by a scheme the user chooses (`--classes`).

Why not the kit's equal-width bins everywhere: five bins of equal width between the min and the
max put most units in one class as soon as a few outliers stretch the range. On the sample, a
handful of tiny communes (5 families, all single-parent) score 240 points, and the equal-width
bins put 83 % of the communes in class 2: a map of it is one colour.

Schemes (ids as given to --classes):
- quantiles (default for ifn-2020): quintiles of the layer's units, so each class holds about a
  fifth of the units whatever the outliers; class 5 reads "among the 20 % most fragile units of
  this layer". The cut points are mapclassify.Quantiles(k=5)'s, computed with numpy (a test
  checks they are equal) so that a run does not import scipy and scikit-learn for them. Ties on a
  cut point can merge classes.
- fisher-jenks: natural breaks, Fisher's exact optimisation (mapclassify.FisherJenks), the
  partition minimising the within-class variance. Pure-Python mapclassify is O(k n^2): above
  FISHER_JENKS_EXACT_MAX units the breaks are computed on a sample of 1 000 values drawn with a
  fixed seed (mapclassify.FisherJenksSampled), so the same layer always gets the same breaks.
- quantiles is also ifn-2023's default, on its score_total only (classe_total): its unit scores
  are deciles already, but score_total is a mean of up to five deciles, so it gathers around 5.5;
  bins fixed on the 1-10 scale (1-2, 3-4 ... 9-10) leave the ends almost empty (on the sample:
  2.4 % of the IRIS in the first, no EPCI in it, 11 of the 12 départements in the middle one),
  while quintiles keep "among the 20 % of units with the highest score_total" for class 5, as the
  2020 index's classes say. The decile scores themselves are not classed (they are their own
  ten classes).
- equal-width: the kit's rule (its sheet 5.Quintiles), default for kit-2020 and d4g-2020: bounds
  min + k (max - min) / 5; kit-2020 must reproduce the SICOVAL workbook's classes exactly.

Where a value equal to a cut point goes: equal-width puts it in the upper class (the kit's
formula); quantiles and fisher-jenks in the lower class (mapclassify: a class is
lower < x <= upper). `class_bounds` records it as `regle`.

Classes are computed per layer, over the units of that layer (as the kit does for its communes).

What a layer's classes are is written in dictionary.json, for the web map's legend and for users:
    "classes": {"schema": "quantiles", "libelle": "...", "par_couche": {
        "communes": {"classe_global": {"schema": "quantiles", "coupures": [c1, c2, c3, c4],
                                       "bornes": [min, c1, c2, c3, c4, max],
                                       "regle": "une valeur égale à une borne va dans la classe inférieure",
                                       "effectifs": {"1": 711, ...}}, ...}, ...}}
Class k spans bornes[k-1] to bornes[k]; fewer than six bornes when ties merged classes. Each
layer also carries the scheme in its column `methode_classes`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from indicators.errors import FragiliteError
from indicators.stages.methods import SCORES, class_column

N_CLASSES = 5
SCHEMES = ["quantiles", "fisher-jenks", "equal-width"]
AUTO = "auto"
DEFAULT_SCHEME = {"ifn-2020": "quantiles", "kit-2020": "equal-width", "d4g-2020": "equal-width",
                  "ifn-2023": "quantiles"}
FISHER_JENKS_EXACT_MAX = 1000
FISHER_JENKS_SEED = 20200101
SCHEME_LABELS = {
    "quantiles": "quintiles des unités de la couche (mapclassify.Quantiles, 5 classes d'effectifs égaux)",
    "fisher-jenks": "seuils naturels de Fisher-Jenks (mapclassify.FisherJenks ; échantillon fixe de 1 000 "
                    f"valeurs au-delà de {FISHER_JENKS_EXACT_MAX} unités)",
    "equal-width": "5 classes d'amplitudes égales entre le minimum et le maximum de la couche (kit MedNum 2020)",
}
SCHEME_SHORT = {"quantiles": "quintiles des unités de la couche", "fisher-jenks": "seuils naturels (Fisher-Jenks)",
                "equal-width": "amplitudes égales (kit MedNum 2020)"}
RULES = {"equal-width": "une valeur égale à une borne va dans la classe supérieure",
         "quantiles": "une valeur égale à une borne va dans la classe inférieure",
         "fisher-jenks": "une valeur égale à une borne va dans la classe inférieure"}


def resolve_scheme(scheme: str | None, method: str) -> str:
    """The scheme a run uses: `auto` (or None) is the method's default."""
    if scheme in (None, AUTO):
        return DEFAULT_SCHEME.get(method, "equal-width")
    if scheme not in SCHEMES:
        raise FragiliteError(f"unknown class scheme {scheme!r}; choose one of {AUTO}, {', '.join(SCHEMES)}")
    return scheme


def cut_points(values: pd.Series, scheme: str) -> list[float]:
    """The inner cut points (at most 4) of the scheme over the non-null values."""
    v = values.dropna().astype("float64").to_numpy()
    if len(v) == 0:
        return []
    lo, hi = float(v.min()), float(v.max())
    if scheme == "equal-width":
        width = (hi - lo) / N_CLASSES
        return [lo + k * width for k in range(1, N_CLASSES)]
    if len(np.unique(v)) < 2:
        return []
    if scheme == "quantiles":
        return quintile_cuts(v)
    import mapclassify  # imported here: it brings scipy and scikit-learn, seconds to import

    k = min(N_CLASSES, len(np.unique(v)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Numba not installed"
        if len(v) <= FISHER_JENKS_EXACT_MAX:
            bins = mapclassify.FisherJenks(v, k=k).bins
        else:
            state = np.random.get_state()   # FisherJenksSampled draws from numpy's global generator
            try:
                np.random.seed(FISHER_JENKS_SEED)
                bins = mapclassify.FisherJenksSampled(v, k=k, pct=1000 / len(v)).bins
            finally:
                np.random.set_state(state)
    return [float(b) for b in np.unique(bins)[:-1] if b < hi]


def quintile_cuts(v: np.ndarray) -> list[float]:
    """mapclassify.Quantiles(v, k=5)'s cut points (a test checks they are equal), in numpy:
    percentiles 20, 40, 60, 80 with linear interpolation, ties merged. Interpolation means two
    units get classes 1 and 5, as with equal widths."""
    q = np.unique(np.percentile(v, [20.0, 40.0, 60.0, 80.0, 100.0]))
    return [float(b) for b in q[:-1]]


def assign(values: pd.Series, cuts: list[float], scheme: str) -> pd.Series:
    """Class 1..5 of each value (nullable Int64, NULL where the value is NULL)."""
    v = values.astype("float64")
    side = "right" if scheme == "equal-width" else "left"
    cls = np.searchsorted(np.asarray(cuts, dtype="float64"), v.fillna(0.0).to_numpy(), side=side) + 1
    out = pd.Series(cls, index=v.index, dtype="Int64")
    return out.where(v.notna(), pd.NA)


def classify(values: pd.Series, scheme: str) -> tuple[pd.Series, dict]:
    """Classes of the values and their description: scheme, cut points, bounds, counts."""
    cuts = cut_points(values, scheme)
    cls = assign(values, cuts, scheme)
    v = values.dropna().astype("float64")
    bounds = ([float(v.min()), *cuts, float(v.max())] if len(v) else [])
    counts = {str(k): int(n) for k, n in cls.value_counts().sort_index().items()}   # JSON keys
    return cls, {"schema": scheme, "coupures": cuts, "bornes": bounds, "regle": RULES[scheme],
                 "effectifs": counts}


def equal_width_classes(values: pd.Series) -> pd.Series:
    """The kit's classes (sheet 5.Quintiles): bounds min + k (max - min) / 5, k = 1..4; a value
    on a bound goes to the upper class."""
    return classify(values, "equal-width")[0]


def add_classes(scored: pd.DataFrame, scheme: str, scores: list[str] | None = None) -> dict[str, dict]:
    """Add classe_<axis> for every score column (in place); return each one's description."""
    described = {}
    for score in scores or SCORES:
        cls, info = classify(scored[score], scheme)
        scored[class_column(score)] = cls
        described[class_column(score)] = info
    return described


def classify_levels(layers: dict[str, pd.DataFrame], scheme: str, scores: list[str] | None = None) -> dict:
    """Classes of every layer (in place), and what the dictionary and the report say of them.
    scores: the classed scores (default: the seven of the 2020 methods)."""
    return {"schema": scheme, "libelle": SCHEME_LABELS[scheme],
            "par_couche": {level: add_classes(df, scheme, scores) for level, df in layers.items()}}
