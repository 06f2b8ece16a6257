"""Shared fixtures: one Prefect test harness per session, one sample run reused by many tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indicators import SAMPLE_DIR

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"
MEDNUM_DIR = SAMPLE_DIR / "mednum_kit_2020" / "2020"


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample_run(prefect_harness, tmp_path_factory) -> tuple[Path, dict]:
    """The README's main command: the refresh flow on the embedded sample, defaults only."""
    from flows.refresh import refresh

    out = tmp_path_factory.mktemp("sample-out")
    report = refresh(out=str(out))
    return out, report


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A private copy of the sample, for tests that break a file."""
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, target)
    return target
