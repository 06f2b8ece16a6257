"""The peak memory of a running process tree, sampled as every benchmark script here takes it."""

from __future__ import annotations

import subprocess
import time

import psutil


def peak_rss(proc: subprocess.Popen, timeout: float | None = None) -> tuple[int, bool]:
    """The largest RSS (bytes) of the process and its children, sampled every 50 ms until it
    exits, and whether it was killed for running past `timeout` seconds."""
    start = time.perf_counter()
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True)))
        except psutil.Error:
            pass
        if timeout and time.perf_counter() - start > timeout:
            proc.kill()
            proc.wait()
            return peak, True
        time.sleep(0.05)
    return peak, False
