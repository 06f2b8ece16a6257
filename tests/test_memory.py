"""Arrow's memory pool of a refresh (indicators/memory.py)."""

import os
import subprocess
import sys

import pyarrow as pa

PROBE = "import pyarrow as pa, indicators.pipeline; print(pa.default_memory_pool().backend_name)"


def _pool(**env) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    return subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_refresh_allocates_arrow_buffers_from_jemalloc_unless_the_user_chose():
    try:
        pa.jemalloc_memory_pool()
        expected = "jemalloc"
    except NotImplementedError:   # a pyarrow without it keeps its default
        expected = pa.default_memory_pool().backend_name
    assert _pool() == expected
    assert _pool(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
