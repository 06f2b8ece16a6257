"""Wall time of an up-to-date `fragilite run`, from the shell: the figure of the README.

    python benchmarks/noop.py [--repeat 5] [--out DIR] [-- RUN OPTIONS...]

Runs `fragilite run --out DIR [options]` once (a full refresh, unless DIR is already up to date),
then `--repeat` times more on the same inputs, each a new process timed from start to exit, the
way a person or a cron job sees it. Prints each time and the median; exits non-zero if a repeat
was not up to date. The figure is printed, not asserted: it depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRAGILITE = Path(sys.executable).with_name("fragilite")


def timed_run(out: Path, extra: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([str(FRAGILITE), "run", "--out", str(out), *extra], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"})
    return time.perf_counter() - started, done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one)")
    parser.add_argument("extra", nargs="*", help="options of `fragilite run`, after --")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="fragilite-noop-")) / "out"
    first, done = timed_run(out, args.extra)
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        return done.returncode
    print(f"first run: {first:.2f} s ({'up to date' if 'up to date' in done.stdout else 'refresh'})")
    times = []
    for _ in range(args.repeat):
        seconds, done = timed_run(out, args.extra)
        if done.returncode != 0 or "up to date" not in done.stdout:
            print("not up to date:", done.stdout, done.stderr, file=sys.stderr)
            return 1
        times.append(seconds)
        print(f"up to date: {seconds:.2f} s")
    load = os.getloadavg()[0]
    print(f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
          f"({len(times)} runs; load average {load:.1f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
