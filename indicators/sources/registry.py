"""The source registry (sources.yaml) and the resolution of the files a run reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from indicators import PACKAGE_DIR, PROJECT_DIR, SAMPLE_DIR
from indicators.errors import FragiliteError

REGISTRY_FILE = PACKAGE_DIR / "sources" / "sources.yaml"
RAW_DIR = PROJECT_DIR / "data" / "raw"


@dataclass(frozen=True)
class Millesime:
    year: int
    url: str | None
    sha256: str | None
    sample: str | None


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    publisher: str
    licence: str
    reader: str
    default: int
    optional: bool
    millesimes: dict[int, Millesime] = field(default_factory=dict)
    synthetic_sample: bool = False   # the sample's file for this source is synthetic: say so everywhere

    def millesime(self, year: int | None = None) -> Millesime:
        year = year or self.default
        if year not in self.millesimes:
            raise FragiliteError(f"{self.id}: no millésime {year} in the registry "
                                 f"(known: {sorted(self.millesimes)})")
        return self.millesimes[year]

    def url(self, year: int | None = None) -> str | None:
        m = self.millesime(year)
        return m.url.format(millesime=m.year) if m.url else None


@lru_cache(maxsize=1)
def load_registry() -> dict[str, Source]:
    data = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))
    sources = {}
    for sid, spec in data.items():
        millesimes = {int(y): Millesime(int(y), m.get("url"), m.get("sha256"), m.get("sample"))
                      for y, m in spec["millesimes"].items()}
        sources[sid] = Source(sid, spec["title"], spec["publisher"], spec["licence"], spec["reader"],
                              int(spec["default"]), bool(spec.get("optional", False)), millesimes,
                              bool(spec.get("synthetic_sample", False)))
    return sources


def source(source_id: str) -> Source:
    registry = load_registry()
    if source_id not in registry:
        raise FragiliteError(f"unknown source {source_id!r}; known sources: {', '.join(registry)}")
    return registry[source_id]


def sample_path(src: Source) -> Path | None:
    m = src.millesimes.get(src.default)
    return SAMPLE_DIR / m.sample if m and m.sample else None


def local_path(src: Source, raw_dir: Path = RAW_DIR) -> Path | None:
    """A downloaded copy in data/raw/<source>/<millesime>/, if there is one."""
    folder = raw_dir / src.id / str(src.default)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "SHA256")))
        if files:
            return files[0]
    return None


# Sources a run fed only the MedNum 2020 file does not read: that file carries all of them.
RP_MODE_SOURCES = ["rp_population", "rp_familles", "rp_diplomes", "rp_activite", "filosofi_iris",
                   "filosofi_communes", "contours_iris", "epci_composition",
                   "qpv_contours_2015", "qpv_contours_2024", "insee_qpv_demo", "insee_qpv_pop2024",
                   "anct_qpv_indicateurs", "filosofi_200m", "filosofi_200m_emprise",
                   "sirene_etablissements", "sirene_unites_legales", "sirene_geolocalisation",
                   "arcep_fixe", "insee_bpe", "indicateurs_communes"]
# Commune-level sources, read beside the census or beside the MedNum file alike: given with the
# MedNum file, they do not turn its run into a census run (and the sample's are not added to it).
BOTH_MODES = ["arcep_fixe", "insee_bpe", "indicateurs_communes"]


def resolve_inputs(given: dict[str, list[Path]], raw_dir: Path = RAW_DIR) -> dict[str, list[Path]]:
    """Which files feed each source: --input first, then a downloaded copy, then the sample.

    A run given the MedNum 2020 file and no census file reads that file alone.
    """
    registry = load_registry()
    for sid, paths in given.items():
        if sid not in registry:
            raise FragiliteError(f"--input {sid}=...: unknown source; known: {', '.join(registry)}")
        for p in paths:
            if not p.exists():
                raise FragiliteError(f"--input {sid}={p}: no such file")
    if "mednum_kit_2020" in given and not any(s in given for s in RP_MODE_SOURCES if s not in BOTH_MODES):
        return {sid: paths for sid, paths in given.items() if sid == "mednum_kit_2020" or sid in BOTH_MODES}
    resolved: dict[str, list[Path]] = {}
    for sid in RP_MODE_SOURCES:
        src = registry[sid]
        if sid in given:
            resolved[sid] = given[sid]
            continue
        found = local_path(src, raw_dir) or sample_path(src)
        if found is not None and found.exists():
            resolved[sid] = [found]
        elif not src.optional:
            raise FragiliteError(f"no file for source {sid}: give --input {sid}=PATH or download it")
    for sid, paths in given.items():
        resolved.setdefault(sid, paths)
    return resolved


SYNTHETIC_MARKER = "SYNTHETIQUE.json"   # left at a generated dataset's root (benchmarks/generate_national.py)
# Folders searched above a file: a dataset's files lie at <root>/<source>/<millésime>/<file>
# (generate_national.py's SIRENE: <root>/sirene/<edition>/<file>), one more level for leeway.
MARKER_LEVELS = 4


def synthetic_marker(path: Path | str) -> Path | None:
    """The SYNTHETIQUE.json of the generated dataset holding path, if any (None: no marker up to
    MARKER_LEVELS folders above it). A link into such a dataset counts as inside it."""
    path = Path(path)
    folders = list(path.absolute().parents)[:MARKER_LEVELS]
    if path.is_symlink():
        folders += list(path.resolve().parents)[:MARKER_LEVELS]
    return next((f / SYNTHETIC_MARKER for f in folders if (f / SYNTHETIC_MARKER).is_file()), None)


def is_synthetic(source_id: str, path: Path | str) -> bool:
    """The one rule for synthetic inputs: path is the sample's synthetic stand-in for the source
    (sources.yaml's synthetic_sample), or lies in a dataset marked by a SYNTHETIQUE.json. The
    national generator's BPE and ARCEP files hold real counts moved onto invented places: what
    they say of a place is invented, so they count as synthetic too."""
    src = source(source_id)
    sample = sample_path(src)
    if src.synthetic_sample and sample is not None and Path(path).resolve() == sample.resolve():
        return True
    return synthetic_marker(path) is not None


def entry_is_synthetic(source_id: str, entry: dict) -> bool:
    """Whether a provenance entry (a file of run_report.json's inputs) is synthetic: its flag.
    Reports written before the marker rule (no "synthetic_marker" key) flagged the sample only:
    their files are looked up for a marker on disk as well."""
    if entry.get("synthetic"):
        return True
    if "synthetic_marker" in entry or not entry.get("path"):
        return False
    return synthetic_marker(entry["path"]) is not None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
