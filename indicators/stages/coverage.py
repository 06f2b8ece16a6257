"""Units only part of whose territory is in the inputs, said in the notes and the layers.

A région whose départements are not all among the inputs (the sample: Occitanie, 11 of its 13)
or an EPCI some of whose communes are missing is still scored, from the part present, and
published under its name, which claims the whole. An observatory must know before it publishes
that number: the run report's notes name them, and the layers' `territoire_complet` column is
false for them. With `--reference region` (or `epci`) the thresholds every unit of that
territory is scored against rest on the same part. Expected départements come from the COG;
expected communes from the EPCI composition file, when it lists more communes than the inputs
(INSEE's national file does; the sample's lists its own communes only). Départements are not
assessed: nothing here lists a département's communes.
"""

from __future__ import annotations

import pandas as pd

from indicators.stages.levels import cog

SHOWN = 10   # units named in a note; the count says how many more
COLUMN = "territoire_complet"   # in the régions' and EPCI's layers


def partial_units(con, iris: pd.DataFrame, reference: str | None,
                  composition: bool = True) -> tuple[list[str], dict[str, pd.Series]]:
    """Notes on the régions and EPCI only part of which is in `iris` (the IRIS counts, with their
    parents), and per level each unit's COLUMN (true: whole; NA where nothing lists its parts).
    `composition`: `con` holds the staged EPCI composition (raw_epci_composition). `reference`: the
    territory whose thresholds the run computes from its inputs (None: the thresholds are given,
    by the user or the 2020 file, or the method has none)."""
    notes, whole = [], {}
    if "in_rp" in iris:   # an IRIS of the contours alone has no counts: it brings nothing to its parents
        iris = iris[iris["in_rp"].fillna(False).astype(bool).to_numpy()]
    departements = cog("departements")
    regions = departements.groupby("REG")["DEP"].nunique()
    # a département counts for the région the COG puts it in (inputs of another vintage may not)
    pairs = iris[["code_departement", "code_region"]].drop_duplicates()
    pairs = pairs.merge(departements, left_on=["code_departement", "code_region"], right_on=["DEP", "REG"])
    present = pairs.groupby("code_region")["code_departement"].nunique()
    names = dict(zip(cog("regions")["REG"], cog("regions")["LIBELLE"]))
    notes += _note("regions", "région", "départements", present, regions, names, reference == "region")
    whole["regions"] = _whole(present, regions)
    if composition:
        expected = con.sql("SELECT code_epci, count(DISTINCT code_commune) AS n FROM raw_epci_composition "
                           "WHERE code_epci IS NOT NULL AND code_epci <> 'ZZZZZZZZZ' GROUP BY ALL").df()
        expected = expected.set_index("code_epci")["n"]
        have = iris.dropna(subset=["code_epci"]).groupby("code_epci")["code_commune"].nunique()
        epci_names = iris.dropna(subset=["code_epci"]).groupby("code_epci")["nom_epci"].first().to_dict()
        notes += _note("epci", "EPCI", "communes", have, expected, epci_names, reference == "epci")
        whole["epci"] = _whole(have, expected)
    return notes, whole


def mark(results: dict[str, pd.DataFrame], whole: dict[str, pd.Series]) -> None:
    """COLUMN on the layers' results (in place), by unit code."""
    for level, flags in whole.items():
        if level in results:
            results[level][COLUMN] = flags.reindex(results[level]["code"].to_numpy()).to_numpy()


def _whole(present: pd.Series, expected: pd.Series) -> pd.Series:
    """Per unit present: all its parts are (NA when the list of parts does not know the unit)."""
    m = expected.reindex(present.index)
    return (present >= m).astype("boolean").where(m.notna(), pd.NA)


def _note(level: str, unit: str, parts: str, present: pd.Series, expected: pd.Series, names: dict,
          reference: bool) -> list[str]:
    both = pd.DataFrame({"n": present, "m": expected}).dropna()
    partial = both[(both["n"] > 0) & (both["n"] < both["m"])].sort_index()
    if partial.empty:
        return []
    listed = [f"{code} {names.get(code) or ''} ({int(r.n)} of its {int(r.m)} {parts})".replace("  ", " ")
              for code, r in partial.head(SHOWN).iterrows()]
    more = f" and {len(partial) - SHOWN} more" if len(partial) > SHOWN else ""
    thresholds = (f"; the thresholds every unit in them is scored against (--reference {level.rstrip('s')}) are "
                  "computed on that part too" if reference else "")
    return [f"{level}: {len(partial)} {unit}(s) only partly in the inputs, scored from the part present: "
            f"{', '.join(listed)}{more}. Their scores describe that part only{thresholds}"]
