"""Web map benchmark: the map bundle of a national run, its size, its build time, and how fast a
browser draws its first map when it is served (`fragilite carte --serve`). Figures printed, the
last line as JSON; nothing asserted (see benchmarks/README.md).

  python benchmarks/carte.py --scale 1.0          # dataset generated first if missing (SYNTHETIC)

Steps: (1) the layers: a refresh of the SYNTHETIC national dataset (run_local), kept in
benchmarks/data/<scale>-layers/ and reused; (2) the bundle: build_carte, timed (tiles mode above
the inline threshold); (3) the page: `fragilite carte --serve` in a subprocess, Debian's Chromium
driven by Playwright, a fresh browser context per load (empty cache), every request other than
the local server's refused; `first_draw_ms` is the page's own clock (performance.now() at the
first map 'idle' with the displayed level's data drawn), `load_s` the wall time from navigation
to that moment. `build_cpu_s` counts the CPU time of the build and of tippecanoe: on a shared
machine it says what the build costs when the wall clock says how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from generate_national import generate, inputs  # noqa: E402

CHROMIUM = os.environ.get("FRAGILITE_CHROMIUM", "/usr/bin/chromium")


def layers(scale: float, data: Path, target: Path) -> float | None:
    """The run's layers in target (made once): seconds taken, None when reused."""
    if (target / "iris.parquet").exists():
        return None
    from indicators.stages.compute import RunOptions
    from indicators.pipeline import run_local

    if not (data / "SYNTHETIQUE.json").exists():
        generate(scale, data, sirene=False)       # the map needs no SIRENE; 40 M rows take 18 GB to write
    given = {sid: paths for sid, paths in inputs(data, "zip").items() if all(p.exists() for p in paths)}
    started = time.perf_counter()
    run_local(given, target, RunOptions())
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def page_loads(url: str, runs: int, screenshot: Path | None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for i in range(runs):
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            errors, refused = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                       else (refused.append(r.request.url), r.abort()))
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_function("document.body.dataset.pret === '1'", timeout=120_000)
            load_s = time.perf_counter() - started
            results.append({"first_draw_ms": round(page.evaluate("window.FRAGILITE.firstDrawMs")), "load_s": round(load_s, 2),
                            "errors": len(errors), "refused": len(refused)})
            if screenshot and i == runs - 1:
                page.wait_for_timeout(1500)
                page.screenshot(path=str(screenshot))
            ctx.close()
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    data = args.data or HERE / "data" / str(args.scale)
    target = HERE / "data" / f"{args.scale}-layers"
    refresh_s = layers(args.scale, data, target)

    from indicators.outputs.carte.build import build_carte

    cpu = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    built = build_carte(target)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    build_cpu_s = (time.process_time() - cpu[0]) + (children.ru_utime + children.ru_stime - cpu[1].ru_utime - cpu[1].ru_stime)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "indicators.outputs.carte.serve", str(target / "carte"), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/index.html"
        wait_for(url)
        loads = page_loads(url, args.runs, args.screenshot)
    finally:
        server.terminate()
        server.wait()
    sizes = {p.name: p.stat().st_size for p in (target / "carte" / "data").iterdir()}
    result = {
        "scale": args.scale, "mode": built["mode"], "units": built["units"],
        "build_s": built["seconds"], "build_cpu_s": round(build_cpu_s, 1), "bundle_mb": round(built["bytes"] / 2**20, 1),
        "pmtiles_mb": round(sum(v for k, v in sizes.items() if k.endswith(".pmtiles")) / 2**20, 1),
        "fiches_mb": round(sum(p.stat().st_size for p in (target / "carte" / "fiches").iterdir()) / 2**20, 1),
        "first_draw_ms_median": statistics.median(r["first_draw_ms"] for r in loads),
        "first_draw_ms_min": min(r["first_draw_ms"] for r in loads),
        "load_s_median": statistics.median(r["load_s"] for r in loads), "loads": loads,
        "refresh_s": round(refresh_s, 1) if refresh_s else None,
        "load_average": [round(x, 1) for x in os.getloadavg()],   # 2 cores: above 2, others' work slows ours
    }
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; dataset SYNTHETIC, scale {args.scale}")
    for k, v in result.items():
        if k != "loads":
            print(f"{k:<22}{v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
