"""A SYNTHETIC writer of output sets, run as a subprocess by tests/test_publish.py: it takes the
folder's lock, repairs, writes a tiny set whose every file carries its tag, and publishes it, the
way a refresh does, so that tests can kill it anywhere (FRAGILITE_FAULT) in a fraction of a second.

    python tests/publish_worker.py OUT TAG [--iris N] [--scored 0|1] [--extra NAME] [--wait S]
                                   [--hold S] [--keep N] [--accept-shrink] [--bytes N]
    python tests/publish_worker.py OUT --repair | --rollback RUN | --add NAME [--version V]

--add NAME adds a folder NAME (index.html naming the current set's tag) to the current set, as
`fragilite carte` adds the web map.

Exit codes are the command line's: 0 published, 4 busy, 5 refused, 6 unwritable.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

LAYERS = ("iris", "communes", "epci", "departements", "regions")


def write_set(folder: Path, tag: str, n_iris: int, scored: bool, extra: list[str], size: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i, layer in enumerate(LAYERS):
        n = max(n_iris // (10 ** i), 1) if n_iris else 0
        codes = [f"{layer[:2]}{k:07d}" for k in range(n)] if layer != "iris" else [f"30{k:07d}" for k in range(n)]
        table = pa.table({f"code_{'iris' if layer == 'iris' else layer}": codes,
                          "score_global": [float(k) if scored else None for k in range(n)],
                          "methode": [tag] * n}).replace_schema_metadata({"run": tag})
        pq.write_table(table, folder / f"{layer}.parquet")
        (folder / f"{layer}.gpkg").write_text(f"gpkg twin of {layer}, run {tag}\n" + "x" * size)
    (folder / "rejects.csv").write_text(f"code,raison,run\n1,test,{tag}\n")
    for name in extra:
        if name.endswith(".parquet"):
            pq.write_table(pa.table({"methode": [tag]}).replace_schema_metadata({"run": tag}), folder / name)
        else:
            (folder / name).write_text(f"name,run\n{name},{tag}\n")
    (folder / "run_report.json").write_text(json.dumps({"method": tag, "outputs": {l: {"rows": n_iris} for l in LAYERS}}))


def write_folder(folder: Path, tag: str, version: str) -> None:
    """A folder derived from the set (as the web map is): its files name the set's tag."""
    (folder / "data").mkdir()
    (folder / "index.html").write_text(f"map of run {tag}, version {version}\n")
    (folder / "data" / "layer.js").write_text(f"layer of run {tag}, version {version}\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("tag", nargs="?", default="")
    parser.add_argument("--iris", type=int, default=50)
    parser.add_argument("--scored", type=int, default=1)
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--wait", type=float, default=0)
    parser.add_argument("--hold", type=float, default=0, help="seconds to sleep inside the lock, before writing")
    parser.add_argument("--keep", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=0, help="padding of each .gpkg")
    parser.add_argument("--accept-shrink", action="store_true")
    parser.add_argument("--repair", action="store_true")
    parser.add_argument("--rollback")
    parser.add_argument("--add", help="add this folder to the current set")
    parser.add_argument("--version", default="1", help="written in the added folder's files")
    args = parser.parse_args(argv)

    from indicators.errors import FragiliteError
    from indicators.lock import OutputLock
    from indicators.outputs import publish

    try:
        with OutputLock(args.out, wait=args.wait, what=f"test writer {args.tag}",
                        on_wait=lambda holder: print("waiting for", holder, flush=True)):
            print("locked", flush=True)
            for action in publish.repair(args.out):
                print("repair:", action, flush=True)
            if args.repair:
                return 0
            if args.rollback:
                print("rolled back to", publish.rollback(args.out, args.rollback).run_id)
                return 0
            if args.add:
                tag = publish.current(args.out).meta["method"]
                publish.add_to_current(args.out, args.add, lambda folder: write_folder(folder, tag, args.version))
                print("added", args.add, flush=True)
                return 0
            time.sleep(args.hold)
            with publish.new_set(args.out, {"method": args.tag}) as made:
                write_set(made.path, args.tag, args.iris, bool(args.scored), args.extra, args.bytes)
            guard = publish.Guard(accept_shrink=args.accept_shrink)
            publish.publish(args.out, made.sealed, guard, keep=args.keep)
            print("published", made.run_id, flush=True)
            return 0
    except FragiliteError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return getattr(exc, "exit_code", 2)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))
