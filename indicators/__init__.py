"""fragilite: digital fragility index (IFN) and platform workers per IRIS and QPV.

The package is the pure core: registry and readers, DuckDB computation, scoring, export.
Prefect flows (``flows/``) and the command line (``indicators.cli``) only call into it.
"""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
SQL_DIR = PROJECT_DIR / "sql"
SAMPLE_DIR = PROJECT_DIR / "data" / "raw" / "sample"
