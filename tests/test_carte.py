"""The web map (`fragilite carte`): built from the sample run, opened in headless Chromium from
file:// with every non-file request refused, and a small PMTiles bundle served over HTTP.

Needs Debian's chromium at /usr/bin/chromium (apt package `chromium`), driven by Playwright from
PyPI (Playwright's own browser downloads cannot be fetched here).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.request
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from indicators.outputs import palette
from indicators.outputs.carte import build as carte_build
from indicators.outputs.carte import data as carte_data
from indicators.outputs.carte.serve import serve_in_thread
from indicators.outputs.explain import compact, explanation, find_unit, indicator_meta

CHROMIUM = Path(os.environ.get("FRAGILITE_CHROMIUM", "/usr/bin/chromium"))
NIMES_ARENES = "301890101"
LAYER_FILES = ["iris", "communes", "epci", "departements", "regions", "qpv"]


def _layers_copy(out: Path, target: Path, levels=LAYER_FILES) -> Path:
    """The run's layers, dictionary and report linked into a fresh folder (the shared run stays as it is)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in [f"{lv}.parquet" for lv in levels] + ["dictionary.json", "run_report.json"]:
        if (out / name).exists():
            os.symlink(out / name, target / name)
    return target


@pytest.fixture(scope="session")
def carte_dir(sample_run, tmp_path_factory) -> Path:
    """`fragilite carte --out DIR` after a run on the sample."""
    from typer.testing import CliRunner

    from indicators.cli import app

    out, _ = sample_run
    layers = _layers_copy(out, tmp_path_factory.mktemp("carte-layers"))
    result = CliRunner().invoke(app, ["carte", "--out", str(layers)])
    assert result.exit_code == 0, result.output
    assert "(inline" in result.output and (layers / "carte" / "index.html").exists()
    return layers / "carte"


# module scope: Playwright's sync API runs an event loop in this thread while it is open, and
# Prefect's sync calls in later test modules refuse to start one inside it
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: the map tests need Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Page:
    """A page that refuses every request but those allowed, and records errors and refusals."""

    def __init__(self, browser, allowed=("file:",)):
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 800}, offline=allowed == ("file:",))
        self.page = self.ctx.new_page()
        self.errors, self.refused = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)
        self.allowed = tuple(allowed) + ("data:", "blob:")

    def _route(self, route):
        if route.request.url.startswith(self.allowed):
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_function("document.body.dataset.pret === '1'", timeout=90_000)
        return self.page

    def idle(self):
        self.page.wait_for_function("window.FRAGILITE.map.loaded() && window.FRAGILITE.map.areTilesLoaded()", timeout=60_000)

    def close(self):
        self.ctx.close()


def _fiche_score(page) -> str:
    page.wait_for_selector("#fiche:not([hidden]) .score-principal .valeur", timeout=30_000)
    return page.inner_text("#fiche .score-principal .valeur")


def _french(v: float) -> str:
    return f"{v:.1f}".replace(".", ",")


def _arenes(out: Path):
    iris = gpd.read_parquet(out / "iris.parquet").to_crs(4326)
    return iris[iris["code_iris"] == NIMES_ARENES].iloc[0]


def test_bundle_references_nothing_outside_itself(carte_dir):
    html = (carte_dir / "index.html").read_text()
    assert "http://" not in html and "https://" not in html
    for ref in ["vendor/maplibre-gl.js", "vendor/pmtiles.js", "config.js", "app.js"]:
        assert f'src="{ref}"' in html and (carte_dir / ref).exists()
    versions = json.loads((carte_dir / "vendor" / "VERSIONS.json").read_text())
    assert versions["maplibre-gl"]["version"].startswith("5.") and (carte_dir / "vendor" / "LICENSE.maplibre-gl.txt").exists()
    assert (carte_dir / "vendor" / "LICENSE.pmtiles.txt").exists()
    assert "sourceMappingURL" not in (carte_dir / "vendor" / "maplibre-gl.js").read_text()[-300:]
    cfg = json.loads((carte_dir / "config.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))
    assert cfg["banniere"] and "SIRENE" in cfg["banniere"]          # the sample's SIRENE is synthetic
    assert [i["zone"] for i in cfg["insets"]] == ["972"]            # Martinique beside Occitanie
    assert {lv["id"] for lv in cfg["levels"]} == set(LAYER_FILES)


def test_map_from_disk_offline_draws_iris_in_several_classes(carte_dir, browser):
    p = Page(browser)
    try:
        page = p.open((carte_dir / "index.html").as_uri())
        assert page.is_visible("#bandeau") and "SYNTH" in page.inner_text("#bandeau")
        page.select_option("#niveau", "iris")
        page.evaluate("window.FRAGILITE.map.fitBounds([[3.9, 43.6], [4.7, 44.1]], {duration: 0})")   # Gard, around Nîmes
        p.idle()
        classes = page.evaluate("""[...new Set(window.FRAGILITE.map.queryRenderedFeatures({layers: ['f-iris']})
                                   .map(f => f.properties.classe_global))]""")
        assert len([c for c in classes if c]) >= 2, classes
        # and on screen: pixels of at least two class colours (fills are opaque)
        shot = page.screenshot(clip={"x": 400, "y": 150, "width": 500, "height": 400})
        assert len(_palette_colours_in(page, shot)) >= 2
        assert p.errors == [] and p.refused == []
    finally:
        p.close()


def test_the_title_names_a_region_only_for_the_departements_it_holds(carte_dir, browser):
    """The sample holds 11 of Occitanie's 13 départements (not Haute-Garonne and Hérault): the
    map's subtitle must not claim the whole région."""
    p = Page(browser)
    try:
        subtitle = p.open((carte_dir / "index.html").as_uri()).inner_text("#sous-titre")
        assert subtitle.startswith("Martinique, Occitanie (11 départements sur 13) · méthode "), subtitle
    finally:
        p.close()
    regions = pd.DataFrame({"code_region": ["76", "02"], "nom_region": ["Occitanie", "Martinique"]})
    whole = pd.DataFrame({"code_region": ["76"] * 13 + ["02"]})
    assert carte_build.territory_name({"regions": regions, "departements": whole}) == "Martinique, Occitanie"
    assert carte_build.territory_name({"regions": regions, "departements": whole.iloc[:3]}) == \
        "Martinique, Occitanie (3 départements sur 13)"
    five = pd.DataFrame({"code_region": ["76", "02", "11", "84", "93"], "nom_region": list("abcde")})
    assert carte_build.territory_name({"regions": five, "departements": whole}) == "France"


def test_a_region_partly_in_the_inputs_says_so_in_its_panel(sample_run, carte_dir, browser):
    """Occitanie's panel (11 of its 13 départements in the sample) says its figures cover the part
    present, as `fragilite explain 76` does; Martinique's (its one département) does not."""
    out, _ = sample_run
    assert explanation(*find_unit(out, "76"))["territoire_complet"] is False
    assert compact(explanation(*find_unit(out, "02"))).get("territoire_complet") is None
    # a région of a --reference region run is scored against France (stages/scoring.py), which
    # the panel names, where it said "région FR"; a département against its région
    assert explanation(*find_unit(out, "76"))["territoire_reference"] == "France"
    assert explanation(*find_unit(out, "30"))["territoire_reference"] == "région 76"
    for code, name, partial in (("76", "Occitanie", True), ("02", "Martinique", False)):
        p = Page(browser)   # a page each: a new hash alone does not reload the page
        try:
            page = p.open((carte_dir / "index.html").as_uri() + "#" + code)
            _fiche_score(page)
            assert page.inner_text("#fiche h2") == name
            assert ("Territoire incomplet" in page.inner_text("#fiche")) is partial, code
            assert "seuils du territoire de référence : France" in page.inner_text("#fiche"), code
            assert p.errors == [] and p.refused == []
        finally:
            p.close()


def _palette_colours_in(page, png: bytes) -> set[int]:
    """The class colours with more than 200 pixels in the screenshot (decoded by the browser's
    own canvas: no imaging library needed)."""
    counts = page.evaluate("""async ([b64, colours]) => {
        const img = new Image(); img.src = 'data:image/png;base64,' + b64; await img.decode();
        const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height).data;
        return colours.map(([r, gr, b]) => { let n = 0;
            for (let i = 0; i < px.length; i += 4)
                if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - gr) + Math.abs(px[i + 2] - b) <= 3) n++;
            return n; });
    }""", [base64.b64encode(png).decode(), [palette.hex_to_rgb(c) for c in palette.CLASS_COLOURS.values()]])
    return {k for k, n in zip(palette.CLASS_COLOURS, counts) if n > 200}


def test_link_with_code_opens_that_unit(sample_run, carte_dir, browser):
    out, _ = sample_run
    expected = _french(_arenes(out)["score_global"])
    p = Page(browser)
    try:
        page = p.open((carte_dir / "index.html").as_uri() + "#" + NIMES_ARENES)
        assert _fiche_score(page) == expected
        assert "Arènes" in page.inner_text("#fiche h2")
        assert "seuils du territoire de référence : région 76" in page.inner_text("#fiche")
        assert p.errors == [] and p.refused == []
    finally:
        p.close()


def test_click_on_a_unit_opens_its_explanation(sample_run, carte_dir, browser):
    out, _ = sample_run
    arenes = _arenes(out)
    point = shapely.point_on_surface(arenes.geometry)
    p = Page(browser)
    try:
        page = p.open((carte_dir / "index.html").as_uri())
        page.select_option("#niveau", "iris")
        box = arenes.geometry.bounds
        page.evaluate(f"window.FRAGILITE.map.fitBounds([[{box[0]}, {box[1]}], [{box[2]}, {box[3]}]], {{duration: 0, padding: 150}})")
        p.idle()
        xy = page.evaluate(f"(() => {{ const p = window.FRAGILITE.map.project([{point.x}, {point.y}]); return [p.x, p.y]; }})()")
        canvas = page.locator("#carte canvas").bounding_box()
        page.mouse.click(canvas["x"] + xy[0], canvas["y"] + xy[1])
        assert _fiche_score(page) == _french(arenes["score_global"])
        assert page.url.endswith("#" + NIMES_ARENES)
        assert p.errors == []
    finally:
        p.close()


def test_explanation_is_the_layer_row(sample_run):
    out, _ = sample_run
    level, row = find_unit(out, NIMES_ARENES)
    assert level == "iris"
    expl = explanation(level, row)
    by_id = {i["id"]: i for i in expl["indicators"]}
    assert by_id["taux_pauvrete"]["value"] == pytest.approx(row["ind_taux_pauvrete"])
    assert by_id["taux_pauvrete"]["numerator"] == pytest.approx(row["num_taux_pauvrete"])
    assert by_id["couverture_mobile"]["value"] is None        # no source on the sample: missing, not 0
    assert by_id["couverture_fixe"]["value"] == pytest.approx(row["ind_couverture_fixe"])
    assert expl["scores"][-1]["id"] == "score_global" and expl["scores"][-1]["value"] == pytest.approx(row["score_global"])
    packed = compact(expl)
    order = [m["id"] for m in indicator_meta()]
    assert packed["indicators"][order.index("taux_pauvrete")][4] == pytest.approx(row["pts_taux_pauvrete"])


def test_shard_hash_matches_the_page(carte_dir, browser):
    """app.js finds a unit's shard with the same FNV-1a as the builder."""
    codes = ["301890101", "2A0040000", "243000643", "QP030001", "972"]
    p = Page(browser)
    try:
        page = p.open((carte_dir / "index.html").as_uri())
        src = (carte_dir / "app.js").read_text()
        body = src[src.index("function fnv1a"):src.index("/* ---------- state")]
        got = page.evaluate(f"(() => {{ {body}; return {json.dumps(codes)}.map(fnv1a); }})()")
        assert got == [carte_data.fnv1a(c) for c in codes]
    finally:
        p.close()


def test_range_server_answers_partial_content(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    httpd, url = serve_in_thread(tmp_path)
    try:
        assert httpd.server_address[0] == "127.0.0.1"
        base = url.rsplit("/", 1)[0]
        req = urllib.request.Request(base + "/blob.bin", headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 206 and resp.headers["Content-Range"] == "bytes 10-19/1024"
            assert resp.read() == bytes(range(10, 20))
        req = urllib.request.Request(base + "/blob.bin", headers={"Range": "bytes=-4"})
        with urllib.request.urlopen(req) as resp:
            assert resp.read() == bytes([252, 253, 254, 255])
        with urllib.request.urlopen(base + "/blob.bin") as resp:
            assert resp.status == 200 and len(resp.read()) == 1024
    finally:
        httpd.shutdown()


def test_tiles_bundle_served_over_http(sample_run, tmp_path, browser):
    """Above the inline threshold the polygons go to PMTiles (tippecanoe) and are read by range
    requests: the same page, served, draws them and opens a unit."""
    out, _ = sample_run
    layers = _layers_copy(out, tmp_path / "layers", ["departements", "regions", "qpv"])
    result = carte_build.build_carte(layers, mode="tiles")
    assert result["mode"] == "tiles" and (layers / "carte" / "data" / "departements.pmtiles").exists()
    httpd, url = serve_in_thread(layers / "carte")
    p = Page(browser, allowed=("http://127.0.0.1",))
    try:
        page = p.open(url + "#30")
        assert "Gard" in page.inner_text("#fiche h2")
        p.idle()
        drawn = page.evaluate("window.FRAGILITE.map.queryRenderedFeatures({layers: ['f-departements']}).length")
        assert drawn > 0
        assert p.errors == [] and p.refused == []
    finally:
        p.close()
        httpd.shutdown()


def test_auto_mode_picks_tiles_above_the_threshold(monkeypatch):
    square = shapely.box(0, 0, 1, 1)                 # 5 vertices
    layers = {"iris": gpd.GeoDataFrame(geometry=[square] * 100), "communes": gpd.GeoDataFrame(geometry=[square] * 60)}
    assert carte_build.choose_mode("auto", layers) == "inline"
    monkeypatch.setattr(carte_build, "INLINE_MAX_VERTICES", 799)
    assert carte_build.choose_mode("auto", layers) == "tiles"
    assert carte_build.choose_mode("inline", layers) == "inline"
    with pytest.raises(Exception, match="unknown map mode"):
        carte_build.choose_mode("svg", layers)


def test_build_keeps_the_previous_map_when_it_fails(sample_run, tmp_path, monkeypatch):
    out, _ = sample_run
    layers = _layers_copy(out, tmp_path / "layers", ["regions"])
    (layers / "carte").mkdir()
    (layers / "carte" / "index.html").write_text("previous")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(carte_build, "write_fiches", broken)
    with pytest.raises(RuntimeError):
        carte_build.build_carte(layers)
    assert (layers / "carte" / "index.html").read_text() == "previous"
    assert [p.name for p in layers.iterdir() if p.name.startswith(".carte")] == []
    shutil.rmtree(layers / "carte")


def test_run_with_carte_writes_the_map(sample_run, tmp_path):
    """`fragilite run --carte`: the refresh (here up to date, nothing recomputed), then the map."""
    from typer.testing import CliRunner

    from indicators.cli import app

    out, _ = sample_run
    copy = tmp_path / "out"
    # symlinks kept: the public names point into the folder's current set (outputs/publish.py)
    shutil.copytree(out, copy, symlinks=True, ignore=shutil.ignore_patterns("carte"))
    result = CliRunner().invoke(app, ["run", "--out", str(copy), "--carte"])
    assert result.exit_code == 0, result.output
    assert (copy / "carte" / "index.html").exists() and (copy / "carte" / "data" / "iris.js").exists()
    from indicators.outputs import publish

    now = publish.current(copy)      # added to the set that was up to date, not beside it
    assert "carte/data/iris.js" in now.files and publish.is_our_link(copy / "carte") and not now.check(deep=False)


# ---------------------------------------------------------------- the map in the output sets

def _map_method(out: Path) -> str | None:
    """The method named in OUT/carte's config, None when OUT has no map."""
    config = out / "carte" / "config.js"
    if not config.exists():
        return None
    return json.loads(config.read_text().split("=", 1)[1].rstrip().rstrip(";"))["footer"]["methode"]


def test_the_map_is_published_and_rolled_back_with_its_output_set(tmp_path):
    """`run --carte` builds the map in the set before it is published; `fragilite carte` adds it
    to the current set under the lock; a rollback shows the map of the set it restores, or none;
    a `fragilite carte` while another process holds the folder exits 4 and writes nothing."""
    from typer.testing import CliRunner

    from indicators.cli import app
    from indicators.outputs import publish
    from indicators.pipeline import Publication, run_local
    from indicators.stages.options import RunOptions

    from .test_operations import ARIEGE
    from .test_publish import start

    runner, out, kit = CliRunner(), tmp_path / "out", {"mednum_kit_2020": [ARIEGE]}
    run_local(kit, out, RunOptions(method="kit-2020"), Publication(carte=True))
    first = publish.current(out)
    assert "carte" in first.names and first.meta.get("carte") and "carte/config.js" in first.files
    assert _map_method(out) == "kit-2020" and publish.is_our_link(out / "carte")
    run_local(kit, out, RunOptions(method="d4g-2020"))
    assert not os.path.lexists(out / "carte"), "the new set has no map: the previous set's must not show"
    added = runner.invoke(app, ["carte", "--out", str(out)])
    assert added.exit_code == 0, added.output
    second = publish.current(out)
    assert second.run_id in " ".join(added.output.split()) and _map_method(out) == "d4g-2020"
    assert not second.check() and publish.validate_dir(out).ok
    back = runner.invoke(app, ["rollback", first.run_id, "--out", str(out)])
    assert back.exit_code == 0, back.output
    assert _map_method(out) == "kit-2020" and publish.validate_dir(out).ok
    manifest = (first.path / publish.MANIFEST).read_bytes()
    holder = start(out, "X", "--hold", "60")
    try:
        busy = runner.invoke(app, ["carte", "--out", str(out)])
        assert busy.exit_code == 4 and f"pid {holder.pid}" in busy.output
    finally:
        holder.kill()
        holder.wait()
    assert (first.path / publish.MANIFEST).read_bytes() == manifest and _map_method(out) == "kit-2020"
    assert [p.name for p in first.path.iterdir() if p.name.startswith(".")] == []
    assert not os.path.lexists(out / ".carte") and publish.current(out).run_id == first.run_id
