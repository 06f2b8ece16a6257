"""Two or more revisions timed side by side on one dataset, alternating, in one process each.

  python benchmarks/side_by_side.py --data benchmarks/data/1.0 --sirene parquet 765ddac HEAD

On this project's machines the same run moves by 30-50 % from one hour to the next, CPU time
included, which is more than most changes move `run.py`'s rows. So a change is measured here:
each revision (a git worktree of it; `.` is the checkout as it stands) runs a full refresh, then
the refresh after only the SIRENE files changed (the monthly case), round after round, the
revisions alternating so that the machine's drift falls on all of them alike. Printed per run:
wall and CPU seconds of the whole refresh and of its phases (check, stage, compute, export), and
the peak RSS of the refresh's process tree; last line, as JSON, each revision's median full and
SIRENE-only wall time and its largest peak RSS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from dataset import SIRENE_EDITIONS, inputs  # noqa: E402
from measure import peak_rss  # noqa: E402

# Runs in the revision's code: the phases are timed by wrapping pipeline's functions where they exist
CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
import indicators.pipeline as P
from indicators.stages.compute import RunOptions
phases = {{}}
def timed(owner, name, label):
    f = getattr(owner, name, None)
    if f is None:
        return
    def g(*a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return f(*a, **k)
        finally:
            phases[label] = [round(time.perf_counter() - w, 2), round(time.process_time() - c, 2)]
    setattr(owner, name, g)
timed(P.cache, "check", "check"); timed(P, "stage_all", "stage")
timed(P, "compute", "compute"); timed(P, "write_and_publish", "export")
given = {{k: [Path(p) for p in v] for k, v in json.loads({given!r}).items()}}
w, c = time.perf_counter(), time.process_time()
P.run_local(given, Path({out!r}), RunOptions())
print(json.dumps({{"wall": round(time.perf_counter() - w, 2), "cpu": round(time.process_time() - c, 2), **phases}}))
"""


def run_once(root: Path, data: Path, sirene: str, edition: str, out: Path) -> dict:
    """One refresh in a process of its own: its JSON line, and the peak RSS of its process tree."""
    given = json.dumps({k: [str(p) for p in v] for k, v in inputs(data, sirene, edition).items()})
    code = CHILD.format(root=str(root), given=given, out=str(out))
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=stdout, stderr=stderr, text=True, cwd=root)
        peak, _ = peak_rss(proc)
        if proc.returncode:
            stderr.seek(0)
            raise SystemExit(f"{root}: the refresh failed\n{stderr.read()[-3000:]}")
        stdout.seek(0)
        return {**json.loads(stdout.read().strip().splitlines()[-1]), "peak_mb": round(peak / 2**20)}


def checkouts(revisions: list[str], folder: Path) -> dict[str, Path]:
    """Each revision's code: the checkout itself for `.`, else a detached worktree in `folder`."""
    roots = {}
    for rev in revisions:
        if rev == ".":
            roots[rev] = ROOT
            continue
        target = folder / rev.replace("/", "_")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(target), rev], check=True)
        roots[rev] = target
    return roots


def line(rev: str, kind: str, r: dict) -> str:
    parts = " ".join(f"{k} {v[0]:.1f} ({v[1]:.1f})" for k, v in r.items() if isinstance(v, list))
    return f"{rev:<12} {kind:<12} wall {r['wall']:6.1f} cpu {r['cpu']:6.1f} peak {r['peak_mb']:5d} MB   {parts}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions, or . for the checkout as it stands")
    parser.add_argument("--data", type=Path, required=True, help="a dataset of generate_national.py")
    parser.add_argument("--sirene", choices=["zip", "parquet"], default="parquet")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    previous, current = SIRENE_EDITIONS
    times: dict[str, dict[str, list[float]]] = {rev: {"full": [], "sirene_only": [], "peak_mb": []}
                                                for rev in args.revisions}
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        roots = checkouts(args.revisions, Path(tmp))
        try:
            print("revision     refresh      wall (s) cpu (s) peak RSS   phases: wall (cpu)")
            for n in range(args.rounds):
                for rev, root in roots.items():
                    out = Path(tmp) / f"out-{n}-{rev.replace('/', '_')}"
                    full = run_once(root, args.data, args.sirene, previous, out)
                    monthly = run_once(root, args.data, args.sirene, current, out)
                    print(line(rev, "full", full), flush=True)
                    print(line(rev, "sirene-only", monthly), flush=True)
                    times[rev]["full"].append(full["wall"])
                    times[rev]["sirene_only"].append(monthly["wall"])
                    times[rev]["peak_mb"] += [full["peak_mb"], monthly["peak_mb"]]
        finally:
            for rev, root in roots.items():
                if root != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(root)], check=False)
    print(json.dumps({rev: {"full": round(statistics.median(t["full"]), 2),
                            "sirene_only": round(statistics.median(t["sirene_only"]), 2),
                            "peak_mb": max(t["peak_mb"])} for rev, t in times.items()}))


if __name__ == "__main__":
    main()
