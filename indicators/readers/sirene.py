"""SIRENE: StockEtablissement, StockUniteLegale and the geolocation file "pour études statistiques".

A national file has about 40 million establishments (several GB): it streams, never through
pandas. The CSV is decompressed on the fly from its zip and parsed by pyarrow in record batches
(only the columns needed, all as strings), which DuckDB filters and writes to Parquet in one
pass. Establishments are filtered on their APE code while reading, so the staged table holds the
trades studied only. The parquet edition is read by DuckDB directly.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..db import connect
from ..errors import InputError

REQUIRED = {
    "sirene_etablissements": [
        "siret", "siren", "statutDiffusionEtablissement", "dateCreationEtablissement",
        "dateDernierTraitementEtablissement", "etatAdministratifEtablissement",
        "activitePrincipaleEtablissement", "caractereEmployeurEtablissement", "codeCommuneEtablissement",
        "codePaysEtrangerEtablissement", "complementAdresseEtablissement", "numeroVoieEtablissement",
        "typeVoieEtablissement", "libelleVoieEtablissement", "coordonneeLambertAbscisseEtablissement",
        "coordonneeLambertOrdonneeEtablissement",
    ],
    "sirene_unites_legales": ["siren", "categorieJuridiqueUniteLegale"],
    "sirene_geolocalisation": ["siret", "x", "y", "qualite_xy", "epsg", "plg_code_commune", "plg_iris"],
}
OPTIONAL = {
    "sirene_etablissements": ["enseigne1Etablissement", "denominationUsuelleEtablissement"],
    "sirene_unites_legales": [],
    "sirene_geolocalisation": ["plg_qp15", "plg_qp24"],
}
SEPARATORS = {"sirene_etablissements": ",", "sirene_unites_legales": ",", "sirene_geolocalisation": ";"}


def _csv_stream(path: Path, source: str, member: str | None, columns: list[str]):
    """A pyarrow record-batch reader over the CSV (inside its zip or not), reading only `columns`,
    all as strings: the decompressed text is never written to disk, and pandas never sees it."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    raw = zipfile.ZipFile(path).open(member) if member else open(path, "rb")
    return pacsv.open_csv(
        raw,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=SEPARATORS[source], quote_char='"'),
        convert_options=pacsv.ConvertOptions(include_columns=columns,
                                             column_types={c: pa.string() for c in columns},
                                             strings_can_be_null=False),
    )


def _header(path: Path, source: str, member: str | None) -> list[str]:
    import csv
    import io

    raw = zipfile.ZipFile(path).open(member) if member else open(path, "rb")
    with raw:
        first = io.TextIOWrapper(raw, encoding="utf-8-sig").readline()
    return next(csv.reader([first], delimiter=SEPARATORS[source]))


def stage_sirene(path: Path, source: str, target: Path, apes: list[str] | None = None) -> dict:
    """Write the columns the counting rule needs to target (Parquet). Returns row counts."""
    label = str(path)
    con = connect()
    member = None
    try:
        if path.suffix.lower() == ".parquet":
            quoted = str(path).replace("'", "''")
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{quoted}')").fetchall()]
        else:
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    members = [n for n in zf.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise InputError(path, f"expected one CSV file in the zip, found {members}")
                member = members[0]
            elif path.suffix.lower() == ".zip":
                raise InputError(path, "truncated or corrupt zip (not a readable zip archive)")
            columns = _header(path, source, member)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(label, f"truncated or corrupt file ({type(exc).__name__}: {exc})") from exc
    for col in REQUIRED[source]:
        if col not in columns:
            near = [c for c in columns if c.lower() == col.lower()]
            hint = f" (found {near[0]!r})" if near else ""
            raise InputError(label, f"missing column{hint}", column=col)
    present = REQUIRED[source] + [c for c in OPTIONAL[source] if c in columns]
    select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in present)
    missing_optional = [c for c in OPTIONAL[source] if c not in columns]
    if missing_optional:
        select += ", " + ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in missing_optional)
    where, params = "", []
    if source == "sirene_etablissements" and apes:
        where = 'WHERE "activitePrincipaleEtablissement" IN (SELECT unnest(?))'
        params = [apes]
    out = str(target).replace("'", "''")
    try:
        if path.suffix.lower() == ".parquet":
            relation = f"read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
        else:
            con.register("sirene_stream", _csv_stream(path, source, member, present))
            relation = "sirene_stream"
        con.execute(f"COPY (SELECT {select} FROM {relation} {where}) TO '{out}' (FORMAT parquet)", params or None)
    except Exception as exc:  # a zip cut short shows up here, as a CRC or an end-of-stream error
        target.unlink(missing_ok=True)
        raise InputError(label, f"truncated or corrupt file ({type(exc).__name__}: {exc})") from exc
    kept = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    con.close()
    return {"rows_kept": int(kept)}
