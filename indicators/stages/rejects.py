"""Every IRIS of the inputs ends in its layer or in the rejects, with the reason: a unit that
cannot be scored is never dropped silently."""

from __future__ import annotations

import duckdb
import pandas as pd

NAME_COLUMN = {"iris": "nom_iris", "communes": "nom_commune", "epci": "nom_epci", "qpv": "nom_qpv"}


def census_rejects(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, int]:
    """IRIS with a polygon but no census counts, and the number of IRIS in the inputs."""
    stg = con.sql("SELECT code_iris, nom_iris, code_commune, code_departement, in_rp, in_contours FROM stg_iris").df()
    absent = ~stg.in_rp
    table = pd.DataFrame({"niveau": "iris", "code": stg.loc[absent, "code_iris"],
                          "nom": stg.loc[absent, "nom_iris"],
                          "code_departement": stg.loc[absent, "code_departement"],
                          "raison": "absent from the census (RP) files: no counts to score "
                                    "(its polygon still counts in its commune's outline)"})
    return table, int(len(stg))


def reasons(df: pd.DataFrame, reference: str) -> pd.Series:
    """Why each unscored unit of a level has no score (NA for the scored ones)."""
    out = pd.Series(pd.NA, index=df.index, dtype="string")
    no_score = df["score_global" if "score_global" in df else "score_total"].isna()   # score_total: ifn-2023
    no_ref = df["code_reference"].isna() if "code_reference" in df else pd.Series(False, index=df.index)
    out[no_score & no_ref] = f"no {reference} reference territory known for this unit"
    out[no_score & ~no_ref & (df["n_indicateurs"] == 0)] = (
        "no indicator can be computed: zero population or every input secret/missing")
    out[no_score & out.isna()] = "no threshold for its reference territory"
    return out


def split_level(level: str, df: pd.DataFrame, reference: str, notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(the level's kept units, its rejects or None)."""
    no_polygon = int(df["wkb"].isna().sum())
    if no_polygon:  # scored all the same: kept with a null geometry, and said
        notes.append(f"{level}: {no_polygon} units have no polygon in the contour file "
                     f"(CONTOURS-IRIS / Geo Shape) and are kept with a null geometry")
    why = reasons(df, reference)
    if level == "qpv":
        # every QPV keeps its row (the contract of the QPV layer); an unscored one is said
        if why.notna().any():
            notes.append(f"qpv: {int(why.notna().sum())} QPVs have no score: "
                         + "; ".join(f"{c}: {r}" for c, r in zip(df.loc[why.notna(), 'code'], why.dropna()))[:500])
        why[:] = pd.NA
    bad = why.notna()
    rejected = None
    if bad.any():
        name = NAME_COLUMN.get(level, "code")
        rejected = pd.DataFrame({"niveau": level, "code": df.loc[bad, "code"],
                                 "nom": df.loc[bad, name] if name in df else pd.NA,
                                 "code_departement": df.loc[bad, "code_departement"],
                                 "raison": why[bad]})
    return df[~bad].copy(), rejected


def split(results: dict[str, pd.DataFrame], geometry: dict[str, pd.Series], territory: list[str] | None,
          reference: str, census: pd.DataFrame, notes: list[str]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each level's scored units (with their WKB polygon, within --territory) and all rejects."""
    rejects = [census]
    final: dict[str, pd.DataFrame] = {}
    for level, df in results.items():
        # by position on the codes as objects: Series.map on the string dtype took 0.4 s for
        # 49 000 IRIS nationally, ten times this
        df["wkb"] = geometry[level].reindex(df["code"].to_numpy(dtype=object)).to_numpy()
        if territory:
            df = df[df["code_departement"].isin(territory)]
        final[level], rejected = split_level(level, df, reference, notes)
        if rejected is not None:
            rejects.append(rejected)
    return final, pd.concat(rejects, ignore_index=True).astype({"code": "string", "nom": "string"})
