"""The downloader against a local HTTP server (pytest-httpserver, loopback only) serving a real
file of the sample, with the faults real servers have."""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import py7zr
import pytest
from werkzeug import Response

from indicators import SAMPLE_DIR
from indicators.sources.download import DownloadError, download, extract
from indicators.errors import InputError

REAL = SAMPLE_DIR / "rp_population/2016/base-ic-evol-struct-pop-2016.zip"
BODY = REAL.read_bytes()
SHA = hashlib.sha256(BODY).hexdigest()
NAME = "base-ic-evol-struct-pop-2016.zip"


def _no_partial(root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.suffix == ".part"]
    assert not leftovers, leftovers


def test_download_and_conditional_refresh(httpserver, tmp_path):
    calls = []

    def handler(request):
        calls.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(BODY, content_type="application/zip", headers={"ETag": '"v1"'})

    httpserver.expect_request(f"/fichier/{NAME}").respond_with_handler(handler)
    folder = tmp_path / "raw" / "rp_population" / "2016"
    first = download(httpserver.url_for(f"/fichier/{NAME}"), folder, sha256=SHA, backoff=0)
    assert first.status == "downloaded" and first.path.read_bytes() == BODY and first.sha256 == SHA
    assert (folder / "SHA256SUMS").read_text().startswith(SHA)
    second = download(httpserver.url_for(f"/fichier/{NAME}"), folder, sha256=SHA, backoff=0)
    assert second.status == "unchanged" and calls[-1].get("If-None-Match") == '"v1"'
    _no_partial(tmp_path)


def test_404_fails_at_once(httpserver, tmp_path):
    httpserver.expect_request("/missing.zip").respond_with_data("no", status=404)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(httpserver.url_for("/missing.zip"), tmp_path / "raw" / "x" / "1", backoff=0)
    assert len(httpserver.log) == 1                 # a 404 is not retried
    _no_partial(tmp_path)


def test_500_then_success(httpserver, tmp_path):
    state = {"n": 0}

    def handler(request):
        state["n"] += 1
        if state["n"] < 3:
            return Response("busy", status=500)
        return Response(BODY, content_type="application/zip")

    httpserver.expect_request(f"/{NAME}").respond_with_handler(handler)
    got = download(httpserver.url_for(f"/{NAME}"), tmp_path / "raw" / "s" / "1", sha256=SHA, backoff=0.01)
    assert got.status == "downloaded" and state["n"] == 3


def test_timeout_is_retried_then_reported(httpserver, tmp_path):
    def slow(request):
        time.sleep(1.0)
        return Response(BODY, content_type="application/zip")

    httpserver.expect_request(f"/{NAME}").respond_with_handler(slow)
    with pytest.raises(DownloadError, match="failed after 2 attempts: .*Timeout"):
        download(httpserver.url_for(f"/{NAME}"), tmp_path / "raw" / "s" / "1", retries=1, backoff=0, timeout=0.2)
    _no_partial(tmp_path)
    assert not (tmp_path / "raw" / "s" / "1" / NAME).exists()


def test_truncated_body_is_never_moved_into_place(httpserver, tmp_path):
    def cut(request):
        # announces the full length, sends half: what a dropped connection looks like
        return Response(iter([BODY[: len(BODY) // 2]]), content_type="application/zip",
                        headers={"Content-Length": str(len(BODY))}, direct_passthrough=True)

    httpserver.expect_request(f"/{NAME}").respond_with_handler(cut)
    with pytest.raises(DownloadError):
        download(httpserver.url_for(f"/{NAME}"), tmp_path / "raw" / "s" / "1", retries=1, backoff=0)
    assert not (tmp_path / "raw" / "s" / "1" / NAME).exists()
    _no_partial(tmp_path)


def test_html_page_instead_of_data(httpserver, tmp_path):
    httpserver.expect_request(f"/{NAME}").respond_with_data("<html>Connexion</html>", content_type="text/html")
    with pytest.raises(DownloadError, match="HTML page"):
        download(httpserver.url_for(f"/{NAME}"), tmp_path / "raw" / "s" / "1", backoff=0)
    _no_partial(tmp_path)


def test_changed_checksum_is_an_error(httpserver, tmp_path):
    httpserver.expect_request(f"/{NAME}").respond_with_data(BODY + b"republished", content_type="application/zip")
    folder = tmp_path / "raw" / "s" / "1"
    with pytest.raises(DownloadError, match="checksum changed"):
        download(httpserver.url_for(f"/{NAME}"), folder, sha256=SHA, backoff=0)
    assert not (folder / NAME).exists()
    _no_partial(tmp_path)


def test_redirect_is_followed(httpserver, tmp_path):
    httpserver.expect_request("/old").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for(f"/new/{NAME}")}))
    httpserver.expect_request(f"/new/{NAME}").respond_with_data(BODY, content_type="application/zip")
    got = download(httpserver.url_for("/old"), tmp_path / "raw" / "s" / "1", sha256=SHA, backoff=0)
    assert got.path.name == NAME and got.sha256 == SHA


def test_zip_slip_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("data.csv", "a;b\n")
        zf.writestr("../../x", "owned")
    with pytest.raises(InputError, match=r"'\.\./\.\./x' escapes"):
        extract(evil, tmp_path / "dest")
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


def test_7z_slip_is_refused(tmp_path):
    payload = tmp_path / "payload.txt"
    payload.write_text("owned")
    evil = tmp_path / "evil.7z"
    with py7zr.SevenZipFile(evil, "w") as a:
        a.write(payload, "../../x")
    with pytest.raises(InputError, match="escapes"):
        extract(evil, tmp_path / "dest")


def test_real_archives_extract(tmp_path):
    files = extract(SAMPLE_DIR / "contours_iris/2016/CONTOURS-IRIS_2-1__SHP__FRA_2016-01-01.7z", tmp_path / "c")
    assert sum(1 for f in files if f.suffix == ".shp") == 2
    files = extract(REAL, tmp_path / "z")
    assert {f.name for f in files} == {"base-ic-evol-struct-pop-2016.CSV", "meta_base-ic-evol-struct-pop-2016.CSV"}


SIRENE = ["sirene_etablissements", "sirene_unites_legales", "sirene_geolocalisation"]


def test_monthly_sirene_comes_from_the_registry_and_replaces_last_month(httpserver, tmp_path, monkeypatch):
    """The monthly schedule's source: SIRENE's three files at the registry's addresses (data.gouv.fr
    serves the current month's stock at the same address every month). Served here, on their
    registry paths, by a local server: `fragilite download` puts them in data/raw, a run reads them
    instead of the sample's synthetic stand-ins (and does not call them synthetic), and next
    month's files replace this month's. The files are SYNTHETIC (scripts/generate_sirene.py)."""
    from urllib.parse import urlparse

    from typer.testing import CliRunner

    from indicators.cli import app
    from indicators.sources.registry import Source, is_synthetic, load_registry, resolve_inputs
    from .helpers import sirene_generator

    registry = load_registry()
    urls = {sid: registry[sid].url() for sid in SIRENE}
    assert all(u and u.startswith("https://") and u.endswith(".parquet") for u in urls.values()), urls
    gen = sirene_generator()
    months = {m: gen.write(gen.generate(seed=m, scale=0.1), tmp_path / f"served-{m}", parquet=True) for m in (1, 2)}
    kinds = dict(zip(SIRENE, ["etablissements", "unites_legales", "geolocalisation"]))
    current = {"month": 1}

    def handler(request):
        sid = next(s for s, u in urls.items() if urlparse(u).path == request.path)
        body = months[current["month"]][kinds[sid]].read_bytes()
        return Response(body, content_type="application/octet-stream", headers={"ETag": f'"{current["month"]}"'})

    for url in urls.values():
        httpserver.expect_request(urlparse(url).path).respond_with_handler(handler)
    local = httpserver.url_for("/").rstrip("/")
    original = Source.url
    monkeypatch.setattr(Source, "url", lambda self, year=None: (original(self, year) or "").replace(
        "https://object.files.data.gouv.fr", local) or None)
    raw = tmp_path / "raw"
    for month in (1, 2):
        current["month"] = month
        result = CliRunner().invoke(app, ["download", *SIRENE, "--raw", str(raw)])
        assert result.exit_code == 0, result.output
        assert result.output.count("downloaded") == 3, result.output
        resolved = resolve_inputs({}, raw_dir=raw)
        for sid in SIRENE:
            [path] = resolved[sid]
            assert path.parent == raw / sid / "2024" and path.suffix == ".parquet"
            assert path.read_bytes() == months[month][kinds[sid]].read_bytes()
            assert not is_synthetic(sid, path)
    assert resolved["rp_population"] == resolve_inputs({})["rp_population"]   # the others: as before
