from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toolkit import record_run

from maggot import index, store
from maggot import summarize as summaries
from maggot.index import RACY_NANOSECONDS

_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str):
        _opened.append(args[0])


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Paths of the files opened while the test body runs."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def age(*paths: Path) -> None:
    """Date files and folders back, out of the window in which the index does not trust them.

    A run directory stands for its ``.maggot`` and everything in it. Each call
    dates them differently (to the nanosecond), as real changes would.
    """
    past = time.time_ns() - 5 * RACY_NANOSECONDS
    for path in paths:
        meta = path / store.META_DIR
        for item in [*meta.rglob("*"), meta] if meta.is_dir() else [path]:
            os.utime(item, ns=(past, past))


def add_run(workdir: Path, name: str, accuracy: float) -> Path:
    run_dir = record_run(workdir, {"name": name}, {"acc": accuracy}, name=name, snapshot=False)
    age(run_dir, run_dir.parent)
    return run_dir


def indexed() -> dict[str, Any]:
    """The entries of the index of ./experiments, as the next listing reads them."""
    return index.RunIndex("experiments").cached


def listing(**options: Any) -> dict[str, float]:
    summary = summaries.summarize("experiments", **options)
    return {row.run: row.metrics.get("acc") for row in summary.rows}


def run_files(paths: list[str]) -> list[str]:
    return [path for path in paths if f"{os.sep}{store.META_DIR}{os.sep}" in path]


def test_an_unchanged_listing_reads_no_run_file(workdir: Path, opened: list[str]) -> None:
    add_run(workdir, "a", 0.5)
    add_run(workdir, "b", 0.7)
    assert listing(with_params=True) == {"a": 0.5, "b": 0.7}
    assert run_files(opened)
    assert sorted(indexed()) == ["a", "b"]
    opened.clear()
    assert listing(with_params=True) == {"a": 0.5, "b": 0.7}
    assert run_files(opened) == []


def test_changed_added_removed_and_renamed_runs_show_as_on_disk(workdir: Path) -> None:
    a = add_run(workdir, "a", 0.5)
    b = add_run(workdir, "b", 0.7)
    add_run(workdir, "c", 0.9)
    assert listing() == {"a": 0.5, "b": 0.7, "c": 0.9}
    # same size, rewritten as every maggot writer does it: the folder's mtime tells
    results = a / store.META_DIR / store.RESULTS_FILE
    store.write_text_atomic(results, results.read_text().replace("0.5", "0.6"))
    os.rename(b, workdir / "experiments" / "b2")
    shutil.rmtree(workdir / "experiments" / "c")
    add_run(workdir, "d", 0.1)
    assert listing() == {"a": 0.6, "b2": 0.7, "d": 0.1}


def test_a_file_written_just_now_is_never_cached(workdir: Path) -> None:
    run_dir = record_run(workdir, {"x": 1}, {"acc": 0.5}, name="live", snapshot=False)
    assert listing() == {"live": 0.5}
    assert "identity" not in indexed()["live"]  # re-read by every listing
    results = run_dir / store.META_DIR / store.RESULTS_FILE
    stat = os.stat(results)
    results.write_text(results.read_text().replace("0.5", "0.7"))
    os.utime(results, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert listing() == {"live": 0.7}


def index_bytes(body: bytes, digest: bytes | None = None) -> bytes:
    digest = index._digest(body) if digest is None else digest
    return b"\n".join((index._header(), digest, body))


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        index_bytes(marshal.dumps({"a": {}}), b"0" * 32),
        index_bytes(b"\xff\x00garbage"),
        index_bytes(marshal.dumps([1, 2])),
    ],
)
def test_a_corrupt_index_is_rebuilt_with_one_warning(workdir: Path, content: bytes) -> None:
    add_run(workdir, "a", 0.5)
    path = workdir / "experiments" / store.INDEX_FILE
    path.parent.mkdir()
    path.write_bytes(content)
    summary = summaries.summarize("experiments")
    assert [row.run for row in summary.rows] == ["a"]
    assert len(summary.warnings) == 1 and store.INDEX_FILE in summary.warnings[0]
    assert sorted(indexed()) == ["a"]
    assert summaries.summarize("experiments").warnings == []


def test_an_index_of_another_python_is_rebuilt_quietly(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    path = workdir / "experiments" / store.INDEX_FILE
    path.parent.mkdir()
    path.write_bytes(b"maggot-listing-index 1 cpython-399-4\n0\n")
    summary = summaries.summarize("experiments")
    assert [row.run for row in summary.rows] == ["a"] and summary.warnings == []
    assert sorted(indexed()) == ["a"]


def test_entries_of_the_wrong_shape_are_read_again(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    listing()
    runs = indexed()
    runs["a"]["results"] = [0, 0, 0, "garbage", []]
    runs["a"]["run"] = [1, 2]
    runs["b"] = ["not", "an", "entry"]
    path = workdir / "experiments" / store.INDEX_FILE
    path.write_bytes(index_bytes(marshal.dumps((runs, ("deep", [], ["b"])))))
    assert listing() == {"a": 0.5}


def test_no_index_option_neither_reads_nor_writes_it(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    assert listing(use_index=False) == {"a": 0.5}
    assert not (workdir / "experiments" / store.INDEX_FILE).exists()


def test_a_run_directory_listed_on_its_own_gets_no_index(workdir: Path) -> None:
    run_dir = add_run(workdir, "a", 0.5)
    summaries.summarize(str(run_dir))
    assert not (run_dir / store.INDEX_FILE).exists()


def test_a_directory_that_cannot_be_written_still_lists(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    experiments = workdir / "experiments"
    made_readonly = subprocess.run(["chattr", "+i", str(experiments)], capture_output=True)
    if made_readonly.returncode != 0:
        os.chmod(experiments, 0o555)
        if os.access(experiments, os.W_OK):
            pytest.skip("cannot make a directory read-only here")
    try:
        summary = summaries.summarize("experiments")
        assert [row.run for row in summary.rows] == ["a"] and summary.warnings == []
        assert not (experiments / store.INDEX_FILE).exists()
    finally:
        subprocess.run(["chattr", "-i", str(experiments)], capture_output=True)
        os.chmod(experiments, 0o755)


def test_concurrent_listings_all_see_every_run(workdir: Path) -> None:
    for number in range(20):
        add_run(workdir, f"run{number}", number / 20)
    command = [sys.executable, "-m", "maggot", "summarize", "--format", "json", "--params"]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert len(json.loads(out)) == 20 and b"warning" not in err
    assert len(indexed()) == 20
