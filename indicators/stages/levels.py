"""The levels of the layers, the code column that names a unit at each, and INSEE's list of
départements and régions (the COG) the package carries."""

import pandas as pd

from indicators import PACKAGE_DIR

LEVELS = ["iris", "communes", "epci", "departements", "regions"]
LEVEL_KEY = {"iris": "code_iris", "communes": "code_commune", "epci": "code_epci",
             "departements": "code_departement", "regions": "code_region", "france": "code_france",
             "qpv": "code_qpv"}


def cog(kind: str) -> pd.DataFrame:
    """The COG's "departements" (DEP, REG, LIBELLE) or "regions" (REG, LIBELLE), as text."""
    return pd.read_csv(PACKAGE_DIR / "resources" / f"cog_{kind}.csv", sep=";", dtype=str)
