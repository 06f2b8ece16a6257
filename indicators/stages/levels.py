"""The levels of the layers and the code column that names a unit at each."""

LEVELS = ["iris", "communes", "epci", "departements", "regions"]
LEVEL_KEY = {"iris": "code_iris", "communes": "code_commune", "epci": "code_epci",
             "departements": "code_departement", "regions": "code_region", "france": "code_france",
             "qpv": "code_qpv"}
