"""A real HTTP file server on 127.0.0.1 for download tests, with Range support and fault injection.

:class:`FileServer` serves in-memory files from a background thread (``ThreadingHTTPServer`` on an ephemeral
port) and records every request. Faults, each consumed by the next GET requests:

- ``cut_next``: that many responses announce the full length but close the connection after half the body;
- ``fail_next``: a list of HTTP statuses to answer instead (e.g. ``[503]``);
- ``ignore_range``: always answer 200 with the whole file, whatever the Range header says.

The fixture :func:`file_server` yields a started server and stops it afterwards.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class FileServer:
    """In-memory files over HTTP on 127.0.0.1; use as a context manager or through the fixture."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, object]] = []  # {"path", "range", "status"} per GET, in order
        self.cut_next = 0
        self.fail_next: list[int] = []
        self.ignore_range = False
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------
    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path`` (starting with '/'); returns its URL."""
        self.files[path] = data
        return self.url(path)

    def url(self, path: str) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def ranges(self) -> list[object]:
        """The Range header of every GET so far (None where absent)."""
        with self._lock:
            return [r["range"] for r in self.requests]

    def start(self) -> FileServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                owner._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        range_header = h.headers.get("Range")
        with self._lock:
            record: dict[str, object] = {"path": h.path, "range": range_header, "status": None}
            self.requests.append(record)
            fail = self.fail_next.pop(0) if self.fail_next else None
            cut = self.cut_next > 0
            if cut:
                self.cut_next -= 1
        data = self.files.get(h.path)
        if fail is not None or data is None:
            status = fail if fail is not None else 404
            record["status"] = status
            body = f"status {status}\n".encode()
            h.send_response(status)
            h.send_header("Content-Length", str(len(body)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body)
            h.close_connection = True
            return
        start, end = 0, len(data) - 1
        match = _RANGE.match(range_header or "")
        if match and not self.ignore_range:
            start = int(match.group(1))
            end = min(int(match.group(2)), len(data) - 1) if match.group(2) else len(data) - 1
            if start >= len(data):
                record["status"] = 416
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            record["status"] = 206
        else:
            h.send_response(200)
            record["status"] = 200
        body = data[start : end + 1]
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "none" if self.ignore_range else "bytes")
        if cut:
            h.send_header("Connection", "close")
        h.end_headers()
        if cut:  # announce everything, send half, hang up
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    """A started :class:`FileServer` on 127.0.0.1, stopped after the test."""
    with FileServer() as server:
        yield server
