"""``maggot ui``: the report page served live, read-only, re-reading runs as they change.

The page fetches ``api/data`` every two seconds; the server answers from a
cache kept while no run file changed (checked by file sizes and times, not
by reading them), so an idle page costs a few ``stat`` calls per run.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from maggot import report, series, store
from maggot.errors import MaggotError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# files whose change means the page must be rebuilt; logs and artifacts are not shown live
_WATCHED = (store.RUN_FILE, store.CONFIG_FILE, store.RESULTS_FILE, store.GIT_DIR)


class Snapshot(NamedTuple):
    """The page data as served: its JSON and the tag that names this version of it."""

    etag: str
    body: bytes
    run_paths: frozenset[str]


class LiveRuns:
    """The runs under ``sources``, rebuilt when a run appears, goes, or changes."""

    def __init__(self, sources: Sequence[str], max_depth: int | None, title: str) -> None:
        self.sources = list(sources)
        self.max_depth = max_depth
        self.title = title
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """The current data, rebuilt only when the runs changed since the last call."""
        with self._lock:
            run_dirs = report.find_runs(self.sources, self.max_depth)
            fingerprint = _fingerprint(run_dirs)
            if self._snapshot is None or fingerprint != self._fingerprint:
                data = report.collect(run_dirs, title=self.title, code_diffs=False)
                body = report.data_json(data).encode("utf-8")
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                paths = frozenset(run["path"] for run in data["runs"])
                self._snapshot = Snapshot(etag, body, paths)
                self._fingerprint = fingerprint
            return self._snapshot


def _fingerprint(run_dirs: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for run_dir in run_dirs:
        digest.update(run_dir.encode("utf-8", "surrogateescape") + b"\0")
        for name in _WATCHED:
            _add_stat(digest, store.meta_path(run_dir, name))
        try:
            entries = sorted(os.scandir(series.series_dir(run_dir)), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            _add_stat(digest, entry.path)
    return digest.hexdigest()


def _add_stat(digest: Any, path: str) -> None:
    try:
        status = os.stat(path)
    except OSError:
        digest.update(b"-")
        return
    digest.update(
        f"{path}:{status.st_size}:{status.st_mtime_ns};".encode("utf-8", "surrogateescape")
    )


def host_name(host_header: str) -> str:
    """A Host header's host: ``[::1]:80`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Handler(BaseHTTPRequestHandler):
    """GET only: the page, its data, and code diffs between two listed runs."""

    server: UiServer
    server_version = "maggot-ui"

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if not self._host_allowed():
            self._send(HTTPStatus.FORBIDDEN, b"unexpected Host header\n", "text/plain")
            return
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif url.path == "/api/data":
            self._send_data()
        elif url.path == "/api/diff":
            self._send_diff(parse_qs(url.query))
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only\n", "text/plain")

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def _host_allowed(self) -> bool:
        # on loopback, a page of another site must not read the runs through DNS
        # rebinding; on another interface (--host) any name may lead here
        if self.server.bind_host not in LOOPBACK_HOSTS:
            return True
        return host_name(self.headers.get("Host", "")) in LOOPBACK_HOSTS

    def _send_data(self) -> None:
        try:
            snapshot = self.server.runs.snapshot()
        except MaggotError as error:
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(error)})
            return
        if self.headers.get("If-None-Match") == snapshot.etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", snapshot.etag)
            self.end_headers()
            return
        self._send(HTTPStatus.OK, snapshot.body, "application/json", {"ETag": snapshot.etag})

    def _send_diff(self, query: dict[str, list[str]]) -> None:
        first, second = query.get("a", [""])[0], query.get("b", [""])[0]
        known = self.server.runs.snapshot().run_paths
        if first not in known or second not in known:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not a listed run"})
            return
        try:
            text = report.code_diff_text(first, second)
        except MaggotError as error:
            self._send_json(HTTPStatus.OK, {"error": f"no code diff: {error}"})
            return
        self._send_json(HTTPStatus.OK, {"diff": text})

    def _send_json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        return  # a request line per poll every two seconds would drown the terminal


class UiServer(ThreadingHTTPServer):
    """The HTTP server of ``maggot ui``; its threads die with the process."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], runs: LiveRuns) -> None:
        self.runs = runs
        self.bind_host = address[0]
        self.page = report.render_page(None, live=True).encode("utf-8")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        """Where the page is, e.g. ``http://127.0.0.1:8765/``."""
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(
    sources: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_depth: int | None = 3,
    title: str = "maggot runs",
) -> UiServer:
    """A server for the runs under ``sources`` (not started: call ``serve_forever``)."""
    runs = LiveRuns(sources, max_depth, title)
    runs.snapshot()  # fail now, not in the first request, on a missing directory
    return UiServer((host, port), runs)
