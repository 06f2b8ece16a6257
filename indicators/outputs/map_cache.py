"""Report maps kept between refreshes, under what they show.

A report map is a function of its layer's polygons, classes and small-count flags, of its texts
(title, sources, method, date), class bounds and labels, and of the drawing code. A refresh where
only SIRENE changed (the monthly case) leaves every score map as it was; drawing them again is
most of what such a refresh spends on its outputs (matplotlib renders about a second per national
map). So each map drawn is kept in `<out>/.fragilite/stages/cartes/<key>.png`, the key hashing
all of the above, and the next refresh copies it instead of drawing it when its key comes back.
matplotlib writes the same PNG bytes from the same figure, so a copied map is the map a new
drawing gives (tests/test_maps.py), and the outputs stay byte-identical to a full refresh. Only
the maps of the last refresh are kept.

Each layer's polygons simplified for drawing are kept there too (`<key>.formes.parquet`, WKB),
under the layer's digest: a refresh where only SIRENE changed draws the platform-worker maps on
the same polygons, which nationally took a second or two to simplify (the départements under the
QPVs as a coverage).

A kept file that is not whole (integrity.py: a power cut after it was renamed) is made again and
listed in `damaged`, which the run report's notes give.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import matplotlib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pandas as pd
import shapely

from indicators.integrity import file_damage
from indicators.outputs.files import atomic_path

HERE = Path(__file__).resolve().parent
# the code a map's pixels depend on
DRAWING_CODE = [HERE / "maps.py", HERE / "palette.py", Path(__file__).resolve()]


def _code() -> str:
    digest = hashlib.sha256(matplotlib.__version__.encode())
    for path in DRAWING_CODE:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def layer_digest(gdf: gpd.GeoDataFrame | None) -> str:
    """What a layer gives its maps besides their classes and marks: polygons, CRS, régions (insets)."""
    if gdf is None:
        return ""
    digest = hashlib.sha256(str(gdf.crs).encode())
    geoms = gdf.geometry.to_numpy()
    # the vertices and how they group into units and parts: a quarter of the time of the WKB
    for array in (shapely.get_coordinates(geoms), shapely.get_num_coordinates(geoms),
                  shapely.get_num_geometries(geoms)):
        digest.update(memoryview(np.ascontiguousarray(array)))   # tobytes() copied 94 MB: 0.5 s nationally
    for col in ("code_region",):
        if col in gdf:
            digest.update(col.encode())
            # by codes and their values: hash_pandas_object takes 0.2 s on 49 000 strings
            codes, values = pd.factorize(gdf[col])
            digest.update(codes.astype(np.int64))
            digest.update(json.dumps([str(v) for v in values]).encode())
    return digest.hexdigest()


class MapCache:
    """`folder` None: nothing kept, every map drawn."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder is not None else None
        self.code = _code() if folder is not None else ""
        self.used: set[str] = set()
        self.reused = 0
        self.damaged: list[str] = []   # kept files found damaged and made again: what was wrong

    def key(self, layer: str, series: list[pd.Series], *parts) -> str:
        """layer: layer_digest; series: what colours and marks the units (classes, flags)."""
        digest = hashlib.sha256(self.code.encode())
        digest.update(layer.encode())
        for values in series:
            digest.update(pd.util.hash_pandas_object(values, index=True).to_numpy())
        digest.update(json.dumps([asdict(p) if is_dataclass(p) else p for p in parts], default=str).encode())
        return digest.hexdigest()[:32]

    def draw(self, key: str, target: Path, draw: Callable[[], Path]) -> Path:
        """The map at target: copied from the kept one with this key, or drawn and kept."""
        if self.folder is None:
            return draw()
        self.used.add(key)
        kept = self.folder / f"{key}.png"
        if self._whole(kept):
            with atomic_path(target) as tmp:
                shutil.copyfile(kept, tmp)
            self.reused += 1
            return target
        draw()
        with atomic_path(kept) as tmp:   # whole or absent
            shutil.copyfile(target, tmp)
        return target

    def shapes(self, layer: str, name: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Polygons simplified for drawing: the kept ones for this layer digest and name, or
        make()'s, kept. WKB keeps every coordinate: the maps are the same."""
        if self.folder is None:
            return make()
        stem = hashlib.sha256(f"{self.code}/{layer}/{name}".encode()).hexdigest()[:32] + ".formes"
        self.used.add(stem)
        kept = self.folder / f"{stem}.parquet"
        if self._whole(kept):
            try:
                return shapely.from_wkb(pq.read_table(kept).column("wkb").to_numpy(zero_copy_only=False))
            except (OSError, ValueError, KeyError, pa.ArrowException, shapely.errors.GEOSException) as exc:
                self.damaged.append(f"{kept.name}: {exc}")
        shapes = make()
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(kept) as tmp:
            pq.write_table(pa.table({"wkb": pa.array(shapely.to_wkb(shapes), pa.binary())}), tmp)
        return shapes

    def _whole(self, kept: Path) -> bool:
        """Whether a kept file can be used; one that is there but not whole is noted."""
        if not kept.exists():
            return False
        why = file_damage(kept)
        if why is not None:
            self.damaged.append(why)
        return why is None

    def prune(self) -> None:
        """Forget the maps this refresh did not make."""
        if self.folder is None or not self.folder.exists():
            return
        for path in self.folder.iterdir():
            if path.stem not in self.used:
                path.unlink(missing_ok=True)
