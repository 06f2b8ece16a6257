"""One vectorized GEOS or PROJ call split over two cores, its result that of the whole call.

shapely's vectorized functions release the GIL while GEOS loops (pyproj's transforms while PROJ
does), so two threads each taking a part of the array run on two cores. The IRIS x QPV weights
are a chain of such calls (tree queries, containment, cuts, reprojection) on one thread, a
second or more each nationally, while the polygons are dissolved beside them: split, the chain
finishes on the core the dissolve leaves free. Parts are contiguous and put back in order, so
the arrays are those of one call. Small arrays are not split (a thread costs more than it saves).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import shapely

THREADS = min(2, os.cpu_count() or 1)
MIN_SPLIT = 20_000   # elements


def _parts(n: int, threads: int, keys: np.ndarray | None = None) -> list[slice]:
    edges = np.linspace(0, n, threads + 1).astype(int)
    if keys is not None:   # each edge back to the first element of its key's run
        edges = np.searchsorted(keys, keys[np.minimum(edges, n - 1)], side="left")
        edges[0], edges[-1] = 0, n
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def elementwise(func: Callable[..., np.ndarray], *arrays: np.ndarray, threads: int = THREADS,
                keys: np.ndarray | None = None) -> np.ndarray:
    """func(*arrays) for a function applied element by element to arrays of one length.
    keys (sorted, one per element): elements of one key stay in one part, e.g. the pairs of one
    prepared polygon, which no two threads then use at once."""
    n = len(arrays[0])
    if threads < 2 or n < MIN_SPLIT:
        return func(*arrays)
    with ThreadPoolExecutor(threads) as pool:
        done = list(pool.map(lambda part: func(*(a[part] for a in arrays)), _parts(n, threads, keys)))
    return np.concatenate(done)


def query(tree: shapely.STRtree, geoms: np.ndarray, predicate: str, threads: int = THREADS) -> np.ndarray:
    """tree.query(geoms, predicate): the (input, tree) index pairs, in the order one call gives
    them (by input, as its parts are taken in order)."""
    n = len(geoms)
    if threads < 2 or n < MIN_SPLIT // 10:   # a query is costly per input: split smaller arrays
        return tree.query(geoms, predicate=predicate)
    tree.query(geoms[:1], predicate=predicate)   # a GEOS tree not built yet is built by a query: this one, alone
    parts = _parts(n, threads)
    with ThreadPoolExecutor(threads) as pool:
        done = list(pool.map(lambda part: tree.query(geoms[part], predicate=predicate), parts))
    for part, pairs in zip(parts, done):
        pairs[0] += part.start
    return np.concatenate(done, axis=1)
