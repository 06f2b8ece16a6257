"""Small builders of published-format files for the reader tests."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from functools import lru_cache
from pathlib import Path

import pandas as pd


@lru_cache(maxsize=1)
def sirene_generator():
    """scripts/generate_sirene.py, the SYNTHETIC SIRENE files' generator (not a package: loaded by path)."""
    from indicators import PROJECT_DIR

    spec = importlib.util.spec_from_file_location("generate_sirene", PROJECT_DIR / "scripts" / "generate_sirene.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def csv_text(df: pd.DataFrame, sep: str = ";") -> str:
    buf = io.StringIO()
    df.to_csv(buf, sep=sep, index=False)
    return buf.getvalue()


def rp_frame(prefix: str = "P16", rows: int = 3, extra: dict | None = None) -> pd.DataFrame:
    codes = [f"3018901{i:02d}" for i in range(1, rows + 1)]
    df = pd.DataFrame({
        "IRIS": codes, "REG": "76", "DEP": "30", "COM": "30189", "LIBCOM": "Nîmes",
        "LIBIRIS": [f"IRIS {i}" for i in range(rows)], "TYP_IRIS": "H",
        f"{prefix}_POP": ["2000.5"] * rows, f"{prefix}_POP1529": ["400"] * rows,
        f"{prefix}_POP65P": ["300.25"] * rows,
    })
    for k, v in (extra or {}).items():
        df[k] = v
    return df
