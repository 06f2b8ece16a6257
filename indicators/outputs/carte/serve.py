"""`fragilite carte --serve`: the map bundle over HTTP on the loopback interface, answering the
range requests PMTiles needs (`Range: bytes=a-b` -> 206 Partial Content).

Python's http.server answers every GET with the whole file; a national map's tiles are read a few
kilobytes at a time from archives of tens of megabytes, so this handler adds single-range
support (what the pmtiles library sends). It binds 127.0.0.1 only: it is a preview, not a host.
"""

from __future__ import annotations

import os
import re
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
LOOPBACK = "127.0.0.1"


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files, with `Range: bytes=a-b` honoured (one range per request)."""

    protocol_version = "HTTP/1.1"      # keep-alive: a map asks for many small ranges
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript; charset=utf-8",
                      ".pmtiles": "application/octet-stream", ".css": "text/css; charset=utf-8"}

    def log_message(self, format, *args):   # quiet: a map asks for hundreds of ranges
        pass

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self):
        header = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not header or not path.is_file():
            return super().send_head()
        match = RANGE.match(header.strip())
        size = path.stat().st_size
        if not match or (not match.group(1) and not match.group(2)):
            return super().send_head()
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        else:                                    # bytes=-N: the last N bytes
            start, end = max(size - int(match.group(2)), 0), size - 1
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        fh = open(path, "rb")
        fh.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Slice(fh, end - start + 1)


class _Slice:
    """The part of an open file a range asks for, read by copyfile() like a file."""

    def __init__(self, fh, length: int):
        self.fh, self.left = fh, length

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.fh.close()


def server(directory: Path, port: int = 8000) -> ThreadingHTTPServer:
    """A server for directory on 127.0.0.1:port (port 0: any free port); not started."""
    directory = Path(directory)
    if not (directory / "index.html").exists():
        raise FileNotFoundError(f"no map in {directory} (index.html missing): run `fragilite carte` first")
    handler = partial(RangeHandler, directory=os.fspath(directory))
    return ThreadingHTTPServer((LOOPBACK, port), handler)


def serve_in_thread(directory: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread (tests, benchmarks): the server and the map's URL."""
    httpd = server(directory, port)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://{LOOPBACK}:{httpd.server_address[1]}/index.html"


def serve_forever(directory: Path, port: int = 8000) -> None:
    """Serve until interrupted (Ctrl-C)."""
    httpd = server(directory, port)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":          # python -m indicators.outputs.carte.serve DIR [PORT]
    import sys

    serve_forever(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8000)
