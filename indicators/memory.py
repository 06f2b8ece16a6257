"""Freed memory given back to the system between the stages of a refresh.

A national refresh holds several allocators at once: Arrow's pool (mimalloc) for the staged
Parquet, glibc's heap for pandas, GEOS and shapely, DuckDB's own. Each keeps what is freed for its
own later use, so the gigabyte that staging SIRENE's zip of CSV freed (Arrow buffers, CSV text)
was still resident while the weights and polygons allocated on other heaps: the process peaked
at 3.08 GB at scale 1.0. Released between stages, the same work peaks lower (benchmarks/README.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa

_LIBC = ctypes.util.find_library("c")


def release() -> None:
    """Return what Arrow's pool and the C heap hold unused; a no-op where the C library has no
    malloc_trim (not glibc)."""
    pa.default_memory_pool().release_unused()
    if _LIBC:
        trim = getattr(ctypes.CDLL(_LIBC), "malloc_trim", None)
        if trim is not None:
            trim(0)
