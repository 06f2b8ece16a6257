"""The `fragilite` command line: thin, every command calls the core or the flow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from indicators import PROJECT_DIR
from indicators.errors import FragiliteError
from indicators.stages.methods import DEFAULT_METHOD, IFN_2023, METHODS

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Digital fragility index (IFN) per IRIS, commune, EPCI, département and région.")
console = Console()
err = Console(stderr=True)
DEFAULT_OUT = PROJECT_DIR / "data" / "out"


def fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


def parse_inputs(values: List[str]) -> dict[str, list[Path]]:
    inputs: dict[str, list[Path]] = {}
    for value in values:
        if "=" not in value:
            raise FragiliteError(f"--input {value!r}: expected SOURCE_ID=PATH")
        sid, path = value.split("=", 1)
        inputs.setdefault(sid.strip(), []).append(Path(path).expanduser())
    return inputs


@app.command()
def run(
    territory: Optional[List[str]] = typer.Option(None, "--territory", help="département code(s), repeatable or comma-separated"),
    method: str = typer.Option(DEFAULT_METHOD, "--method", help=f"scoring method: {', '.join(METHODS)}"),
    reference: str = typer.Option("region", "--reference", help="reference territory of the thresholds: france, region, departement, epci"),
    thresholds: Optional[Path] = typer.Option(None, "--thresholds", help="thresholds table (indicator ids as columns, optional `reference`)"),
    inputs: List[str] = typer.Option([], "--input", help="SOURCE_ID=PATH: use this file for that source (repeatable)"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="output folder"),
    crs: str = typer.Option("auto", "--crs", help="layers' CRS: auto (EPSG:2154 metropolitan, local CRS overseas, EPSG:4326 mixed) or EPSG:NNNN"),
    qpv: str = typer.Option("2015", "--qpv", help="QPV list of the QPV layer: 2015, 2024 or none"),
    qpv_calibration: str = typer.Option("none", "--qpv-calibration",
                                        help="none (independent estimates, compared with INSEE's) or population (scaled to the published populations)"),
    runner: str = typer.Option("default", "--runner", help="task runner: default (threads) or dask"),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", help="tcp://HOST:PORT of a Dask scheduler (default: a local cluster)"),
    download_first: bool = typer.Option(False, "--download", help="fetch the registry's sources that changed before running"),
    with_map: bool = typer.Option(False, "--carte", help="then write the web map of the layers in OUT/carte/ (as `fragilite carte`)"),
    seuils_deciles: Optional[Path] = typer.Option(None, "--seuils-deciles",
                                                  help="ifn-2023: decile cut points to score against (a run's seuils_deciles.csv, e.g. national ones); default: the loaded units' own deciles"),
    debit_fixe: float = typer.Option(3.0, "--debit-fixe", help="fixed coverage: premises eligible at this download speed "
                                     "(Mbit/s, an ARCEP class bound: 0.5, 3, 8, 30, 100, 1000) or more"),
    services_publics: Optional[str] = typer.Option(None, "--services-publics", help="BPE equipment types counted as "
                                                   "public services, comma-separated (default: the kit's list, README)"),
) -> None:
    """Run the refresh (a Prefect flow) and write the layers. With no option: the embedded sample."""
    from flows.refresh import with_runner

    try:
        given = parse_inputs(inputs)
        terr = [t.strip() for item in (territory or []) for t in item.split(",") if t.strip()] or None
        refresh = with_runner(runner, dask_address)
        report = refresh(inputs={k: [str(p) for p in v] for k, v in given.items()}, out=str(out),
                         method=method, reference=reference, territory=terr,
                         thresholds=str(thresholds) if thresholds else None, crs=crs, qpv=qpv,
                         qpv_calibration=qpv_calibration, download=download_first,
                         seuils_deciles=str(seuils_deciles) if seuils_deciles else None, debit_fixe=debit_fixe,
                         services_publics=[t.strip().upper() for t in services_publics.split(",") if t.strip()]
                         if services_publics else None)
    except FragiliteError as exc:
        fail(exc)
    if report.get("a_jour"):
        console.print(f"inputs, options and code unchanged since the last refresh: nothing recomputed, "
                      f"layers in {out} left as they are")
    table = Table(title=f"fragilite: {report['method']}, reference {report['reference']}, {report['crs']}")
    for col in ("layer", "rows", "GeoParquet", "GeoPackage"):
        table.add_column(col)
    for level, info in report["outputs"].items():
        table.add_row(level, str(info["rows"]), info.get("parquet", info.get("csv", "")), info.get("gpkg", ""))
    console.print(table)
    console.print(f"rejects: {report['rejects']['rows']} in {report['rejects']['file']}")
    console.print(f"report: {Path(out) / 'run_report.md'}  dictionary: {Path(out) / 'dictionary.json'}")
    for note in report["notes"]:
        console.print(f"[yellow]note:[/] {note}")
    if with_map:
        carte(out=out, mode="auto", serve=False, port=8000)
    if report.get("echecs"):
        err.print(f"[bold red]{len(report['echecs'])} input(s) failed[/]; the other inputs' results are in the layers:")
        for failure in report["echecs"]:
            err.print(f"  {failure}")
        raise typer.Exit(code=3)


@app.command()
def score(
    indicators_csv: Path = typer.Argument(..., exists=True, dir_okay=False, help="one row per unit: code, optional reference, indicator columns"),
    method: str = typer.Option(DEFAULT_METHOD, "--method"),
    thresholds: Optional[Path] = typer.Option(None, "--thresholds", exists=True, dir_okay=False),
    output: Path = typer.Option(..., "-o", "--output", help="CSV to write"),
) -> None:
    """Score a table you bring (no geometry, no counts)."""
    from indicators.outputs.files import atomic_path
    from indicators.sources.readers.common import read_text_table
    from indicators.stages.scoring import read_thresholds, score_table

    try:
        if method not in METHODS:
            raise FragiliteError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if method == IFN_2023:
            raise FragiliteError(f"{IFN_2023} ranks the units of a run against each other: use "
                                 f"`fragilite run --method {IFN_2023}` (and --seuils-deciles)")
        first = indicators_csv.read_text(encoding="utf-8-sig").splitlines()[0]
        table = read_text_table(indicators_csv, sep=";" if ";" in first else ",")
        thr = read_thresholds(thresholds) if thresholds else None
        scored = score_table(table, method, thr, label=str(indicators_csv))
    except FragiliteError as exc:
        fail(exc)
    with atomic_path(output) as tmp:
        scored.to_csv(tmp, index=False)
    console.print(f"{len(scored)} units scored with {method}: {output}")


@app.command()
def explain(
    code: str = typer.Argument(..., help="code of an IRIS, commune, EPCI, département, région or QPV"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="folder of the layers"),
) -> None:
    """One unit's score, indicator by indicator, from the layers of a run (what the web map's
    panel shows: both print outputs/explain.py's explanation)."""
    from indicators.outputs.explain import explanation, find_unit, read_dictionary

    found = find_unit(out, code)
    if found is None:
        fail(FragiliteError(f"no unit {code!r} in the layers of {out} (run `fragilite run` first?)"))
    print_explanation(explanation(*found, read_dictionary(out)))


def _fmt(v, digits: int = 4) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def print_explanation(expl: dict) -> None:
    fmt = _fmt
    console.print(f"[bold]{expl['level']} {expl['code']}[/] {expl['name']}  population {fmt(expl['population'], 0)}")
    if expl["method"] == IFN_2023:
        return print_explanation_2023(expl)
    console.print(f"method {expl['method']}, thresholds of the {expl['reference']} {expl['code_reference']}")
    table = Table()
    for col in ("indicator", "axis", "value", "numerator", "denominator", "threshold", "points", "small count", "source"):
        table.add_column(col, justify="left" if col in ("indicator", "axis", "source") else "right")
    for i in expl["indicators"]:
        small = "—" if i["small_count"] is None else ("[red]YES[/]" if i["small_count"] else "no")
        table.add_row(i["id"], i["axis"], fmt(i["value"]), fmt(i["numerator"], 1), fmt(i["denominator"], 1),
                      fmt(i["threshold"]), fmt(i["points"], 2), small, i["source"])
    console.print(table)
    scores = Table()
    for col in ("score", "value", f"class 1-5 ({expl['class_scheme'] or 'classe_*'})"):
        scores.add_column(col)
    for s in expl["scores"]:
        scores.add_row(s["id"], fmt(s["value"], 2), "—" if s["class"] is None else str(int(s["class"])))
    console.print(scores)
    console.print(f"n_indicateurs = {expl['n_indicateurs']}")
    if expl["fiabilite"] is not None:
        console.print(f"fiabilite = {expl['fiabilite']}: indicators of the score resting on a small census count "
                      f"(INSEE: counts under 200 \"doivent être maniés avec précaution\")")


def print_explanation_2023(expl: dict) -> None:
    """ifn-2023: each indicator's value and 1-10 score; for a unit, the cut points around its value."""
    unit = expl["score_kind"] == "decile"
    console.print(f"method {IFN_2023} (2023-like reconstruction of La MedNum's 2023 index): "
                  + ("decile of the unit among the units" if unit else "population-weighted mean of its units' decile scores")
                  + (f"; cut points: {expl['seuils_territoire']}" if expl["seuils_territoire"] else ""))
    table = Table()
    for col in ["indicator", "value", "score 1-10"] + (["cut points around the value"] if unit else []) + ["source"]:
        table.add_column(col, justify="left" if col in ("indicator", "source") else "right")
    for d in expl["deciles"]:
        around = [f"({_fmt(d['borne_basse'])}, {_fmt(d['borne_haute'])}]" if d["score"] is not None else ""]
        table.add_row(d["id"], _fmt(d["value"]), _fmt(d["score"], 0 if unit else 2), *(around if unit else []),
                      d["source"] or "")
    console.print(table)
    console.print(f"score_total = {_fmt(expl['scores'][0]['value'], 2)} over n_indicateurs = {expl['n_indicateurs']}")


@app.command()
def carte(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="folder of the layers; the map goes to OUT/carte/"),
    mode: str = typer.Option("auto", "--mode", help="auto (inline up to 4 million vertices in the layers, PMTiles above), inline or tiles"),
    serve: bool = typer.Option(False, "--serve", help="then serve the map on http://127.0.0.1:PORT (range requests; loopback only)"),
    port: int = typer.Option(8000, "--port", help="port of --serve"),
) -> None:
    """The web map of a run: a static site in OUT/carte/ that needs no network (index.html#CODE opens on one unit)."""
    from indicators.outputs.carte.build import build_carte

    try:
        done = build_carte(out, mode=mode)
    except FragiliteError as exc:
        fail(exc)
    console.print(f"map: {done['path']} ({done['mode']}, {done['bytes'] / 2**20:.1f} MiB, {done['seconds']:.1f} s)")
    if done["synthetique"]:
        console.print(f"[yellow]note:[/] synthetic inputs, named on the map's banner: {', '.join(done['synthetique'])}")
    if done["mode"] == "tiles" and not serve:
        console.print("vector tiles are read by range requests: serve the folder (any static host, or --serve), "
                      "a browser will not read them from disk")
    if serve:
        _serve(Path(done["path"]).parent, port)


def _serve(folder: Path, port: int) -> None:  # pragma: no cover - runs until interrupted
    from indicators.outputs.carte.serve import serve_forever

    console.print(f"serving http://127.0.0.1:{port}/index.html (Ctrl-C to stop)")
    serve_forever(folder, port)


@app.command()
def download(
    source_ids: Optional[List[str]] = typer.Argument(None, help="sources to fetch (default: every source with a URL)"),
    raw: Path = typer.Option(PROJECT_DIR / "data" / "raw", "--raw", help="cache folder"),
) -> None:
    """Fetch the registry's sources into data/raw/<source>/<millésime>/ (conditional, verified)."""
    from indicators.sources.download import DownloadError
    from indicators.sources.download import download as fetch
    from indicators.sources.registry import load_registry

    registry = load_registry()
    failed = 0
    for sid in source_ids or [s for s, src in registry.items() if src.url()]:
        if sid not in registry:
            fail(FragiliteError(f"unknown source {sid!r}; known: {', '.join(registry)}"))
        src = registry[sid]
        url = src.url()
        if not url:
            console.print(f"[yellow]{sid}:[/] no URL in the registry: give the file with --input {sid}=PATH")
            continue
        try:
            got = fetch(url, raw / sid / str(src.default), sha256=src.millesime().sha256, progress=sys.stderr.isatty())
            console.print(f"{sid}: {got.status} {got.path} ({got.bytes:,} bytes, sha256 {got.sha256[:12]}…)")
        except (DownloadError, FragiliteError) as exc:   # one failing source does not stop the others
            failed += 1
            err.print(f"[red]{sid}:[/] {exc}")
    raise typer.Exit(code=1 if failed else 0)


def _deploy_parameters(inputs, out, method, reference, territory, qpv, download_first) -> dict:
    given = parse_inputs(inputs)
    terr = [t.strip() for item in (territory or []) for t in item.split(",") if t.strip()] or None
    return {"inputs": {k: [str(p.resolve()) for p in v] for k, v in given.items()}, "out": str(Path(out).resolve()),
            "method": method, "reference": reference, "territory": terr, "qpv": qpv, "download": download_first}


@app.command()
def deploy(
    cron: str = typer.Option("0 6 2 * *", "--cron", help="cron schedule (Europe/Paris)"),
    name: str = typer.Option("mensuel", "--name"),
    work_pool: Optional[str] = typer.Option(None, "--work-pool", help="work pool whose worker runs it"),
    inputs: List[str] = typer.Option([], "--input"),
    out: Path = typer.Option(DEFAULT_OUT, "--out"),
    method: str = typer.Option(DEFAULT_METHOD, "--method"),
    reference: str = typer.Option("region", "--reference"),
    territory: Optional[List[str]] = typer.Option(None, "--territory"),
    qpv: str = typer.Option("2015", "--qpv"),
    download_first: bool = typer.Option(True, "--download/--no-download", help="fetch changed sources before each run"),
    serve: bool = typer.Option(False, "--serve", help="also run it on schedule from this process (no work pool needed)"),
) -> None:
    """Register the refresh on the Prefect server (PREFECT_API_URL) with a cron schedule."""
    from flows.deploy import register
    from flows.deploy import serve as run_served

    try:
        params = _deploy_parameters(inputs, out, method, reference, territory, qpv, download_first)
        if serve:  # pragma: no cover - long-running
            run_served(name, cron, params)
            return
        deployment_id = register(name, cron, params, work_pool)
    except FragiliteError as exc:
        fail(exc)
    console.print(f"deployment fragilite-refresh/{name} registered ({deployment_id}), schedule {cron!r} Europe/Paris")


@app.command()
def sources() -> None:
    """Each source: its millésimes, URL, and what is on this machine."""
    from indicators.sources.registry import load_registry, local_path, sample_path

    table = Table(title="sources (indicators/sources/sources.yaml)")
    for col in ("source", "millésime", "publisher", "url", "local"):
        table.add_column(col, overflow="fold")
    for sid, src in load_registry().items():
        local = local_path(src)
        sample = sample_path(src)
        state = (f"downloaded: {local}" if local else
                 f"sample: {sample.relative_to(PROJECT_DIR)}" if sample and sample.exists() else "missing")
        table.add_row(sid, str(src.default), src.publisher, src.url() or "(give --input)", state)
    console.print(table)


@app.command()
def validate(
    files: List[Path] = typer.Argument(..., exists=True, dir_okay=False),
    strict: Optional[bool] = typer.Option(None, "--strict/--spec-only",
                                          help="fragilite layer contract (explicit CRS, bbox, valid MultiPolygons); default: on for fragilite layers"),
) -> None:
    """Check GeoParquet files against the GeoParquet 1.1.0 schema and read them back."""
    import pyarrow.parquet as pq

    from indicators.outputs.validate import validate_file

    failed = False
    for path in files:
        is_layer = "methode" in pq.read_schema(path).names if path.suffix == ".parquet" else False
        report = validate_file(path, strict=is_layer if strict is None else strict)
        status = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
        console.print(f"{status} {path}  {json.dumps(report.info, default=str)}")
        for w in report.warnings:
            console.print(f"  [yellow]warning:[/] {w}")
        for e in report.errors:
            console.print(f"  [red]error:[/] {e}")
        failed |= not report.ok
    raise typer.Exit(code=1 if failed else 0)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
