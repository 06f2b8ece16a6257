"""The one DuckDB connection factory, and the loader of sql/ files.

The spatial extension comes from the pinned `duckdb-ext-spatial` wheel: `INSTALL spatial` would
download it, and these machines have no network. Auto-install is switched off so that a missing
extension fails here, loudly, rather than hanging on a download.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import duckdb

from indicators import SQL_DIR
from indicators.errors import FragiliteError


def spatial_extension_path() -> Path:
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise FragiliteError("the duckdb-ext-spatial wheel is not installed (pip install -e .)")
    root = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    found = sorted(root.glob("*/spatial.duckdb_extension"))
    if not found:
        raise FragiliteError(f"no spatial extension for DuckDB {duckdb.__version__} under {root}")
    return found[0]


def connect(database: str = ":memory:", threads: int | None = None,
            memory_limit: str | None = None, spatial: bool = True) -> duckdb.DuckDBPyConnection:
    """`spatial` False: no spatial extension (loading it takes about a second), for plain scans."""
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(database, config=config)
    if spatial:
        con.execute(f"LOAD '{spatial_extension_path()}'")
    return con


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def sql(name: str, **identifiers: str) -> str:
    """Text of sql/<name>.sql. Only allow-listed identifiers are substituted ({level}, ...);
    values are always bound as parameters by the caller."""
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    for key, value in identifiers.items():
        if not _IDENTIFIER.match(value):
            raise ValueError(f"refusing to interpolate {value!r} into SQL")
        text = text.replace("{" + key + "}", value)
    return text


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None, **identifiers: str):
    """Run every statement of sql/<name>.sql, binding the named parameters each one uses."""
    text = sql(name, **identifiers)
    for statement in text.split(";\n"):
        code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
        if not code.strip():
            continue
        used = {k: v for k, v in (params or {}).items() if f"${k}" in code}
        con.execute(code, used) if used else con.execute(code)
    return con


def table_from_frame(con: duckdb.DuckDBPyConnection, name: str, frame, columns: str = "*") -> None:
    """A table `name` made from a pandas frame (copied in: the frame may go), selecting `columns`
    (SQL over the frame's columns: casts, conversions)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"refusing to interpolate {name!r} into SQL")
    con.register(f"{name}_df", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {columns} FROM {name}_df")
    finally:
        con.unregister(f"{name}_df")


def _only_comments(statement: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in statement.splitlines())


def table_names(con) -> set[str]:
    """The tables of a connection (None: none): what a stage made is the difference before/after."""
    if con is None:
        return set()
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
