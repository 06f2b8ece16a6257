"""The `fragilite` command line: thin, every command calls the core or the flow."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import List, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from indicators import PROJECT_DIR
from indicators.errors import EXIT_INPUT, EXIT_PARTIAL, FragiliteError
from indicators.stages.options import IFN_2023, MIN_DENOMINATOR, RunOptions
from indicators.stages.options import METHOD_NAMES as METHODS

# light imports only up here: an up-to-date `fragilite run` answers before the computation,
# Prefect included, is loaded
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Digital fragility index (IFN) per IRIS, commune, EPCI, département and région.")
console = Console()
err = Console(stderr=True, soft_wrap=True)   # messages unbroken: paths stay whole, the terminal wraps
DEFAULT_OUT = PROJECT_DIR / "data" / "out"
DEFAULT_METHOD = RunOptions.method
DEBUG = {"on": False}


@app.callback()
def options(debug: bool = typer.Option(False, "--debug", help="on an error, also print the Python traceback")) -> None:
    """Digital fragility index (IFN) per IRIS, commune, EPCI, département and région."""
    DEBUG["on"] = debug


def fail(exc: Exception) -> NoReturn:
    """One clear message and the error's exit code (README, "Exit codes"); the traceback with --debug."""
    if DEBUG["on"]:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    err.print(Text.assemble(("error: ", "bold red"), str(exc)))
    raise typer.Exit(code=getattr(exc, "exit_code", EXIT_INPUT))


class _NoTracebackForUsers(logging.Formatter):
    """Prefect's console log prints a failed task's traceback before the flow ends; an error the
    user can act on (a FragiliteError: file, column, rows, what to do) is printed once, as one
    message, by `fail`. Wraps the console handlers' formatters only: the Prefect server still
    receives every traceback."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, FragiliteError):
            return self.inner.format(record)
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text = saved


def quiet_prefect() -> None:
    """No traceback for FragiliteErrors in Prefect's console log, unless --debug."""
    if DEBUG["on"]:
        return
    names = [None, *[n for n in list(logging.Logger.manager.loggerDict) if n.startswith("prefect")]]
    for name in names:   # None: the root logger, where Prefect puts its console handler
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler.formatter, _NoTracebackForUsers):
                handler.setFormatter(_NoTracebackForUsers(handler.formatter))


def parse_inputs(values: List[str]) -> dict[str, list[Path]]:
    inputs: dict[str, list[Path]] = {}
    for value in values:
        if "=" not in value:
            raise FragiliteError(f"--input {value!r}: expected SOURCE_ID=PATH")
        sid, path = value.split("=", 1)
        inputs.setdefault(sid.strip(), []).append(Path(path).expanduser())
    return inputs


def split_territory(territory: Optional[List[str]]) -> list[str] | None:
    return [t.strip() for item in (territory or []) for t in item.split(",") if t.strip()] or None


def published_report(given: dict[str, list[Path]], options: RunOptions, out: Path, with_map: bool = False) -> dict | None:
    """The current set's report when inputs, options and code are those it was made with: checked
    before Prefect and the computation are loaded (the lock is held); the map added to that set
    when asked for and missing. Else None."""
    from indicators import cache
    from indicators.outputs import publish
    from indicators.sources.registry import resolve_inputs

    for action in publish.repair(out):
        err.print(f"[yellow]{out}:[/] {action} (after an interrupted run)")
    _, previous = cache.check(resolve_inputs(given), options, out)
    if previous is not None and with_map:
        from indicators.pipeline import Publication, map_if_missing

        map_if_missing(out, Publication(carte=True))
    return previous


# The options of a refresh, shared by `run` and `deploy` (one definition: a scheduled run computes
# what `run` with the same options computes). Only how a command runs differs: `run`'s --runner,
# --dask-address, --accept-shrink, --download and --wait; `deploy`'s schedule and its own defaults.
REFRESH_OPTIONS = {
    "territory": typer.Option(None, "--territory", help="département code(s), repeatable or comma-separated"),
    "method": typer.Option(DEFAULT_METHOD, "--method", help=f"scoring method: {', '.join(METHODS)}"),
    "reference": typer.Option("region", "--reference", help="reference territory of the thresholds: france, region, departement, epci"),
    "thresholds": typer.Option(None, "--thresholds", help="thresholds table (indicator ids as columns, optional `reference`)"),
    "inputs": typer.Option([], "--input", help="SOURCE_ID=PATH: use this file for that source (repeatable)"),
    "out": typer.Option(DEFAULT_OUT, "--out", help="output folder"),
    "crs": typer.Option("auto", "--crs", help="layers' CRS: auto (EPSG:2154 metropolitan, local CRS overseas, EPSG:4326 mixed) or EPSG:NNNN"),
    "qpv": typer.Option("2015", "--qpv", help="QPV list of the QPV layer: 2015, 2024 or none"),
    "qpv_calibration": typer.Option("none", "--qpv-calibration",
                                    help="none (independent estimates, compared with INSEE's) or population (scaled to the published populations)"),
    "with_map": typer.Option(False, "--carte", help="the web map too, in the output set (OUT/carte/, as `fragilite carte`)"),
    "seuils_deciles": typer.Option(None, "--seuils-deciles",
                                   help="ifn-2023: decile cut points to score against (a run's seuils_deciles.csv, e.g. national ones); default: the loaded units' own deciles"),
    "debit_fixe": typer.Option(3.0, "--debit-fixe", help="fixed coverage: premises eligible at this download speed "
                               "(Mbit/s, an ARCEP class bound: 0.5, 3, 8, 30, 100, 1000) or more"),
    "services_publics": typer.Option(None, "--services-publics", help="BPE equipment types counted as "
                                     "public services, comma-separated (default: the kit's list, README)"),
    "keep": typer.Option(5, "--keep", help="output sets kept for `fragilite history` and `rollback`"),
    "max_iris_loss": typer.Option(0.05, "--max-iris-loss", help="share of the current set's IRIS a run may lose before it is refused (exit 5)"),
    "classes": typer.Option("auto", "--classes", help="class scheme of classe_*: auto (quantiles for ifn-2020 and ifn-2023's score_total, the kit's equal widths for kit-2020 and d4g-2020), quantiles, fisher-jenks or equal-width"),
    "min_denominator": typer.Option(MIN_DENOMINATOR, "--min-denominator", help="reliability: an indicator over a census count below this is flagged (fiable_<id> false); INSEE advises care under 200"),
    "debit_thd": typer.Option(30.0, "--debit-thd", help="ifn-2023: THD non-coverage = premises that cannot get "
                              "this download speed (Mbit/s, an ARCEP class bound) or more"),
    "lissage": typer.Option("aucun", "--lissage", help="aucun, or bayes-empirique: census rates shrunk toward their "
                            "reference territory's rate, the more so as their denominator is small (Marshall 1991; "
                            "said in the layers, dictionary and report)"),
}
SHARED = REFRESH_OPTIONS


def run_options(territory, method, reference, thresholds, crs, qpv, qpv_calibration, seuils_deciles, debit_fixe,
                services_publics, classes, min_denominator, debit_thd, lissage) -> RunOptions:
    """What a refresh computes, from the shared options (REFRESH_OPTIONS)."""
    return RunOptions(method=method, reference=reference, territory=split_territory(territory),
                      thresholds=thresholds, crs=crs, qpv=qpv, qpv_calibration=qpv_calibration,
                      seuils_deciles=seuils_deciles, debit_fixe=debit_fixe, debit_thd=debit_thd,
                      services_publics=[t.strip().upper() for t in services_publics.split(",") if t.strip()]
                      if services_publics else RunOptions().services_publics,
                      classes=classes, min_denominator=min_denominator, lissage=lissage)


def flow_parameters(given: dict[str, list[Path]], options: RunOptions, out: Path, download: bool, carte: bool,
                    publication: dict, absolute: bool = False) -> dict:
    """The refresh flow's parameters (flows/refresh.py), for `run` and for a deployment (`absolute`:
    paths resolved, as a worker runs elsewhere)."""
    path = (lambda p: str(Path(p).resolve())) if absolute else str
    return {"inputs": {k: [path(p) for p in v] for k, v in given.items()}, "out": path(out),
            "method": options.method, "reference": options.reference, "territory": options.territory,
            "thresholds": path(options.thresholds) if options.thresholds else None, "crs": options.crs,
            "qpv": options.qpv, "qpv_calibration": options.qpv_calibration, "download": download,
            "seuils_deciles": path(options.seuils_deciles) if options.seuils_deciles else None,
            "debit_fixe": options.debit_fixe, "services_publics": options.services_publics,
            "classes": options.classes, "min_denominator": options.min_denominator,
            "debit_thd": options.debit_thd, "lissage": options.lissage, "carte": carte, **publication}


@app.command()
def run(
    territory: Optional[List[str]] = SHARED["territory"],
    method: str = SHARED["method"],
    reference: str = SHARED["reference"],
    thresholds: Optional[Path] = SHARED["thresholds"],
    inputs: List[str] = SHARED["inputs"],
    out: Path = SHARED["out"],
    crs: str = SHARED["crs"],
    qpv: str = SHARED["qpv"],
    qpv_calibration: str = SHARED["qpv_calibration"],
    runner: str = typer.Option("default", "--runner", help="task runner: default (threads) or dask"),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", help="tcp://HOST:PORT of a Dask scheduler (default: a local cluster)"),
    download_first: bool = typer.Option(False, "--download", help="fetch the registry's sources that changed before running"),
    with_map: bool = SHARED["with_map"],
    seuils_deciles: Optional[Path] = SHARED["seuils_deciles"],
    debit_fixe: float = SHARED["debit_fixe"],
    services_publics: Optional[str] = SHARED["services_publics"],
    wait: float = typer.Option(0, "--wait", metavar="SECONDS", help="if another run is writing --out, wait for it up to SECONDS (default: stop at once, exit 4)"),
    accept_shrink: bool = typer.Option(False, "--accept-shrink", help="publish even if layers would have no scored unit or lose IRIS (see --max-iris-loss)"),
    max_iris_loss: float = SHARED["max_iris_loss"],
    keep: int = SHARED["keep"],
    classes: str = SHARED["classes"],
    min_denominator: float = SHARED["min_denominator"],
    debit_thd: float = SHARED["debit_thd"],
    lissage: str = SHARED["lissage"],
) -> None:
    """Run the refresh (a Prefect flow) and publish the outputs. With no option: the embedded sample."""
    from indicators.lock import OutputLock, describe

    try:
        given = parse_inputs(inputs)
        options = run_options(territory, method, reference, thresholds, crs, qpv, qpv_calibration, seuils_deciles,
                              debit_fixe, services_publics, classes, min_denominator, debit_thd, lissage)
        waiting = lambda holder: err.print(f"{out} is being written by another run ({describe(holder)}); "  # noqa: E731
                                           f"waiting up to {wait:g} s")
        with OutputLock(out, wait, what=f"fragilite run --method {method} --reference {reference}", on_wait=waiting):
            report = None if download_first else published_report(given, options, out, with_map)
            if report is not None:
                report = {**report, "a_jour": True}
            else:
                report = start_refresh(runner, dask_address, flow_parameters(
                    given, options, out, download_first, with_map,
                    {"wait": wait, "accept_shrink": accept_shrink, "keep": keep, "max_iris_loss": max_iris_loss}))
    except FragiliteError as exc:
        fail(exc)
    partial = show_report(report, out)
    if with_map:
        console.print(f"map: {Path(out) / 'carte' / 'index.html'} (in the output set; `fragilite carte --out {out} "
                      "--serve` serves it)", highlight=False)
    if partial:
        raise typer.Exit(code=EXIT_PARTIAL)


def start_refresh(runner, dask_address, parameters: dict) -> dict:
    # Prefect's temporary server (no PREFECT_API_URL) gets 20 s to start by default: not enough
    # on a busy 2-core machine; and it reports usage to Prefect by default, an ERROR line offline
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.refresh import with_runner

    quiet_prefect()
    return with_runner(runner, dask_address)(**parameters)


def show_report(report: dict, out: Path) -> bool:
    """What was published, file names relative to the output folder (readable in 80 columns);
    whether some inputs failed (a partial run)."""
    if report.get("a_jour"):
        console.print(f"up to date: inputs, options and code unchanged since the last refresh; nothing "
                      f"recomputed, {out} left as it is", highlight=False)
    where = f" (output set {report['run_id']})" if report.get("run_id") else ""
    console.print(f"[bold]{report['method']}[/], reference {report['reference']}, {report['crs']}: "
                  f"outputs in {Path(out).resolve()}{where}", highlight=False)
    table = Table(box=None, pad_edge=False)
    for col, justify in (("output", "left"), ("rows", "right"), ("files", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for level, info in report["outputs"].items():
        files = [Path(info[k]).name for k in ("parquet", "gpkg", "csv") if info.get(k)]
        table.add_row(level, f"{info['rows']:,}".replace(",", " "), "  ".join(files))
    table.add_row("rejects", f"{report['rejects']['rows']:,}".replace(",", " "), Path(report["rejects"]["file"]).name)
    console.print(table)
    console.print("report: run_report.md  dictionary: dictionary.json")
    for note in report["notes"]:
        console.print(Text.assemble(("note: ", "yellow"), note))
    if report.get("echecs"):
        err.print(f"[bold red]{len(report['echecs'])} input(s) failed[/]; the other inputs' results are in the layers:")
        for failure in report["echecs"]:
            err.print(Text(f"  {failure}"))
    return bool(report.get("echecs"))


@app.command()
def score(
    indicators_csv: Path = typer.Argument(..., exists=True, dir_okay=False, help="one row per unit: code, optional reference, indicator columns"),
    method: str = typer.Option(DEFAULT_METHOD, "--method"),
    thresholds: Optional[Path] = typer.Option(None, "--thresholds", exists=True, dir_okay=False),
    output: Path = typer.Option(..., "-o", "--output", help="CSV to write"),
    classes: str = typer.Option("auto", "--classes", help="class scheme: auto, quantiles, fisher-jenks or equal-width"),
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
        scored = score_table(table, method, thr, label=str(indicators_csv), classes=classes)
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
    if expl.get("territoire_complet") is False:
        console.print("[red]territoire_complet = false[/]: part of this unit is not in the inputs; its figures "
                      "describe the part present (the run report's notes say how much)")
    if expl["method"] == IFN_2023:
        return print_explanation_2023(expl)
    console.print(f"method {expl['method']} (--reference {expl['reference']}), thresholds of "
                  f"{expl.get('territoire_reference') or expl['code_reference']}")
    if expl.get("lissage") not in (None, "aucun"):
        console.print(f"[yellow]values smoothed ({expl['lissage']}):[/] census rates shrunk toward the reference "
                      "territory's rate; numerator / denominator are the raw counts")
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
    for col in (["indicator", "value", "score 1-10"] + (["cut points around the value"] if unit else [])
                + ["denominator", "small count", "source"]):
        table.add_column(col, justify="left" if col in ("indicator", "source") else "right")
    for d in expl["deciles"]:
        around = [f"({_fmt(d['borne_basse'])}, {_fmt(d['borne_haute'])}]" if d["score"] is not None else ""]
        small = "—" if d["small_count"] is None else ("[red]YES[/]" if d["small_count"] else "no")
        table.add_row(d["id"], _fmt(d["value"]), _fmt(d["score"], 0 if unit else 2), *(around if unit else []),
                      _fmt(d["denominator"], 1), small, d["source"] or "")
    console.print(table)
    total = expl["scores"][0]
    cls = "" if total["class"] is None else f", class {int(total['class'])} of 5 ({expl['class_scheme']})"
    console.print(f"score_total = {_fmt(total['value'], 2)} over n_indicateurs = {expl['n_indicateurs']}{cls}")
    if expl["fiabilite"] is not None:
        console.print(f"fiabilite = {expl['fiabilite']}: scored indicators resting on a small census count")


@app.command()
def carte(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="folder of the layers; the map goes to OUT/carte/"),
    mode: str = typer.Option("auto", "--mode", help="auto (inline up to 4 million vertices in the layers, PMTiles above), inline or tiles"),
    serve: bool = typer.Option(False, "--serve", help="then serve the map on http://127.0.0.1:PORT (range requests; loopback only)"),
    port: int = typer.Option(8000, "--port", help="port of --serve"),
    wait: float = typer.Option(0, "--wait", metavar="SECONDS", help="if a run is writing --out, wait up to SECONDS"),
) -> None:
    """The web map of a run: a static site in OUT/carte/ that needs no network (index.html#CODE opens
    on one unit). In an output folder, it is added to the current output set (rolled back with it)."""
    from indicators.lock import OutputLock
    from indicators.outputs import publish
    from indicators.outputs.carte.build import build_carte, publish_carte

    try:
        with OutputLock(out, wait, what="fragilite carte"):
            for action in publish.repair(out):
                err.print(f"[yellow]{out}:[/] {action} (after an interrupted run)")
            # a folder of layers that is not an output set (layers copied by hand): a plain folder
            done = build_carte(out, mode=mode) if publish.current(out) is None else publish_carte(out, mode)
    except FragiliteError as exc:
        fail(exc)
    where = f", in output set {done['run_id']}" if done.get("run_id") else ""
    console.print(f"map: {done['path']} ({done['mode']}, {done['bytes'] / 2**20:.1f} MiB, {done['seconds']:.1f} s{where})")
    if done["synthetique"]:
        console.print(f"[yellow]note:[/] synthetic inputs, named on the map's banner: {', '.join(done['synthetique'])}")
    if done["mode"] == "tiles" and not serve:
        console.print("vector tiles are read by range requests: serve the folder (any static host, or --serve), "
                      "a browser will not read them from disk")
    if serve:
        _serve(Path(out) / "carte", port)


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


def _deploy_parameters(inputs, options: RunOptions, out, download_first, with_map, wait, keep, max_iris_loss) -> dict:
    """The deployment's flow parameters, checked now rather than at the first scheduled run."""
    from indicators.pipeline import check_options

    check_options(options)
    return flow_parameters(parse_inputs(inputs), options, out, download_first, with_map,
                           {"wait": wait, "keep": keep, "max_iris_loss": max_iris_loss}, absolute=True)


@app.command()
def deploy(
    cron: str = typer.Option("0 6 2 * *", "--cron", help="cron schedule (Europe/Paris)"),
    name: str = typer.Option("mensuel", "--name"),
    work_pool: Optional[str] = typer.Option(None, "--work-pool", help="work pool whose worker runs it"),
    serve: bool = typer.Option(False, "--serve", help="also run it on schedule from this process (no work pool needed)"),
    territory: Optional[List[str]] = SHARED["territory"],
    method: str = SHARED["method"],
    reference: str = SHARED["reference"],
    thresholds: Optional[Path] = SHARED["thresholds"],
    inputs: List[str] = SHARED["inputs"],
    out: Path = SHARED["out"],
    crs: str = SHARED["crs"],
    qpv: str = SHARED["qpv"],
    qpv_calibration: str = SHARED["qpv_calibration"],
    download_first: bool = typer.Option(True, "--download/--no-download", help="fetch changed sources before each run"),
    with_map: bool = SHARED["with_map"],
    seuils_deciles: Optional[Path] = SHARED["seuils_deciles"],
    debit_fixe: float = SHARED["debit_fixe"],
    services_publics: Optional[str] = SHARED["services_publics"],
    wait: float = typer.Option(3600, "--wait", metavar="SECONDS", help="a scheduled run queues this long behind another run of --out"),
    max_iris_loss: float = SHARED["max_iris_loss"],
    keep: int = SHARED["keep"],
    classes: str = SHARED["classes"],
    min_denominator: float = SHARED["min_denominator"],
    debit_thd: float = SHARED["debit_thd"],
    lissage: str = SHARED["lissage"],
) -> None:
    """Register the refresh on the Prefect server (PREFECT_API_URL) with a cron schedule: each
    scheduled run computes what `fragilite run` with the same options computes."""
    from flows.deploy import register
    from flows.deploy import serve as run_served

    try:
        options = run_options(territory, method, reference, thresholds, crs, qpv, qpv_calibration, seuils_deciles,
                              debit_fixe, services_publics, classes, min_denominator, debit_thd, lissage)
        params = _deploy_parameters(inputs, options, out, download_first, with_map, wait, keep, max_iris_loss)
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

    console.print("[bold]sources[/] (indicators/sources/sources.yaml): id, millésime, publisher, "
                  "then its URL and the file used")
    for sid, src in load_registry().items():
        local = local_path(src)
        sample = sample_path(src)
        state = (f"downloaded: {local}" if local else
                 f"sample: {sample.relative_to(PROJECT_DIR)}" if sample and sample.exists() else "missing")
        console.print(Text.assemble((sid, "bold"), f"  {src.default}  {src.publisher}"))
        # whole lines: a URL or a path cut by the table or by rich is useless; the terminal wraps
        console.print(Text(f"    url:   {src.url() or '(none: give --input ' + sid + '=PATH)'}"), soft_wrap=True)
        console.print(Text(f"    local: {state}"), soft_wrap=True)


@app.command()
def history(out: Path = typer.Option(DEFAULT_OUT, "--out", help="output folder")) -> None:
    """The output sets kept in --out, newest first: date, method, inputs' vintages, counts."""
    from indicators.outputs import publish

    sets = publish.all_sets(out)
    if not sets:
        fail(FragiliteError(f"no output set in {out} (run `fragilite run --out {out}` first)"))
    now = publish.current(out)
    for kept in reversed(sets):
        meta = kept.meta
        mark = "* " if now and kept.run_id == now.run_id else "  "
        rows = meta.get("rows") or {}
        counts = ", ".join(f"{name} {rows[name]}" for name in publish.SCORED_LAYERS + ("qpv",) if name in rows)
        vintages = ", ".join(f"{sid} {v}" for sid, v in sorted((meta.get("vintages") or {}).items()) if v)
        flags = " [legacy layout]" if meta.get("legacy") else ""
        flags += f" [{meta['echecs']} input(s) failed]" if meta.get("echecs") else ""
        console.print(Text.assemble((mark + kept.run_id, "bold" if mark.strip() else ""),
                                    f"  {meta.get('method') or '?'}, reference {meta.get('reference') or '?'}{flags}"))
        console.print(Text(f"    {meta.get('finished') or kept.manifest.get('created')}; rejects "
                           f"{meta.get('rejects', '?')}; {counts or 'counts unknown'}"), overflow="fold")
        if vintages:
            console.print(Text(f"    inputs: {vintages}"), overflow="fold")
    console.print("* = current. `fragilite rollback RUN --out DIR` makes another one current.")


@app.command()
def rollback(
    run_id: str = typer.Argument(..., metavar="RUN", help="a run id of `fragilite history` (a unique prefix will do)"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="output folder"),
    wait: float = typer.Option(0, "--wait", metavar="SECONDS", help="if a run is writing --out, wait up to SECONDS"),
) -> None:
    """Make a kept output set current again: its exact bytes, all files at once, under the lock."""
    from indicators.lock import OutputLock
    from indicators.outputs import publish

    try:
        with OutputLock(out, wait, what=f"fragilite rollback {run_id}"):
            for action in publish.repair(out):
                err.print(f"[yellow]{out}:[/] {action} (after an interrupted run)")
            restored = publish.rollback(out, run_id)
    except FragiliteError as exc:
        fail(exc)
    console.print(f"{out}: output set {restored.run_id} ({restored.meta.get('method')}) is current again; "
                  "the next refresh with other inputs, options or code replaces it", highlight=False)


@app.command()
def validate(
    paths: List[Path] = typer.Argument(..., exists=True, metavar="PATH...", help="GeoParquet files, or output folders"),
    strict: Optional[bool] = typer.Option(None, "--strict/--spec-only",
                                          help="fragilite layer contract (explicit CRS, bbox, valid MultiPolygons); default: on for fragilite layers"),
) -> None:
    """Check GeoParquet files, or that an output folder is one consistent set.

    A file: against the GeoParquet 1.1.0 schema, read back. A folder: every published file of one
    run, with the bytes it wrote (then its layers as files)."""
    failed = False
    for path in paths:
        failed |= not (validate_folder(path) if path.is_dir() else validate_layer(path, strict))
    raise typer.Exit(code=1 if failed else 0)


def validate_layer(path: Path, strict: bool | None) -> bool:
    import pyarrow.parquet as pq

    from indicators.outputs.validate import validate_file

    is_layer = "methode" in pq.read_schema(path).names if path.suffix == ".parquet" else False
    report = validate_file(path, strict=is_layer if strict is None else strict)
    status = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
    console.print(f"{status} {path}  {json.dumps(report.info, default=str)}")
    for w in report.warnings:
        console.print(f"  [yellow]warning:[/] {w}")
    for e in report.errors:
        console.print(f"  [red]error:[/] {e}")
    return report.ok


def validate_folder(out: Path) -> bool:
    from indicators.outputs import publish

    report = publish.validate_dir(out)
    if report.ok:
        now = publish.current(out)
        console.print(f"[green]ok[/] {out}: one consistent output set, {now.run_id} "
                      f"({len(now.files)} files, bytes as written)", highlight=False, soft_wrap=True)
    else:
        console.print(f"[red]FAILED[/] {out}: not one consistent output set", highlight=False, soft_wrap=True)
    for e in report.errors:
        console.print(Text.assemble(("  error: ", "red"), e))
    for w in report.warnings:
        console.print(Text.assemble(("  warning: ", "yellow"), w))
    layers = sorted(p for p in out.glob("*.parquet") if publish.is_our_link(p)) if report.ok else []
    return all([validate_layer(p, None) for p in layers]) and report.ok


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
