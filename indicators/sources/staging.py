"""Read each source with its reader and write it as one normalized Parquet file.

A Prefect task stages one source and hands on a path: the compute step reads these files with
DuckDB (sql/staging/*.sql), so no DataFrame crosses a task boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from indicators.errors import InputError
from indicators.sources.readers import (read_contours_iris, read_epci_composition, read_filosofi_communes,
                      read_filosofi_iris, read_mednum, read_rp_iris)
from indicators.sources.readers.arcep import read_arcep_fixe
from indicators.sources.readers.bpe import read_bpe
from indicators.sources.readers.common import require_unique
from indicators.sources.readers.indicateurs_communes import read_indicateurs_communes_long
from indicators.sources.readers.mednum import LEVELS, iris_frame, published_thresholds
from indicators.sources.readers.qpv import read_filosofi_200m, read_grid_emprise, read_qpv_contours, read_qpv_figures
from indicators.sources.readers.sirene import stage_sirene
from indicators.sources.registry import is_synthetic, sha256_of, source, synthetic_marker


@dataclass
class Staged:
    source: str
    path: str | list     # the normalized Parquet file(s): one per input file, or a glob
    millesime: int | None
    files: list[dict]    # provenance: path, sha256, bytes, synthetic, synthetic_marker
    rows: int
    extras: dict = None  # side tables of the source: name -> Parquet path
    rows_read: int | None = None   # rows in the files, when fewer are staged (SIRENE)
    note: str | None = None        # what this run had to do again (a damaged staged copy)


# Readers handing back one table per file (`.frame`, `.millesime`), staged as the files' rows
# together: a new source of this kind is its reader here, a line in sources.yaml and its SQL.
# Keys that must not repeat across files are checked by the stage that reads them.
TABLE_READERS = {
    "arcep_fixe": read_arcep_fixe,
    "insee_bpe": read_bpe,
    "indicateurs_communes": read_indicateurs_communes_long,
}

# Empty shapes of optional sources, so that the SQL is the same whatever a run was given.
# COMMUNE_SOURCES are read in either mode (census files or the MedNum 2020 file alone).
COMMUNE_SOURCES = {
    "arcep_fixe": {"code_commune": "str", "locaux": "float64", "inel_hd": "float64", "elig_hd05": "float64",
                   "elig_hd3": "float64", "elig_hd8": "float64", "elig_thd30": "float64",
                   "elig_thd100": "float64", "elig_thd1g": "float64", "locaux_ftth": "float64",
                   "date_arcep": "str", "format": "str"},
    "insee_bpe": {"code_iris": "str", "code_commune": "str", "code_departement": "str", "typequ": "str",
                  "nb_equip": "float64"},
    "indicateurs_communes": {"code_commune": "str", "indicateur": "str", "valeur": "float64", "fichier": "str"},
}
EMPTY = {
    **COMMUNE_SOURCES,
    "rp_activite": {"code_iris": "str", "chom1564": "float64", "act1564": "float64", "actocc15p": "float64"},
    "filosofi_iris": {"code_iris": "str", "disp_med": "float64", "disp_tp60": "float64"},
    "filosofi_communes": {"code_commune": "str", "med": "float64", "tp60": "float64"},
}


def _concat(frames: list[pd.DataFrame], key: str, label: str) -> pd.DataFrame:
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        require_unique(df, key, label)
    return df


def _with_wkb(df: pd.DataFrame) -> pd.DataFrame:
    out = df.drop(columns="geometry").copy()
    out["wkb"] = shapely.to_wkb(np.asarray(df["geometry"], dtype=object))
    return out


def read_source(source_id: str, paths: list[Path]) -> tuple[pd.DataFrame, int | None, dict[str, pd.DataFrame]]:
    """The normalized table of a source, its millésime, and any side tables."""
    label = " + ".join(str(p) for p in paths)
    reader = source(source_id).reader
    extras: dict[str, pd.DataFrame] = {}
    if reader == "rp_iris":
        tables = [read_rp_iris(p, source_id) for p in paths]
        years = {t.millesime for t in tables}
        if len(years) > 1:
            raise InputError(label, f"files of several census vintages for {source_id}: {sorted(years)}")
        df = _concat([t.frame for t in tables], "code_iris", label)
        millesime = years.pop()
        if source_id == "rp_diplomes" and "nscol15p_bepc" not in df:
            # RP 2016: BEPC is still inside DIPLMIN (METHODS 1.3), nothing to add
            df["nscol15p_bepc"] = 0.0
        return df, millesime, extras
    if reader in TABLE_READERS:
        tables = [TABLE_READERS[reader](p) for p in paths]
        years = [t.millesime for t in tables if t.millesime]
        return (pd.concat([t.frame for t in tables], ignore_index=True), max(years, default=source(source_id).default),
                extras)
    if reader == "filosofi_iris":
        tables = [read_filosofi_iris(p) for p in paths]
        return _concat([t.frame for t in tables], "code_iris", label), tables[0].millesime, extras
    if reader == "filosofi_communes":
        tables = [read_filosofi_communes(p) for p in paths]
        return _concat([t.frame for t in tables], "code_commune", label), tables[0].millesime, extras
    if reader == "contours_iris":
        df = _concat([read_contours_iris(p) for p in paths], "code_iris", label)
        return _with_wkb(df), None, extras
    if reader == "epci_composition":
        return _concat([read_epci_composition(p) for p in paths], "code_commune", label), None, extras
    if reader == "mednum_kit_2020":
        files = [read_mednum(p) for p in paths]
        df = _concat([iris_frame(f) for f in files], "code_iris", label)
        seuils = []
        for f in files:
            wide = pd.DataFrame({"code_iris": f.col("Code Iris")})
            for level in LEVELS:
                t = published_thresholds(f, level)
                for col in t.columns[1:]:
                    wide[f"{level}__{col}"] = t[col].to_numpy()
            seuils.append(wide)
        extras["seuils_publies"] = pd.concat(seuils, ignore_index=True)
        return _with_wkb(df), 2020, extras
    if reader in ("qpv_contours_2015", "qpv_contours_2024"):
        liste = reader[-4:]
        df = _concat([read_qpv_contours(p, liste) for p in paths], "code_qpv", label)
        return _with_wkb(df), int(liste), extras
    if reader == "qpv_figures":
        return _concat([read_qpv_figures(p) for p in paths], "code_qpv", label), source(source_id).default, extras
    if reader == "filosofi_200m":
        return _concat([read_filosofi_200m(p) for p in paths], "idcar", label), source(source_id).default, extras
    if reader == "grid_emprise":
        return pd.concat([read_grid_emprise(p) for p in paths], ignore_index=True), None, extras
    raise ValueError(f"no reader {reader!r}")


def stage_source(source_id: str, paths: list[Path], work_dir: Path, apes: list[str] | None = None,
                 hashes: list[str] | None = None, keys: "Staged | None" = None) -> Staged:
    target = work_dir / "staging" / f"{source_id}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    if source(source_id).reader == "sirene":
        # streamed through DuckDB, file by file: a national stock never enters pandas
        rows, read = 0, 0
        key_paths = None if keys is None else listed(keys.path)
        for i, p in enumerate(paths):
            counts = stage_sirene(Path(p), source_id, target.with_name(f"{source_id}__part{i}.parquet"), apes,
                                  key_paths)
            rows += counts["rows_kept"]
            read += counts["rows_read"]
        pattern = str(target.with_name(f"{source_id}__part*.parquet"))
        return Staged(source_id, pattern, source(source_id).default, _provenance(source_id, paths, hashes), rows, {},
                      read)
    df, millesime, extras = read_source(source_id, [Path(p) for p in paths])
    df.to_parquet(target, index=False)
    side = {}
    for name, extra in extras.items():
        side[f"{source_id}__{name}"] = str(target.with_name(f"{source_id}__{name}.parquet"))
        extra.to_parquet(side[f"{source_id}__{name}"], index=False)
    return Staged(source_id, str(target), millesime, _provenance(source_id, paths, hashes), len(df), side)


def _provenance(source_id: str, paths: list[Path], hashes: list[str] | None = None) -> list[dict]:
    hashes = hashes or [sha256_of(Path(p)) for p in paths]
    return flag_synthetic(source_id, [{"path": str(p), "sha256": h, "bytes": Path(p).stat().st_size}
                                      for p, h in zip(paths, hashes)])


def flag_synthetic(source_id: str, files: list[dict]) -> list[dict]:
    """Provenance entries with the registry's synthetic flag and the marker behind it (if any).
    Also applied to a cached staging: a marker is not part of the files' hashes."""
    out = []
    for f in files:
        marker = synthetic_marker(f["path"])
        out.append({**f, "synthetic": is_synthetic(source_id, Path(f["path"])),
                    "synthetic_marker": str(marker) if marker else None})
    return out


def listed(paths: str | list[str]) -> list[str]:
    """A staged path (one file or a glob) or list of them, as a list."""
    return [paths] if isinstance(paths, str) else list(paths)


def read_staged(paths: str | list[str]) -> pd.DataFrame:
    """A staged table, which may come in parts (one per input file)."""
    parts = listed(paths)
    frames = [pd.read_parquet(p) for p in parts]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def merge_staged(parts: list[Staged]) -> Staged:
    """One source staged file by file (so that one bad file does not sink the others)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    extras: dict[str, list[str]] = {}
    for part in parts:
        for name, path in (part.extras or {}).items():
            extras.setdefault(name, []).extend(listed(path))
    paths = [p for part in parts for p in listed(part.path)]
    read = [part.rows_read for part in parts]
    return Staged(first.source, paths, first.millesime, [f for part in parts for f in part.files],
                  sum(part.rows for part in parts), extras, None if None in read else sum(read),
                  "; ".join(part.note for part in parts if part.note) or None)


def stage_empty(source_id: str, work_dir: Path) -> Staged:
    target = work_dir / "staging" / f"{source_id}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({c: pd.Series(dtype=t) for c, t in EMPTY[source_id].items()}).to_parquet(target, index=False)
    return Staged(source_id, str(target), None, [], 0, {})
