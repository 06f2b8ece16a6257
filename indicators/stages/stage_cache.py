"""Stage results kept between refreshes, each under the inputs it depends on.

The sources change at different paces: SIRENE's stock every month, ARCEP every quarter, the
census, Filosofi and BPE once a year. A refresh is a sequence of stages (IFN counts, polygons of
every level, IRIS x QPV weights, platform workers, then scoring and layers); each costly stage's
result is kept in `<out>/.fragilite/stages/<stage>-<key>/`, where the key hashes what the stage
reads (the content of the staged files, the tables earlier stages hand it, its options) and the
code. A refresh where only SIRENE changed restages SIRENE, recounts the platform workers and
rewrites the layers; the counts, the weights and the polygons come from here.

Results are DuckDB tables (saved and restored in their row order, so that later sums add up in
the same order and the layers come out byte-identical), pandas frames and a JSON of small values.
`StageCache.record` says, per stage, whether it was `reused` or `computed` this run; it is in the
run report (`stats.etapes`) and in `<out>/.fragilite/stages/last_run.json`. A kept result whose
files are not as written (integrity.py) is computed again, and `StageCache.notes` says why.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd
import pyarrow as pa

from indicators.db import table_names
from indicators import integrity
from indicators.lock import STATE_DIR
from indicators.sources.staging import listed

# a staging slot is named <source>-<place>-<digest>, the digest covering its files' content
SLOT = re.compile(r"^.+-[0-9a-f]{8}-(?P<digest>[0-9a-f]{16})$")


def stages_dir(out_dir: Path) -> Path:
    """Where a refresh in out_dir keeps its stages' results (and its report maps: map_cache.py)."""
    return Path(out_dir) / STATE_DIR / "stages"


@dataclass
class StageResult:
    tables: list[str] | None = field(default_factory=list)     # DuckDB tables, restored on reuse;
                                                               # None: every table the stage made
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)                    # JSON: notes, small values


def content_key(staged_path: str | list[str]) -> str:
    """What identifies a staged source's content: its staging slot's digest (the hash of the files
    it was read from, and of the code), or, outside a slot, the hash of its bytes."""
    keys = []
    for p in listed(staged_path):
        slot = next((d for d in Path(p).parents if SLOT.match(d.name) and (d / "staged.json").exists()), None)
        if slot is not None:
            keys.append(SLOT.match(slot.name)["digest"])
            continue
        digest = hashlib.sha256()
        for part in sorted(Path(p).parent.glob(Path(p).name)):     # a path may be a glob of parts
            with open(part, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
        keys.append(digest.hexdigest())
    return "+".join(keys)


def frame_key(df: pd.DataFrame) -> str:
    """The hash of a table's content (values, index, column names and types)."""
    digest = hashlib.sha256(json.dumps([list(map(str, df.columns)), list(map(str, df.dtypes))]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy())
    return digest.hexdigest()


class StageCache:
    """`root` None: nothing kept (a computation outside a refresh folder)."""

    def __init__(self, root: Path | None, code: str = ""):
        self.root = Path(root) if root is not None else None
        self.code = code
        self.record: dict[str, str] = {}
        self.notes: list[str] = []

    def key(self, *parts) -> str:
        payload = json.dumps([self.code, *parts], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def run(self, con, stage: str, key: str, compute: Callable[[], StageResult]) -> StageResult:
        """The stage's result: kept from an earlier refresh with the same key (its DuckDB tables
        restored into `con`), or computed now and kept."""
        slot = self.root / f"{stage}-{key}" if self.root is not None else None
        if slot is not None and (slot / "result.json").exists():
            try:
                result = self._load(con, slot)
            except (integrity.DamagedEntry, duckdb.Error, OSError, ValueError, KeyError, pa.ArrowException) as exc:
                self.notes.append(f"stage {stage}: its kept result was damaged ({exc}); computed again")
                shutil.rmtree(slot, ignore_errors=True)
            else:
                self.record[stage] = "reused"
                return result
        before = table_names(con)
        result = compute()
        if result.tables is None:
            result.tables = sorted(table_names(con) - before)
        if slot is not None:
            self._save(con, slot, result)
            for old in self.root.glob(f"{stage}-*"):      # one kept result per stage
                if old != slot:
                    shutil.rmtree(old, ignore_errors=True)
        self.record[stage] = "computed"
        return result

    def _save(self, con, slot: Path, result: StageResult) -> None:
        tmp = slot.with_name(slot.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for table in result.tables:
            con.execute(f"COPY {table} TO '{tmp / table}.parquet' (FORMAT parquet)")
        for name, frame in result.frames.items():
            frame.to_parquet(tmp / f"frame-{name}.parquet")
        (tmp / "result.json").write_text(json.dumps({"tables": result.tables, "frames": list(result.frames),
                                                     "meta": result.meta, "fichiers": integrity.sizes(tmp)}, default=str),
                                         encoding="utf-8")
        shutil.rmtree(slot, ignore_errors=True)
        tmp.rename(slot)                                   # whole or absent: a crash leaves no half result

    @staticmethod
    def _load(con, slot: Path) -> StageResult:
        spec = json.loads((slot / "result.json").read_text(encoding="utf-8"))
        integrity.check(slot, spec.get("fichiers"))
        restored = []
        try:
            for table in spec["tables"]:
                con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet('{slot / table}.parquet')")
                restored.append(table)
            frames = {name: pd.read_parquet(slot / f"frame-{name}.parquet") for name in spec["frames"]}
        except Exception:
            for table in restored:   # the stage will make them again
                con.execute(f"DROP TABLE IF EXISTS {table}")
            raise
        return StageResult(spec["tables"], frames, spec["meta"])

    def write_record(self) -> None:
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "last_run.json").write_text(json.dumps(self.record, indent=1, sort_keys=True),
                                                     encoding="utf-8")
