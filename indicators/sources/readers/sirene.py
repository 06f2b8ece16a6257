"""SIRENE: StockEtablissement, StockUniteLegale and the geolocation file "pour études statistiques".

A national file has about 40 million establishments (several GB): it streams, never through
pandas. The CSV is inflated on the fly from its zip (zipstream.py) and parsed by pyarrow in
record batches (only the columns needed, all as strings), filtered and written to Parquet in
one pass. The parquet edition is read by DuckDB directly.

Only what the counting rule can use is kept. The establishments of the trades studied (APE
`53.20Z`, `49.32Z`: about 1 % of the stock), then, read against them (`keys`), their legal units
and geolocations: a semi-join while streaming, so the staged tables hold a few hundred thousand
rows, not 40 million. Before the parser, a byte-level prefilter (prefilter.py) drops the lines
that provably cannot match; the exact filter still runs on the parsed columns. Should the
selected lines not parse (a record broken by a quoted line break), the whole file is parsed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from indicators.db import connect
from indicators.errors import InputError
from indicators.sources.readers.prefilter import FirstKeyIn, HasAny, LineFilter
from indicators.sources.readers.zipstream import open_member

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


# the key each file is semi-joined on, against the establishments kept
KEYS = {"sirene_unites_legales": "siren", "sirene_geolocalisation": "siret"}

def _open(path: Path, member: str | None):
    return open_member(path, member) if member else open(path, "rb")


def _csv_stream(raw, source: str, columns: list[str]):
    """A pyarrow record-batch reader over a CSV byte stream, reading only `columns`, all as
    strings: the decompressed text is never written to disk, and pandas never sees it."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.open_csv(
        raw,
        # large blocks: each one's rows are looked up in the keys' hash set, built once a block
        read_options=pacsv.ReadOptions(block_size=1 << 25),
        parse_options=pacsv.ParseOptions(delimiter=SEPARATORS[source], quote_char='"'),
        convert_options=pacsv.ConvertOptions(include_columns=columns,
                                             column_types={c: pa.string() for c in columns},
                                             strings_can_be_null=False),
    )


def _header(path: Path, source: str, member: str | None) -> list[str]:
    import csv
    import io

    with _open(path, member) as raw:
        first = io.TextIOWrapper(raw, encoding="utf-8-sig").readline()
    return next(csv.reader([first], delimiter=SEPARATORS[source]))


def _write_filtered(reader, target: Path, columns: list[str], column: str | None, values) -> int:
    """Stream CSV record batches to Parquet, keeping the rows whose `column` is in `values` (all of
    them when `column` is None), with `columns` in this order (absent ones as nulls). Returns the
    rows read. pyarrow alone: DuckDB, scanning a Python stream, held GBs of batches."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = pa.schema([(c, pa.string()) for c in columns])
    lookup = pc.SetLookupOptions(value_set=values) if column is not None else None
    rows = 0
    with pq.ParquetWriter(target, schema) as writer:
        for batch in reader:
            rows += batch.num_rows
            if column is not None:
                batch = batch.filter(pc.is_in(batch.column(column), options=lookup))
            arrays = [batch.column(c) if c in batch.schema.names else pa.nulls(batch.num_rows, pa.string())
                      for c in columns]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return rows


def _key_values(source: str, apes: list[str] | None, keys: list[str] | None):
    """The column a file is filtered on, and the values it keeps (None, None: keep every row)."""
    import pyarrow as pa

    if source == "sirene_etablissements" and apes:
        return "activitePrincipaleEtablissement", pa.array(apes, pa.string())
    if source in KEYS and keys is not None:
        with connect(spatial=False) as con:   # DuckDB reads the staged parts' glob
            found = con.execute(f'SELECT DISTINCT "{KEYS[source]}" FROM read_parquet(?) ORDER BY 1',
                                [list(keys)]).fetch_arrow_table()
        return KEYS[source], found.column(0).combine_chunks().cast(pa.string())
    return None, None


def _prefilter(source: str, columns: list[str], column: str | None, values):
    """The byte-level line rule for this file (prefilter.py), or None to parse every line."""
    if column is None:
        return None
    if source == "sirene_etablissements":
        return HasAny([v.encode() for v in values.to_pylist()])
    # the key is the first column, a fixed-width number: lines are tested on their first bytes
    width = {"siren": 9, "siret": 14}[column]
    keys = values.to_numpy(zero_copy_only=False).astype(str)
    if columns[0] != column or not all(len(k) == width and k.isdigit() for k in keys):
        return None
    return FirstKeyIn(keys.astype(np.int64), width, SEPARATORS[source].encode())


def stage_sirene(path: Path, source: str, target: Path, apes: list[str] | None = None,
                 keys: list[str] | None = None) -> dict:
    """Write the columns the counting rule needs to target (Parquet): for the establishments,
    those of the `apes` trades; for the other two files, the rows whose siren or siret is in the
    staged establishments `keys` (Parquet files). Returns the rows read and kept, and how."""
    label = str(path)
    member = None
    parquet = path.suffix.lower() == ".parquet"
    quoted = str(path).replace("'", "''")
    try:
        if parquet:
            columns = pq.ParquetFile(path).schema_arrow.names
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
    wanted = REQUIRED[source] + OPTIONAL[source]
    column, values = _key_values(source, apes, keys)
    try:
        if parquet:
            select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in present else f'CAST(NULL AS VARCHAR) AS "{c}"'
                               for c in wanted)
            out = str(target).replace("'", "''")
            with connect(spatial=False) as con:
                # a few APE codes: a filter the parquet scan applies itself; a quarter of a million
                # keys: a semi-join against them, as an Arrow table
                if column is not None and len(values) > 100:
                    con.register("wanted_keys", pa.table({"k": values}))
                    where = f'WHERE "{column}" IN (SELECT k FROM wanted_keys)'
                else:
                    where = f'WHERE list_contains($values, "{column}")' if column else ""
                con.execute(f"COPY (SELECT {select} FROM read_parquet('{quoted}') {where}) TO '{out}' (FORMAT parquet)",
                            {"values": values.to_pylist()} if column is not None and len(values) <= 100 else None)
            how, rows_read = "parquet", pq.ParquetFile(path).metadata.num_rows
        else:
            how = "full"
            rule = _prefilter(source, columns, column, values)
            if rule is not None:
                lines = LineFilter(_open(path, member), rule)
                try:
                    _write_filtered(_csv_stream(lines, source, present), target, wanted, column, values)
                    how, rows_read = "lines", lines.lines
                except Exception as exc:
                    if "CSV parse error" not in str(exc):
                        raise
                    target.unlink(missing_ok=True)   # a record over two lines: parse it all below
                finally:
                    lines.close()
            if how == "full":
                with _open(path, member) as raw:
                    rows_read = _write_filtered(_csv_stream(raw, source, present), target, wanted, column, values)
    except Exception as exc:  # a zip cut short shows up here, as a CRC or an end-of-stream error
        target.unlink(missing_ok=True)
        raise InputError(label, f"truncated or corrupt file ({type(exc).__name__}: {exc})") from exc
    kept = pq.ParquetFile(target).metadata.num_rows
    return {"rows_kept": int(kept), "rows_read": int(rows_read), "lecture": how}
