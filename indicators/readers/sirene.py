"""SIRENE: StockEtablissement, StockUniteLegale and the geolocation file "pour études statistiques".

A national file has about 40 million establishments (several GB): it streams through DuckDB, never
through pandas. A zip is unpacked to disk by streaming copy; DuckDB reads only the columns needed
and writes them to Parquet. Establishments are filtered on their APE code while reading, so the
staged table holds the trades studied only.
"""

from __future__ import annotations

import shutil
import tempfile
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


def _unzip(path: Path, tmp: Path) -> Path:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [n for n in zf.namelist() if n.lower().endswith((".csv", ".parquet"))]
            if len(members) != 1:
                raise InputError(path, f"expected one CSV or Parquet file in the zip, found {zf.namelist()}")
            target = tmp / Path(members[0]).name
            with zf.open(members[0]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 22)   # streaming: never the whole file in memory
            return target
    except InputError:
        raise
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, CRC mismatch: all a broken download
        raise InputError(path, f"truncated or corrupt zip ({type(exc).__name__}: {exc})") from exc


def _relation(local: Path, source: str) -> str:
    quoted = str(local).replace("'", "''")
    if local.suffix.lower() == ".parquet":
        return f"read_parquet('{quoted}')"
    sep = SEPARATORS[source]
    return (f"read_csv('{quoted}', delim='{sep}', header=true, all_varchar=true, quote='\"', "
            f"escape='\"', strict_mode=false, null_padding=true)")


def stage_sirene(path: Path, source: str, target: Path, apes: list[str] | None = None) -> dict:
    """Write the columns the counting rule needs to target (Parquet). Returns row counts."""
    label = str(path)
    con = connect()
    with tempfile.TemporaryDirectory(prefix="fragilite-sirene-", dir=target.parent) as tmp:
        local = _unzip(path, Path(tmp)) if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip" else path
        rel = _relation(local, source)
        try:
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
        except Exception as exc:
            raise InputError(label, f"cannot read ({exc})") from exc
        for col in REQUIRED[source]:
            if col not in columns:
                near = [c for c in columns if c.lower() == col.lower()]
                hint = f" (found {near[0]!r})" if near else ""
                raise InputError(label, f"missing column{hint}", column=col)
        wanted = REQUIRED[source] + [c for c in OPTIONAL[source] if c in columns]
        select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in wanted)
        missing_optional = [c for c in OPTIONAL[source] if c not in columns]
        if missing_optional:
            select += ", " + ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in missing_optional)
        where = ""
        params: list = []
        if source == "sirene_etablissements" and apes:
            where = 'WHERE "activitePrincipaleEtablissement" IN (SELECT unnest(?))'
            params = [apes]
        out = str(target).replace("'", "''")
        try:
            total = con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]
            con.execute(f"COPY (SELECT {select} FROM {rel} {where}) TO '{out}' (FORMAT parquet)", params or None)
        except Exception as exc:
            raise InputError(label, f"cannot read as a SIRENE {source.split('_', 1)[1]} file ({exc})") from exc
        kept = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    con.close()
    return {"rows_read": int(total), "rows_kept": int(kept)}
