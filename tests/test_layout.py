"""The package's shape: folders follow the path of the data, and no import runs back up it.

sources/ (registry, downloads, readers, staging) knows nothing of what is computed from it;
stages/ (counts, allocation, platform workers, scoring, geometry, rejects) knows nothing of how
results are published; outputs/ (layers, dictionary, report, validation) reads stages' results.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from indicators import PACKAGE_DIR

FORBIDDEN = {
    "sources": ("indicators.stages", "indicators.outputs", "indicators.pipeline", "indicators.cli", "indicators.cache", "flows"),
    "stages": ("indicators.outputs", "indicators.pipeline", "indicators.cli", "flows"),
    "outputs": ("indicators.pipeline", "indicators.cli", "flows"),
}
MAX_LINES = 80


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, relative imports resolved against its package."""
    package = ".".join(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            found.append((node.lineno, base))
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_runs_back_up_the_data_path(folder):
    offending = []
    for path in sorted((PACKAGE_DIR / folder).rglob("*.py")):
        for line, module in imported_modules(path):
            if module.startswith(FORBIDDEN[folder]):
                offending.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {module}")
    assert not offending, "\n".join(offending)


def test_the_import_check_sees_relative_imports(tmp_path, monkeypatch):
    # the rule above would pass on a blind parser: check it resolves `from ..outputs import x`
    sample = tmp_path / "indicators" / "stages" / "x.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("from ..outputs import layers\nfrom . import counts\n")
    monkeypatch.setattr("tests.test_layout.PACKAGE_DIR", tmp_path / "indicators")
    modules = [m for _, m in imported_modules(sample)]
    assert "indicators.outputs.layers" in modules and "indicators.stages.counts" in modules


def test_no_function_longer_than_a_screen():
    long = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    long.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno} {node.name}: {length} lines")
    assert not long, "\n".join(long)


def test_compute_is_a_short_sequence_of_stages():
    from indicators.stages import compute

    tree = ast.parse(Path(compute.__file__).read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute"]
    assert node.end_lineno - node.lineno + 1 < 50
