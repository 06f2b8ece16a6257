"""Freed memory given back to the system between the stages of a refresh.

A national refresh holds several allocators at once: Arrow's pool (jemalloc, choose_arrow_pool)
for the staged Parquet, glibc's heap for pandas, GEOS and shapely, DuckDB's own. Each keeps what
is freed for its own later use, so the gigabyte that staging SIRENE's zip of CSV freed (Arrow
buffers, CSV text) was still resident while the weights and polygons allocated on other heaps:
the process peaked at 3.08 GB at scale 1.0. Released between stages, the same work peaks lower
(benchmarks/README.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import pyarrow as pa

_LIBC = ctypes.util.find_library("c")


def choose_arrow_pool() -> None:
    """Arrow's pool for the process: jemalloc where pyarrow has it, unless the user chose one
    (ARROW_DEFAULT_MEMORY_POOL). Arrow's default, mimalloc, was slow here to hand out fresh large
    buffers, which a refresh asks for after each release(): the national IRIS WKB (94 MB) to an
    Arrow array took 0.4-0.7 s the first times, 0.11-0.15 s with jemalloc; the twelve national
    layer files, written after a release, 5.3-5.6 s against 3.8-5.1 s. A whole refresh's time
    could not be told apart; its peak was lower (benchmarks/README.md, eighth pass)."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:   # a pyarrow built without it (Windows): its default
            pass


choose_arrow_pool()


def release() -> None:
    """Return what Arrow's pool and the C heap hold unused; a no-op where the C library has no
    malloc_trim (not glibc)."""
    pa.default_memory_pool().release_unused()
    if _LIBC:
        trim = getattr(ctypes.CDLL(_LIBC), "malloc_trim", None)
        if trim is not None:
            trim(0)
