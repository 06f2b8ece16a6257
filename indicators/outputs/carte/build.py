"""`fragilite carte`: the web map of a run, a static site in `<out>/carte/` that needs no network.

    index.html, app.js, app.css          the page (French), static/ of this package
    vendor/                              MapLibre GL JS and pmtiles, pinned, with their licences
                                         (scripts/vendor_carte_js.py fetches them from npm)
    config.js                            levels, indicators, legends, sources, banner, insets
    data/<level>.js  or  data/<level>.pmtiles    the polygons and what is drawn of each unit
    data/recherche.js                    the search index (code, name, context, bbox)
    fiches/NNN.js                        the units' explanations, sharded by a hash of the code

Two ways to carry the polygons, chosen by size (`mode="auto"`):
- inline, when the layers hold at most INLINE_MAX_VERTICES vertices: the data travels in the
  bundle's own scripts (`data/iris.js` calls FRAGILITE.couche(...)), so the map opens from disk
  (file://, where browsers refuse fetch and range requests);
- tiles, above it (all of France): one PMTiles archive per level, built by tippecanoe, read with
  HTTP range requests: any static host, or `fragilite carte --serve`.
Every other file is a script in both modes, so the explanations and the search work from disk.

The bundle is written beside the target and renamed onto it: a failed build leaves the previous
map whole.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from indicators import __version__
from indicators.errors import FragiliteError
from indicators.outputs import palette
from indicators.outputs.carte import data as D
from indicators.outputs.carte import geo
from indicators.sources.registry import entry_is_synthetic
from indicators.stages.deciles import INDICATORS_2023
from indicators.stages.levels import cog
from indicators.stages.methods import IFN_2023
from indicators.outputs.explain import KEY, LEVEL_LABELS, LEVELS, RELIABILITY, indicator_meta, read_dictionary, score_meta

STATIC = Path(__file__).resolve().parent / "static"
# the layers' own vertices (all levels) up to which the polygons travel inline: the sample's 1.7
# million make 13 MB of scripts; all of France (15 million and more) goes to tiles
INLINE_MAX_VERTICES = 4_000_000
MODES = ("auto", "inline", "tiles")
MAP_NAME = "carte"          # the bundle's folder, in a set and as a public name
# the level drawn at each zoom when the reader leaves the choice to the map (QPVs: by choice)
AUTO_ZOOM = {"regions": (0, 5), "departements": (5, 7), "epci": (7, 8.5), "communes": (8.5, 10.5),
             "iris": (10.5, 24)}
REFERENCE_LABELS = {"region": "région", "departement": "département", "epci": "EPCI", "france": "France"}
SHORT_NAMES = {"sirene": "SIRENE (INSEE)", "rp": "recensement (INSEE)", "filosofi": "Filosofi (INSEE)",
               "contours": "contours des IRIS (IGN)", "epci": "composition des EPCI", "qpv": "contours des QPV",
               "insee": "données INSEE par QPV", "anct": "indicateurs ANCT par QPV", "mednum": "kit MedNum 2020"}
LEVEL_PLURALS = {"iris": "IRIS", "communes": "Communes", "epci": "EPCI (intercommunalités)",
                 "departements": "Départements", "regions": "Régions", "qpv": "Quartiers prioritaires (QPV)"}


def load_layers(out_dir: Path) -> dict[str, gpd.GeoDataFrame]:
    """The run's layers present in out_dir, in EPSG:4326 (what web maps draw)."""
    layers = {}
    for level in LEVELS:
        path = out_dir / f"{level}.parquet"
        if path.exists():
            gdf = gpd.read_parquet(path)
            layers[level] = gdf.to_crs(4326) if gdf.crs and gdf.crs.to_epsg() != 4326 else gdf
    if not layers:
        raise FragiliteError(f"no layer (iris.parquet, communes.parquet…) in {out_dir}: run `fragilite run --out {out_dir}` first")
    return layers


def read_report(out_dir: Path) -> dict:
    path = out_dir / "run_report.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def synthetic_sources(report: dict, layers: dict[str, pd.DataFrame]) -> list[str]:
    """The ids of the run's sources whose files are synthetic (what the banner names)."""
    found = [sid for sid, prov in report.get("inputs", {}).items()
             if any(entry_is_synthetic(sid, f) for f in prov.get("files", []))]
    if not any(s.startswith("sirene_") for s in found) and any(
            "sirene_synthetique" in df and df["sirene_synthetique"].fillna(False).astype(bool).any() for df in layers.values()):
        found.append("sirene")
    return found


def banner(synthetic: list[str], report: dict) -> str | None:
    """The permanent banner's text when any input is synthetic (None otherwise)."""
    if not synthetic:
        return None
    inputs = report.get("inputs") or {}
    if inputs and set(inputs) <= set(synthetic):
        what = "Toutes les données d'entrée de cette carte sont SYNTHÉTIQUES (un jeu d'essai généré par un script)"
    else:
        names = list(dict.fromkeys(SHORT_NAMES.get(sid.split("_")[0], sid) for sid in synthetic))
        what = f"Fichiers d'entrée SYNTHÉTIQUES : {', '.join(names)} (inventés par un script, pas publiés par la statistique publique)"
    return f"{what}. Les valeurs qui en dépendent ne décrivent aucune réalité."


def publishers(sources: list[dict]) -> list[str]:
    """INSEE, IGN, ANCT…: the acronyms of the publishers, in order of first appearance."""
    found = []
    for src in sources:
        text = re.sub(r"\([^)]*\)", "", src.get("editeur") or "")
        found += re.findall(r"\b[A-Z]{3,}\b", text)
    return list(dict.fromkeys(found))


def footer(report: dict, dictionary: dict | None, layers: dict[str, pd.DataFrame]) -> dict:
    """Sources and vintages, method, reference, classes: the map's footer."""
    from indicators.sources.registry import load_registry

    registry = load_registry()
    sources = []
    for sid, prov in (report.get("inputs") or (dictionary or {}).get("sources") or {}).items():
        src = registry.get(sid)
        files = prov.get("files", [])
        sources.append({"id": sid, "titre": src.title if src else sid, "editeur": src.publisher if src else "",
                        "licence": src.licence if src else "", "millesime": prov.get("millesime"),
                        # report entries are dicts; the dictionary's sources carry their flag beside the paths
                        "synthetique": bool(prov.get("synthetique"))
                                       or any(isinstance(f, dict) and entry_is_synthetic(sid, f) for f in files)})
    first = next(iter(layers.values()))
    method = (report.get("method") or (dictionary or {}).get("method")
              or (str(first["methode"].iloc[0]) if "methode" in first and len(first) else None))
    ref = None if method == IFN_2023 else report.get("reference") or (dictionary or {}).get("reference")
    return {"sources": sources, "methode": method,
            "reference": REFERENCE_LABELS.get(ref, ref),
            "editeurs": publishers(sources),
            "millesime_rp": int(first["millesime_rp"].dropna().iloc[0]) if "millesime_rp" in first and first["millesime_rp"].notna().any() else None,
            "calcule_le": report.get("finished"), "version": report.get("fragilite_version") or __version__,
            "lissage": next((m for m in [((dictionary or {}).get("lissage") or {}).get("methode")] if m and m != "aucun"), None),
            "classes": ((dictionary or {}).get("classes") or {}).get("libelle")
                       or ("classes : quintiles des unités de chaque couche" if method == IFN_2023
                           else "classes 1 à 5 des couches (colonnes classe_*)")}


def zone_boxes(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, list[float]]:
    """The bounding box of the mainland and of each overseas département present."""
    level = next(lv for lv in ("departements", "communes", "iris", "epci", "regions", "qpv") if lv in layers)
    gdf = layers[level]
    zone = D.zones(level, gdf)
    return {z: [round(float(v), 4) for v in gdf[zone.to_numpy() == z].total_bounds] for z in sorted(set(zone))}


def territory_name(layers: dict[str, pd.DataFrame]) -> str:
    """The régions' names, up to four; "France" beyond (or when they have no names). A région
    whose départements are not all in the layers says how many are (the sample: "Occitanie (11
    départements sur 13)"): its name alone would claim the whole région."""
    if "regions" not in layers or len(layers["regions"]) > 4:
        return "France"
    regions = layers["regions"].dropna(subset=["nom_region"]).sort_values("nom_region")
    if regions.empty:
        return "France"
    expected = cog("departements")["REG"].value_counts()
    present = (layers["departements"]["code_region"].value_counts() if "departements" in layers
               else pd.Series(dtype="int64"))
    names = []
    for code, name in zip(regions["code_region"], regions["nom_region"].astype(str)):
        n, m = int(present.get(code, 0)), int(expected.get(code, 0))
        names.append(f"{name} ({n} départements sur {m})" if 0 < n < m else name)
    return ", ".join(names)


def config(layers, offered, legends, dictionary, report, mode, shards, boxes) -> dict:
    main = D.MAINLAND if D.MAINLAND in boxes else next(iter(boxes))
    synthetic = synthetic_sources(report, layers)
    return {
        "titre": "Indice de fragilité numérique", "territoire": territory_name(layers), "mode": mode,
        "levels": [{"id": lv, "label": LEVEL_PLURALS[lv], "singulier": LEVEL_LABELS[lv], "key": KEY[lv],
                    "count": int(len(layers[lv])), "auto": AUTO_ZOOM.get(lv), "tiles": geo.TILE_ZOOMS[lv],
                    "src": f"data/{lv}.{'pmtiles' if mode == 'tiles' else 'js'}"} for lv in layers],
        "indicators": offered, "legends": legends,
        "palette": {"classes": palette.CLASS_COLOURS, "sans_classe": palette.NO_DATA_COLOUR,
                    "sans_classe_label": palette.NO_DATA_LABEL, "contour": palette.OUTLINE_COLOUR,
                    "qpv": palette.QPV_OUTLINE_COLOUR, "fragile": palette.UNRELIABLE_COLOUR,
                    "fragile_label": palette.UNRELIABLE_LABEL},
        "indicator_meta": indicator_meta(dictionary), "score_meta": score_meta(),
        "deciles_meta": [{"id": n, "label": label, "source": ((dictionary or {}).get("columns", {}).get(f"val_{n}") or {}).get("source")}
                         for n, label in INDICATORS_2023.items()],
        "fiches": {"shards": shards}, "main_zone": main, "main_bbox": boxes[main],
        "insets": [{"zone": z, "label": D.DROM[z], "bbox": b} for z, b in boxes.items() if z != main and z in D.DROM],
        "synthetique": synthetic, "banniere": banner(synthetic, report), "fiabilite": any(RELIABILITY in df for df in layers.values()),
        "footer": footer(report, dictionary, layers),
    }


def _write(path: Path, text: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def prepare_levels(layers, offered, dictionary, mode):
    """Per level: the drawn features (GeoJSON text), the legends, fiches and search entries."""
    drawn, legends, fiches, search = {}, {}, {}, []
    for level, gdf in layers.items():
        df = D.with_classes(gdf, offered)
        geoms = geo.simplified(level, gdf.geometry.values, tiles=mode == "tiles")
        drawn[level] = geo.features(geoms, D.map_properties(level, df, offered))
        legends[level] = {ind["id"]: D.legend(level, df, ind, dictionary) for ind in offered}
        boxes = D.bboxes(gdf.geometry.values)
        for code, entry in D.fiches(level, df, boxes, dictionary).items():
            fiches.setdefault(code, []).append(entry)      # one code, several levels: explain's order
        search += D.search_entries(level, df, boxes)
    return drawn, legends, fiches, search


def write_polygons(drawn: dict[str, list[str]], mode: str, target: Path) -> int:
    written = 0
    for level, feats in drawn.items():
        if mode == "inline":
            fc = '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"
            written += _write(target / "data" / f"{level}.js", D.js_call("couche", level, D.raw(fc)))
        else:
            path = geo.write_pmtiles(level, feats, target / "data" / f"{level}.pmtiles", target)
            written += path.stat().st_size
    return written


def write_fiches(fiches: dict[str, list[dict]], target: Path) -> tuple[int, int]:
    shards = D.shard_count(len(fiches))
    buckets: dict[int, dict] = {}
    for code, entries in fiches.items():
        buckets.setdefault(D.fnv1a(code) % shards, {})[code] = entries
    written = 0
    for n in range(shards):
        written += _write(target / "fiches" / f"{n:03d}.js", D.js_call("fiches", n, buckets.get(n, {})))
    return shards, written


def choose_mode(mode: str, layers: dict[str, gpd.GeoDataFrame]) -> str:
    """inline up to INLINE_MAX_VERTICES vertices in all the layers, tiles above (or as asked)."""
    if mode not in MODES:
        raise FragiliteError(f"unknown map mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    vertices = sum(int(shapely.get_num_coordinates(g.geometry.values).sum()) for g in layers.values())
    return "inline" if vertices <= INLINE_MAX_VERTICES else "tiles"


def write_bundle(layers_dir: Path, target: Path, mode: str = "auto") -> dict:
    """Write the map of the layers of layers_dir into the folder target (made if missing)."""
    started = time.perf_counter()
    layers = load_layers(Path(layers_dir))
    dictionary, report = read_dictionary(Path(layers_dir)), read_report(Path(layers_dir))
    offered = D.indicators(layers)
    mode = choose_mode(mode, layers)
    drawn, legends, fiches, search = prepare_levels(layers, offered, dictionary, mode)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(STATIC, target, dirs_exist_ok=True)
    written = write_polygons(drawn, mode, target)
    shards, fiche_bytes = write_fiches(fiches, target)
    written += fiche_bytes + _write(target / "data" / "recherche.js", D.js_call("recherche", search))
    cfg = config(layers, offered, legends, dictionary, report, mode, shards, zone_boxes(layers))
    _write(target / "config.js", "window.FRAGILITE_CONFIG = " + json.dumps(cfg, ensure_ascii=False, indent=1) + ";\n")
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return {"path": str(target / "index.html"), "mode": mode, "bytes": size, "data_bytes": written,
            "units": {lv: int(len(g)) for lv, g in layers.items()}, "seconds": round(time.perf_counter() - started, 2),
            "synthetique": cfg["synthetique"]}


def build_carte(out_dir: Path, dest: Path | None = None, mode: str = "auto") -> dict:
    """Write the map of the layers of out_dir into <dest or out_dir>/carte/, a plain folder (for a
    folder of layers that is not an output set; publish_carte for one that is): written beside
    and renamed onto it, so a failed build leaves the previous map whole."""
    out_dir = Path(out_dir)
    final = Path(dest or out_dir) / "carte"
    final.parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=".carte.", dir=final.parent))
    try:
        done = write_bundle(out_dir, target, mode)
        _swap(target, final)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return {**done, "path": str(final / "index.html")}


def publish_carte(out_dir: Path, mode: str = "auto") -> dict:
    """The map of the current output set of out_dir, added to that set (it is derived from the
    set's layers only) and published as OUT/carte: rolled back and pruned with the set. Under the
    output lock."""
    from indicators.outputs import publish

    now = publish.current(out_dir)
    if now is None:
        raise FragiliteError(f"no output set in {out_dir}: run `fragilite run --out {out_dir}` first")
    _, done = publish.add_to_current(out_dir, MAP_NAME, lambda folder: write_bundle(now.path, folder, mode))
    return {**done, "path": str(Path(out_dir) / MAP_NAME / "index.html"), "run_id": now.run_id}


def _swap(new: Path, final: Path) -> None:
    """new becomes final; the previous final is removed only once new is in place."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old.{new.name.rsplit('.', 1)[-1]}")
        final.rename(old)
    new.rename(final)
    final.chmod(0o755)         # mkdtemp made it private
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
