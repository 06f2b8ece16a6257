"""Synthetic inputs: one rule (sources/registry.py, is_synthetic), recorded by staging in the
provenance, read by the maps, the reports, the dictionary and the web map.

The "synthetic" dataset here is a copy of the sample's real MedNum file for the Ariège (a quick
real run) put in a folder holding a SYNTHETIQUE.json marker, as benchmarks/generate_national.py
leaves one: the rule goes by the marker, not by the content. The same copy without the marker
is the control.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from indicators.outputs.carte.build import synthetic_sources
from indicators.outputs.maps import SIRENE_LABEL, synthetic_labels
from indicators.pipeline import RunOptions, run_local
from indicators.sources.registry import entry_is_synthetic, is_synthetic, sample_path, source, synthetic_marker

from .conftest import MEDNUM_DIR

RED = np.array([0xCB, 0x18, 0x1D])   # the warning's colour (maps.py)


def _dataset(root: Path, marked: bool) -> Path:
    """The Ariège MedNum file at <root>/mednum_kit_2020/2020/, the layout of a generated dataset."""
    target = root / "mednum_kit_2020" / "2020" / "09.csv.gz"
    target.parent.mkdir(parents=True)
    shutil.copyfile(MEDNUM_DIR / "09.csv.gz", target)
    if marked:
        (root / "SYNTHETIQUE.json").write_text(json.dumps({"synthetic": True, "scale": 0}), encoding="utf-8")
    return target


def _red_pixels_above_the_map(png: Path) -> int:
    """Pixels of the warning's red in the band between the subtitle and the map frame."""
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    band = pixels[int(0.10 * len(pixels)):int(0.14 * len(pixels))]
    return int((np.abs(band - RED).sum(axis=2) < 30).sum())


def test_the_rule_marker_levels_and_links(tmp_path):
    deep = tmp_path / "jeu" / "a" / "b" / "c" / "d" / "f.csv"
    deep.parent.mkdir(parents=True)
    deep.write_text("x")
    (tmp_path / "jeu" / "SYNTHETIQUE.json").write_text("{}")
    assert synthetic_marker(tmp_path / "jeu" / "a" / "b" / "f.csv") == tmp_path / "jeu" / "SYNTHETIQUE.json"
    assert synthetic_marker(deep) is None                 # five folders up: another dataset's business
    assert not is_synthetic("rp_population", deep)
    link = tmp_path / "ailleurs" / "f.csv"                # a link into a marked dataset is inside it
    link.parent.mkdir()
    os.symlink(tmp_path / "jeu" / "a" / "f.csv", link)
    (tmp_path / "jeu" / "a" / "f.csv").write_text("x")
    assert is_synthetic("rp_population", link)
    # the sample's SIRENE stand-in, as before; the sample's real census is not synthetic
    assert is_synthetic("sirene_etablissements", sample_path(source("sirene_etablissements")))
    assert not is_synthetic("rp_population", sample_path(source("rp_population")))


def test_older_reports_are_read_against_the_marker_on_disk(tmp_path):
    path = _dataset(tmp_path / "jeu", marked=True)
    old = {"path": str(path), "sha256": "0", "synthetic": False}      # written before the marker rule
    new = {**old, "synthetic_marker": None}                            # the new rule said real: trusted
    assert entry_is_synthetic("mednum_kit_2020", old) and not entry_is_synthetic("mednum_kit_2020", new)
    report = {"inputs": {"mednum_kit_2020": {"files": [old]}, "insee_bpe": {"files": [{**new, "path": "x"}]}}}
    assert synthetic_sources(report, {}) == ["mednum_kit_2020"]


def test_which_maps_rest_on_which_synthetic_sources():
    flagged = lambda on: {"files": [{"path": "p", "synthetic": on}]}
    provenance = {"rp_population": flagged(False), "contours_iris": flagged(True),
                  "sirene_etablissements": flagged(True), "sirene_geolocalisation": flagged(True)}
    assert synthetic_labels(provenance, sirene=False) == ["IGN, CONTOURS-IRIS"]       # the score maps
    assert synthetic_labels(provenance, sirene=True) == ["IGN, CONTOURS-IRIS", SIRENE_LABEL]


@pytest.fixture(scope="module")
def marked_and_plain(tmp_path_factory):
    runs = {}
    for name, marked in (("marked", True), ("plain", False)):
        root = tmp_path_factory.mktemp(name)
        path = _dataset(root / "jeu", marked)
        report = run_local({"mednum_kit_2020": [path]}, root / "out", RunOptions(method="d4g-2020"))
        runs[name] = (root / "out", report, path)
    return runs


def test_a_marked_dataset_is_synthetic_in_provenance_maps_reports_and_dictionary(marked_and_plain):
    from PIL import Image

    out, report, path = marked_and_plain["marked"]
    entry = report["inputs"]["mednum_kit_2020"]["files"][0]
    assert entry["synthetic"] is True and entry["synthetic_marker"] == str(path.parents[2] / "SYNTHETIQUE.json")
    maps = [out / p for paths in report["cartes"].values() for p in paths]
    assert len(maps) == 5
    for png in maps:
        description = Image.open(png).text["Description"]
        assert "SYNTHÉTIQUES" in description and "La MedNum" in description, png.name
        assert _red_pixels_above_the_map(png) > 500, png.name            # the warning is drawn, not only said
    markdown = (out / "run_report.md").read_text(encoding="utf-8")
    section = markdown.split("## SYNTHETIC inputs", 1)[1].split("\n## ", 1)[0]
    assert f"`mednum_kit_2020`: `{path}`" in section and "SYNTHETIQUE.json" in section
    html = (out / "run_report.html").read_text(encoding="utf-8")
    assert 'class="synthetique"' in html and "mednum_kit_2020" in html.split('class="synthetique"', 1)[1][:200]
    dictionary = json.loads((out / "dictionary.json").read_text(encoding="utf-8"))
    assert dictionary["sources"]["mednum_kit_2020"]["synthetique"] is True


def test_the_same_file_without_a_marker_is_real(marked_and_plain):
    from PIL import Image

    out, report, _ = marked_and_plain["plain"]
    entry = report["inputs"]["mednum_kit_2020"]["files"][0]
    assert entry["synthetic"] is False and entry["synthetic_marker"] is None
    for png in [out / p for paths in report["cartes"].values() for p in paths]:
        assert "SYNTH" not in Image.open(png).text["Description"] and _red_pixels_above_the_map(png) == 0
    assert "SYNTHETIC" not in (out / "run_report.md").read_text(encoding="utf-8")
    assert 'class="synthetique"' not in (out / "run_report.html").read_text(encoding="utf-8")
    assert json.loads((out / "dictionary.json").read_text())["sources"]["mednum_kit_2020"]["synthetique"] is False


def test_a_cached_staging_learns_of_a_marker_added_later(tmp_path):
    """The marker is not in the files' hashes: a rerun reusing the staged copy still flags the file."""
    path = _dataset(tmp_path / "jeu", marked=False)
    first = run_local({"mednum_kit_2020": [path]}, tmp_path / "out", RunOptions(method="d4g-2020"))
    assert first["inputs"]["mednum_kit_2020"]["files"][0]["synthetic"] is False
    (tmp_path / "jeu" / "SYNTHETIQUE.json").write_text("{}")
    staged = list((tmp_path / "out" / ".fragilite" / "staging").glob("mednum_kit_2020-*"))
    # another reference: the run is recomputed, the staging (same file) reused
    again = run_local({"mednum_kit_2020": [path]}, tmp_path / "out", RunOptions(method="d4g-2020", reference="france"))
    assert list((tmp_path / "out" / ".fragilite" / "staging").glob("mednum_kit_2020-*")) == staged
    assert again["inputs"]["mednum_kit_2020"]["files"][0]["synthetic"] is True


def test_the_sample_score_maps_are_not_synthetic_its_platform_ones_would_be(sample_run):
    """The sample's census, Filosofi, contours, ARCEP and BPE are real: its score maps say nothing
    synthetic; only its SIRENE (feeding the platform maps, none on the sample: no RP activité) is."""
    from PIL import Image

    out, report = sample_run
    for paths in report["cartes"].values():
        score = out / paths[0]
        assert "score" in score.name and "SYNTH" not in Image.open(score).text["Description"], score.name
        assert _red_pixels_above_the_map(score) == 0, score.name
    assert synthetic_labels(report["inputs"], sirene=True) == [SIRENE_LABEL]
    section = (out / "run_report.md").read_text(encoding="utf-8").split("## SYNTHETIC inputs", 1)[1].split("\n## ", 1)[0]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("- `")}
    assert listed == {"sirene_etablissements", "sirene_unites_legales", "sirene_geolocalisation"}
    assert "the sample's synthetic stand-in" in section
