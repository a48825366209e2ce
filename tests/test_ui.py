from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from toolkit import record_run

from maggot import ui
from maggot.cli import main


@pytest.fixture
def server(repo: Path) -> Iterator[ui.UiServer]:
    record_run(repo, {"a": 1}, {"score": 1.0}, name="first")
    started = ui.make_server(["experiments"])
    thread = threading.Thread(target=started.serve_forever, daemon=True)
    thread.start()
    yield started
    started.shutdown()
    started.server_close()
    thread.join()


def request(
    server: ui.UiServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def tree_state(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
    }


def test_the_page_and_its_data_are_served_and_nothing_is_written(
    server: ui.UiServer, repo: Path
) -> None:
    before = tree_state(repo / "experiments")
    status, headers, body = request(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"window.MAGGOT_LIVE = true" in body
    status, headers, body = request(server, "/api/data")
    assert status == 200
    data = json.loads(body)
    assert [run["name"] for run in data["runs"]] == ["first"]
    status, _, _ = request(server, "/api/data", headers={"If-None-Match": headers["ETag"]})
    assert status == 304
    assert request(server, "/nothing")[0] == 404
    for method in ("POST", "PUT", "DELETE"):
        assert request(server, "/api/data", method)[0] == 405
    assert tree_state(repo / "experiments") == before


def test_a_new_and_a_changed_run_change_the_data(server: ui.UiServer, repo: Path) -> None:
    _, headers, _ = request(server, "/api/data")
    record_run(repo, {"a": 2}, {"score": 2.0}, name="second")
    status, new_headers, body = request(
        server, "/api/data", headers={"If-None-Match": headers["ETag"]}
    )
    assert status == 200 and new_headers["ETag"] != headers["ETag"]
    assert sorted(run["name"] for run in json.loads(body)["runs"]) == ["first", "second"]


def test_code_diffs_only_between_listed_runs(server: ui.UiServer, repo: Path) -> None:
    (repo / "train.py").write_text('print("changed")\n')
    record_run(repo, {"a": 2}, name="second")
    request(server, "/api/data")
    status, _, body = request(server, "/api/diff?a=experiments/first&b=experiments/second")
    assert status == 200
    assert '+print("changed")' in json.loads(body)["diff"]
    status, _, body = request(server, "/api/diff?a=experiments/first&b=/etc")
    assert status == 404 and json.loads(body) == {"error": "not a listed run"}


def test_requests_for_another_host_name_are_refused(server: ui.UiServer) -> None:
    status, _, _ = request(server, "/api/data", headers={"Host": "attacker.example:80"})
    assert status == 403
    assert request(server, "/api/data", headers={"Host": "localhost:1"})[0] == 200


@pytest.mark.parametrize(
    ("header", "host"),
    [("127.0.0.1:8765", "127.0.0.1"), ("[::1]:80", "::1"), ("localhost", "localhost")],
)
def test_host_name(header: str, host: str) -> None:
    assert ui.host_name(header) == host


def test_ui_on_a_missing_directory_is_a_one_line_error(repo: Path) -> None:
    result = CliRunner().invoke(main, ["ui", "nowhere", "--port", "0"])
    assert result.exit_code == 1
    assert result.stderr == "maggot: nowhere: no such directory\n"


def test_ui_warns_about_a_non_loopback_host_and_stops_on_ctrl_c(repo: Path) -> None:
    record_run(repo, {"a": 1}, name="first")
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "ui", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    warning = process.stderr.readline()
    line = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert "--host 0.0.0.0: anyone who can reach this interface can read these runs" in warning
    assert " at http://0.0.0.0:" in line
    assert process.returncode == 0
    assert out == "maggot ui: stopped\n"
    assert "Traceback" not in err
