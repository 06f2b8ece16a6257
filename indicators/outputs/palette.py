"""The one palette of the project: class colours and labels shared by every output that draws.

The QGIS styles (outputs/styles.py), the report maps (outputs/maps.py) and the web map
(outputs/carte/) all import this module, so that a unit has the same colour everywhere.

Colours: ColorBrewer YlOrRd, 5 classes (Cynthia Brewer, colorbrewer2.org), a sequential scheme
ColorBrewer marks as colour-blind safe and printer friendly: light yellow for the least fragile
class, dark red for the most fragile. Labels are French, as the published maps.
"""

from __future__ import annotations

N_CLASSES = 5

# ColorBrewer YlOrRd-5, class 1 (least fragile) to 5 (most fragile)
CLASS_COLOURS: dict[int, str] = {1: "#ffffb2", 2: "#fecc5c", 3: "#fd8d3c", 4: "#f03b20", 5: "#bd0026"}

CLASS_LABELS: dict[int, str] = {
    1: "1 – moins fragile",
    2: "2",
    3: "3",
    4: "4",
    5: "5 – plus fragile",
}

# the same five colours for a rate that is not a fragility score (platform workers per 1 000)
RATE_LABELS: dict[int, str] = {1: "1 – plus faible", 2: "2", 3: "3", 4: "4", 5: "5 – plus élevé"}

NO_DATA_COLOUR = "#d9d9d9"          # a unit without a class (no score): light grey
NO_DATA_LABEL = "non classé"
OUTLINE_COLOUR = "#636363"          # unit boundaries, thin
# units whose score rests on small census counts (the `fiabilite` column > 0): thin dark
# diagonal hatching over the class colour, so the colour still reads
UNRELIABLE_COLOUR = "#252525"
UNRELIABLE_LABEL = "hachures : score reposant sur de petits effectifs (voir fiabilite)"
QPV_OUTLINE_COLOUR = "#2c7bb6"      # QPV outlines over a map of another level


def class_label(k: int, lower: float | None = None, upper: float | None = None,
                labels: dict[int, str] | None = None) -> str:
    """Legend label of class k, with its bounds when given ("1 – moins fragile (20,5 – 76,2)"); a
    class of one value says it once ("1 – plus faible (0,0)", not "0,0 – 0,0")."""
    label = (labels or CLASS_LABELS)[k]
    if lower is None or upper is None:
        return label
    low, high = french_number(lower), french_number(upper)
    return f"{label} ({low})" if low == high else f"{label} ({low} – {high})"


def class_labels(bounds: list[float] | None, labels: dict[int, str] | None = None) -> dict[int, str]:
    """Every class's legend label, class k with bounds[k - 1] and bounds[k] where `bounds` (a
    scheme's "bornes": minimum, cut points, maximum) has them. Quintiles whose cut points tie
    (a fifth of the units or more on one value: nationally, the communes without a single rider)
    make fewer classes and fewer bounds: the classes they make keep their bounds, the others,
    empty, their plain label."""
    bounds = list(bounds or [])
    return {k: class_label(k, bounds[k - 1], bounds[k], labels) if k < len(bounds) else (labels or CLASS_LABELS)[k]
            for k in CLASS_COLOURS}


def french_number(value: float, digits: int = 1) -> str:
    """12 345,6: a French decimal comma and a narrow no-break space between thousands."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)
