"""Downloads of the registry's sources into data/raw/<source>/<millesime>/, and safe extraction.

- streamed to a temporary file outside the cache folder, moved into place only when whole: an
  interrupted download never leaves a partial file in data/raw, and the next run restarts clean;
- conditional requests (ETag / Last-Modified): an unchanged file is not fetched again;
- retries with exponential backoff on time-outs, dropped connections, 429 and 5xx; none on 404;
- verification: the announced size, the expected sha256 when the registry knows it (a changed
  checksum is an error, not a silent update), and a content type that is not an HTML page;
- extraction of zip and 7z that refuses any entry escaping the target folder (`../../x`, absolute
  paths, links).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import httpx
import py7zr
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from indicators.errors import FragiliteError, InputError

RETRY_STATUS = {429, 500, 502, 503, 504}


class DownloadError(FragiliteError):
    """A download that failed for good (after retries), naming the URL and why."""


@dataclass
class Downloaded:
    path: Path
    status: str          # "downloaded" | "unchanged"
    sha256: str
    bytes: int
    url: str


def _state_path(folder: Path) -> Path:
    return folder / ".download.json"


def _file_name(response: httpx.Response, url: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    if "filename=" in disposition:
        name = disposition.split("filename=", 1)[1].strip().strip('"').split(";")[0]
        if name:
            return PurePosixPath(name).name
    name = PurePosixPath(unquote(urlparse(str(response.url)).path)).name or PurePosixPath(urlparse(url).path).name
    if not name:
        raise DownloadError(f"{url}: no file name in the URL or the response")
    return name


def download(url: str, folder: Path, sha256: str | None = None, retries: int = 4, backoff: float = 0.5,
             timeout: float = 60.0, progress: bool = False, client: httpx.Client | None = None) -> Downloaded:
    folder.mkdir(parents=True, exist_ok=True)
    state = json.loads(_state_path(folder).read_text()) if _state_path(folder).exists() else {}
    headers = {}
    if state.get("url") == url and (folder / state.get("file", "")).is_file():
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
    own = client is None
    client = client or httpx.Client(follow_redirects=True, timeout=timeout,
                                    headers={"User-Agent": "fragilite (open data pipeline)"})
    last_error = "no attempt"
    try:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                return _attempt(client, url, folder, sha256, headers, state, progress)
            except _Retry as exc:
                last_error = str(exc)
                continue
        raise DownloadError(f"{url}: failed after {retries + 1} attempts: {last_error}")
    finally:
        if own:
            client.close()


class _Retry(Exception):
    pass


def _attempt(client, url, folder, sha256, headers, state, progress) -> Downloaded:
    partial_dir = folder.parent / ".partial"
    partial_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=partial_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    path = folder / state["file"]
                    return Downloaded(path, "unchanged", state["sha256"], path.stat().st_size, url)
                if response.status_code in RETRY_STATUS:
                    raise _Retry(f"HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
                ctype = response.headers.get("content-type", "")
                if ctype.startswith("text/html"):
                    raise DownloadError(f"{url}: the server sent an HTML page ({ctype}), not the data file "
                                        "(moved? login page?)")
                announced = int(response.headers["content-length"]) if "content-length" in response.headers else None
                name = _file_name(response, url)
                digest = hashlib.sha256()
                received = 0
                with open(tmp, "wb") as fh, _bar(progress, name, announced) as advance:
                    for chunk in response.iter_bytes(1 << 20):
                        fh.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        advance(len(chunk))
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from exc
        if announced is not None and received != announced:
            raise _Retry(f"truncated body: {received} of {announced} bytes")
        got = digest.hexdigest()
        if sha256 and got != sha256:
            raise DownloadError(f"{url}: checksum changed: the registry expects {sha256}, the server sent "
                                f"{got}. The file may have been republished: check it, then update "
                                "indicators/sources/sources.yaml")
        target = folder / name
        os.replace(tmp, target)
        _state_path(folder).write_text(json.dumps({
            "url": url, "final_url": str(response.url), "file": name, "sha256": got, "bytes": received,
            "etag": response.headers.get("etag"), "last_modified": response.headers.get("last-modified"),
        }, indent=1))
        (folder / "SHA256SUMS").write_text(f"{got}  {name}\n")
        return Downloaded(target, "downloaded", got, received, url)
    finally:
        tmp.unlink(missing_ok=True)


class _bar:
    def __init__(self, enabled: bool, name: str, total: int | None):
        self.enabled, self.name, self.total = enabled, name, total

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        self.progress = Progress("[bold]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 transient=True)
        self.progress.start()
        task = self.progress.add_task(self.name, total=self.total)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.stop()
        return False


def _safe_target(dest: Path, name: str, archive: Path) -> Path:
    if not name or name.startswith(("/", "\\")) or ":" in PurePosixPath(name).parts[0]:
        raise InputError(archive, f"archive entry {name!r} has an absolute path: refused")
    target = (dest / name).resolve()
    if dest.resolve() not in target.parents and target != dest.resolve():
        raise InputError(archive, f"archive entry {name!r} escapes the target folder: refused")
    return target


def extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a zip or 7z into dest, refusing entries that would land outside it."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = _safe_target(dest, info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise InputError(archive, f"archive entry {info.filename!r} is a link: refused")
                if info.is_dir():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                out.append(target)
        return out
    if py7zr.is_7zfile(archive):
        with py7zr.SevenZipFile(archive) as a:
            names = a.getnames()
            for name in names:
                _safe_target(dest, name, archive)
            a.extractall(dest)
        return [dest / n for n in names if (dest / n).is_file()]
    raise InputError(archive, "not a zip or 7z archive")
