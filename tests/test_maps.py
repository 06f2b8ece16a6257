"""Maps of the run report (outputs/maps.py) and its HTML version (outputs/report_html.py)."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from indicators.outputs.map_cache import MapCache
from indicators.outputs.maps import (MAIN_PIXELS, SIRENE_LABEL, MapText, Territories, _draw, _legend,
                                     _simplified, level_maps, partial_line, small_counts, sources_line, split_territories)
from indicators.outputs.palette import CLASS_COLOURS, OUTLINE_COLOUR, RATE_LABELS, hex_to_rgb
from indicators.stages.classes import classify
from indicators.outputs.report_html import report_html

LEVELS = ["iris", "communes", "epci", "departements", "regions", "qpv"]


def palette_pixels(png) -> dict[str, int]:
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    return {c: int((pixels == hex_to_rgb(c)).all(axis=1).sum()) for c in CLASS_COLOURS.values()}


def test_every_level_has_its_map_and_the_html_report_shows_them(sample_run):
    from PIL import Image

    target, report = sample_run
    maps = report["cartes"]
    assert set(maps) == set(LEVELS)
    html = (target / "run_report.html").read_text(encoding="utf-8")
    markdown = (target / "run_report.md").read_text(encoding="utf-8")
    shown = set(re.findall(r'<img src="([^"]+)"', html))
    for level in LEVELS:
        path = target / maps[level][0]
        assert path.name == f"{level}_score_global.png"
        image = Image.open(path)
        assert image.format == "PNG" and image.size[0] >= 1200
        assert image.mode == "RGB" and image.info["dpi"][0] == pytest.approx(150, abs=0.1)   # no alpha
        assert image.text["Title"].startswith("Score global de fragilité numérique")
        assert "Insee" in image.text["Source"] and "quintiles" in image.text["Description"]
        assert maps[level][0] in shown and f"]({maps[level][0]})" in markdown
    for level in ("iris", "communes", "epci"):     # several classes actually drawn
        assert sum(n > 200 for n in palette_pixels(target / maps[level][0]).values()) >= 4
    assert "Données SYNTHÉTIQUES" in html         # the sample's SIRENE files
    assert "<script" not in html


def test_overseas_units_go_to_insets_in_their_own_crs(sample_run):
    out, _ = sample_run
    parts = split_territories(gpd.read_parquet(out / "communes.parquet"))
    assert set(parts) == {"metropole", "02"}
    assert parts["metropole"].crs.to_epsg() == 2154 and parts["02"].crs.to_epsg() == 5490


def squares(n: int, rates: list[float | None]) -> gpd.GeoDataFrame:
    boxes = [shapely.box(i, 0, i + 0.9, 0.9) for i in range(n)]
    return gpd.GeoDataFrame({"code_region": ["76"] * n, "score_global": np.linspace(80, 120, n),
                             "classe_global": pd.array([1 + i * 5 // n for i in range(n)], dtype="Int64"),
                             "fiabilite": pd.array([0, 1] * (n // 2), dtype="Int64"),
                             "livreurs_pour_mille": rates, "vtc_pour_mille": [None] * n},
                            geometry=boxes, crs=2154)


def test_platform_rates_are_mapped_when_present_and_say_synthetic(tmp_path):
    from PIL import Image

    texts = {"score": MapText("Insee", "ifn-2020", "2026-01-01"),
             "plateformes": MapText("Insee, SIRENE 2024", "ifn-2020", "2026-01-01", synthetic=[SIRENE_LABEL])}
    written = level_maps("epci", squares(10, [float(i) for i in range(10)]), texts, tmp_path, None)
    assert [p.name for p in written] == ["epci_score_global.png", "epci_livreurs_pour_mille.png"]
    rate = Image.open(written[1])
    assert "SYNTHÉTIQUES" in rate.text["Description"] and SIRENE_LABEL in rate.text["Description"]
    assert "SYNTHÉTIQUE" not in Image.open(written[0]).text["Description"]
    # rates all NULL (no RP activité, as on the sample): no rate map
    none = level_maps("communes", squares(10, [None] * 10), texts, tmp_path, None)
    assert [p.name for p in none] == ["communes_score_global.png"]


def test_kept_maps_are_copied_only_while_what_they_show_is_unchanged(tmp_path):
    """The monthly SIRENE refresh copies the score maps of the last refresh: a copy must be the
    bytes a new drawing gives, and any change to what a map shows must draw it again."""
    texts = {"score": MapText("Insee", "ifn-2020", "2026-01-01"),
             "plateformes": MapText("Insee, SIRENE 2024", "ifn-2020", "2026-01-01")}
    layer = squares(10, [float(i) for i in range(10)])
    kept = tmp_path / "kept"
    first = MapCache(kept)
    drawn = level_maps("epci", layer, texts, tmp_path / "a", None, cache=first)
    assert first.reused == 0 and len(list(kept.glob("*.png"))) == 2
    fresh = level_maps("epci", layer, texts, tmp_path / "fresh", None)            # no cache: drawn
    # new SIRENE counts: the rate map is drawn again, the score map copied, same bytes as drawn
    layer2 = layer.assign(livreurs_pour_mille=[float(9 - i) for i in range(10)])
    second = MapCache(kept)
    again = level_maps("epci", layer2, texts, tmp_path / "b", None, cache=second)
    assert second.reused == 1
    assert again[0].read_bytes() == drawn[0].read_bytes() == fresh[0].read_bytes()
    assert again[1].read_bytes() != drawn[1].read_bytes()
    # the new rate map was drawn on the kept simplified polygons: the bytes of a drawing from scratch
    assert len(list(kept.glob("*.formes.parquet"))) == 1
    assert again[1].read_bytes() == level_maps("epci", layer2, texts, tmp_path / "fresh2", None)[1].read_bytes()
    # a change in the score's classes or flags redraws the score map only; in the rate's
    # denominators, the rate map only; in the polygons or the date, both maps
    date = {k: MapText(t.sources, t.method, "2026-02-01") for k, t in texts.items()}
    for changed, new_texts, reused in [
            (layer2.assign(classe_global=layer2["classe_global"].clip(upper=4)), texts, 1),
            (layer2.assign(fiabilite=pd.array([0] * 10, dtype="Int64")), texts, 1),
            (layer2.assign(actifs_occupes=[150.0] * 10), texts, 1),
            (layer2.set_geometry(layer2.geometry.scale(1.1, 1.1)), texts, 0),
            (layer2, date, 0)]:
        cache = MapCache(kept)
        made = level_maps("epci", changed, new_texts, tmp_path / "c", None, cache=cache)
        assert cache.reused == reused
        # new polygons are simplified anew, not taken from the kept ones of the old polygons
        assert made[0].read_bytes() == level_maps("epci", changed, new_texts, tmp_path / "d", None)[0].read_bytes()
    # only the last refresh's maps are kept
    second.prune()
    assert len(list(kept.glob("*.png"))) == 2


def test_a_rate_map_marks_small_denominators_of_its_own_rate_at_the_run_threshold():
    """A platform-worker rate divides by employed residents: its map marks those under the run's
    threshold, not the score's flags (fiabilite), and both legends say the threshold used."""
    layer = squares(4, [1.0, 2.0, None, 4.0]).assign(actifs_occupes=[50.0, 900.0, 10.0, 499.0])
    score, rate = small_counts(layer, None, 500), small_counts(layer, "livreurs_pour_mille", 500)
    assert score.units.tolist() == [False, True, False, True] and "(moins de 500)" in score.label
    assert rate.units.tolist() == [True, False, False, True]      # no rate, nothing to mark
    assert "500 actifs occupés" in rate.label
    assert small_counts(layer.drop(columns=["actifs_occupes"]), "livreurs_pour_mille") is None


def test_a_legend_gives_the_bounds_of_tied_quintiles():
    """Nationally most communes have no rider: a rate's quintiles tie at 0 and make fewer than five
    classes. Each class drawn must still say its values (a legend of bare class numbers cannot be
    read), the class of zeros once ("0,0", not "0,0 – 0,0")."""
    from matplotlib.figure import Figure

    rates = pd.Series([0.0] * 45 + [float(i) for i in range(1, 56)])
    classes, info = classify(rates, "quantiles")
    assert sorted(classes.unique()) == [1, 2, 3, 4] and len(info["bornes"]) == 5
    fig = Figure()
    _legend(fig, info["bornes"], RATE_LABELS, set(classes.unique()), None, False)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    # percentiles 60 and 80 of the 100 values, linear: 15 + 0.4 and 35 + 0.2
    assert labels == ["1 – plus faible (0,0)", "2 (0,0 – 15,4)", "3 (15,4 – 35,2)", "4 (35,2 – 55,0)"]


def test_units_too_narrow_for_an_outline_keep_their_colour():
    """Nationally a town's IRIS are a pixel or two wide, and grey outlines (a third of a pixel)
    made every town a grey blob. Units narrower than FINE_PIXELS are edged in their own class
    colour (no seam between neighbours), the others outlined in grey as before."""
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    big = [shapely.box(i * 100, 0, i * 100 + 90, 90) for i in range(10)]
    tiny = [shapely.box(1000 + i * 0.5, 0, 1000 + i * 0.5 + 0.4, 0.4) for i in range(10)]   # ~0.4 px
    layer = gpd.GeoDataFrame({"code_region": ["76"] * 20}, geometry=big + tiny, crs=2154)
    territories = Territories.of(layer)
    assert territories.rings("metropole", True).fine.tolist() == [False] * 10 + [True] * 10
    ax = Figure().add_axes((0, 0, 1, 1))
    _draw(ax, territories, "metropole", pd.Series([5] * 20, dtype="Int64"), False, None)
    styles = {(to_hex(a.get_facecolor()), to_hex(a.get_edgecolor())) for a in ax.patches}
    assert styles == {(CLASS_COLOURS[5], CLASS_COLOURS[5]), (CLASS_COLOURS[5], OUTLINE_COLOUR)}


def test_a_map_names_the_units_only_partly_in_the_inputs(tmp_path):
    """The sample's région layer holds Occitanie from 11 of its 13 départements: its maps say it
    under their sources (the layer's territoire_complet), as the run report and the web map do."""
    layer = squares(2, [None, None]).assign(nom_region=["Occitanie", "Martinique"],
                                            territoire_complet=pd.array([False, True], dtype="boolean"))
    line = partial_line(layer, "regions")
    assert line is not None and line.endswith(": Occitanie.") and "Martinique" not in line
    assert partial_line(layer.assign(territoire_complet=pd.array([True, pd.NA], dtype="boolean")), "regions") is None
    many = squares(6, [None] * 6).assign(nom_epci=list("abcdef"), territoire_complet=[False] * 6)
    assert partial_line(many, "epci").endswith(": a, b, c, d et 2 autre(s).")
    texts = {"score": MapText("Insee", "ifn-2020", "2026-01-01"), "plateformes": MapText("Insee", "ifn-2020", "2026-01-01")}
    said = level_maps("regions", layer, texts, tmp_path / "a", None)[0].read_bytes()
    silent = level_maps("regions", layer.drop(columns=["territoire_complet"]), texts, tmp_path / "b", None)[0]
    assert said != silent.read_bytes()


def test_sources_line_and_html_escaping():
    provenance = {"rp_population": {"millesime": 2016}, "rp_familles": {"millesime": 2016},
                  "filosofi_iris": {"millesime": 2015}, "contours_iris": {}, "sirene_etablissements": {"millesime": 2024}}
    line = sources_line(provenance, ("rp_", "filosofi_iris", "contours_iris"))
    assert line == "Insee, recensement de la population 2016 ; Insee, Filosofi 2015 ; IGN, CONTOURS-IRIS"
    # a label does not repeat its vintage ("IFN 2020 2020")
    assert sources_line({"mednum_kit_2020": {"millesime": 2020}}, ("mednum_kit_2020",)) == "La MedNum, kit de l'IFN 2020"
    page = report_html({"inputs": {}}, "# t\n\n<script>alert(1)</script>\n")
    assert "<script>" not in page and "&lt;script&gt;" in page and "SYNTHÉTIQUES" not in page


def _gap_and_overlap(shapes: np.ndarray, inside) -> tuple[float, float]:
    """Area of `inside` no simplified polygon covers, and area covered twice (m²)."""
    union = shapely.union_all(shapes)
    return shapely.area(shapely.difference(inside, union)), float(shapely.area(shapes).sum() - shapely.area(union))


def test_neighbouring_departements_stay_joined_when_simplified_as_a_coverage(sample_run):
    """Aveyron and Tarn (157 km of shared border), simplified as the QPV map's background is: each
    on its own they pull apart (white slivers) and overlap; as a coverage they do neither."""
    out, _ = sample_run
    deps = Territories.of(gpd.read_parquet(out / "departements.parquet"))
    assert deps.coverage                      # the sample's layers are under the budget
    part = deps.parts["metropole"]
    xmin, ymin, xmax, ymax = part.total_bounds
    tolerance = max(xmax - xmin, ymax - ymin) / MAIN_PIXELS
    pair = deps.layer.loc[part.index, "code_departement"].isin(["12", "81"]).to_numpy()   # parts: polygons only
    # the pair's inside, away from its outer edge and holes (which simplification moves by design)
    inside = shapely.buffer(shapely.union_all(part.geometry.to_numpy()[pair]), -2 * tolerance)
    gap, overlap = _gap_and_overlap(_simplified(part, MAIN_PIXELS, coverage=False)[pair], inside)
    assert gap > 1e6 and overlap > 5e5       # km²: what the plain simplification did
    gap, overlap = _gap_and_overlap(_simplified(part, MAIN_PIXELS, coverage=True)[pair], inside)
    assert gap < 1 and abs(overlap) < 1


def test_town_iris_do_not_vanish(sample_run):
    """IRIS narrower than a pixel's tolerance: plain simplification empties them (white holes in
    towns); the coverage keeps them, and so does the polygon-by-polygon path above the budget."""
    out, _ = sample_run
    iris = Territories.of(gpd.read_parquet(out / "iris.parquet")).parts["metropole"]
    xmin, ymin, xmax, ymax = iris.total_bounds
    plain = shapely.simplify(iris.geometry.to_numpy(), max(xmax - xmin, ymax - ymin) / MAIN_PIXELS,
                             preserve_topology=False)
    assert shapely.is_empty(plain).sum() > 50
    for coverage in (True, False):
        assert not shapely.is_empty(_simplified(iris, MAIN_PIXELS, coverage)).any()


def test_coverage_budget_and_what_is_not_a_coverage(monkeypatch):
    from indicators.outputs import maps

    gdf = squares(10, [None] * 10)
    assert Territories.of(gdf).coverage
    monkeypatch.setattr(maps, "COVERAGE_MAX_VERTICES", 49)     # 10 squares: 50 vertices
    assert not Territories.of(gdf).coverage and Territories.of(gdf, coverage=True).coverage
    # overlapping units are simplified all the same; a collection (not polygons) makes
    # coverage_simplify raise: polygon by polygon then
    overlapping = gdf.set_geometry([shapely.box(i, 0, i + 1.5, 0.9) for i in range(10)])
    assert shapely.is_valid(_simplified(overlapping, 100, coverage=True)).all()
    mixed = gdf.set_geometry([shapely.GeometryCollection([g]) if i == 3 else g for i, g in enumerate(gdf.geometry)])
    with pytest.raises(TypeError):
        shapely.coverage_simplify(mixed.geometry.to_numpy(), 0.01)
    shapes = _simplified(mixed, 100, coverage=True)
    assert shapes[3].geom_type == "GeometryCollection" and shapely.equals(shapes[0], gdf.geometry.iloc[0])


def test_prefetched_territories_are_those_made_on_demand_and_their_errors_are_raised(monkeypatch):
    """write_maps simplifies the next layers on a thread (Territories.prefetch): the same rings
    as made when asked, the same digest, and an error on that thread raised to the drawing."""
    from concurrent.futures import ThreadPoolExecutor

    from indicators.outputs import maps

    gdf = squares(10, [None] * 10)
    asked = Territories.of(gdf)
    with ThreadPoolExecutor(1) as pool:
        ahead = Territories.of(gdf)
        ahead.prefetch(pool)
        rings, expected = ahead.rings("metropole", True), asked.rings("metropole", True)
        assert np.array_equal(rings.coords, expected.coords) and np.array_equal(rings.unit, expected.unit)
        assert ahead.digest == asked.digest and ahead._prefetched.done()

        def broken(*args, **kwargs):
            raise shapely.errors.GEOSException("TopologyException: side location conflict")

        monkeypatch.setattr(maps, "_simplified", broken)
        failing = Territories.of(gdf)
        failing.prefetch(pool)
        with pytest.raises(shapely.errors.GEOSException, match="side location conflict"):
            failing.rings("metropole", True)
        dots = Territories.of(gdf)
        dots.prefetch(pool, polygons=False)   # a layer drawn as dots: its digest only
        assert dots.digest == asked.digest and not dots._rings
