"""forkshare: jobs over a long list, shared with a forked helper process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from maggot import forkshare

pytestmark = pytest.mark.usefixtures("helper_for_short_lists")


@pytest.fixture
def helper_for_short_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real helper, on lists short enough for a test
    monkeypatch.setattr(forkshare, "PARALLEL_THRESHOLD", 1)


def stat_job(folder: Path, names: list[str]) -> Callable[[int], int | None]:
    def identity(index: int) -> int | None:
        try:
            status = os.stat(folder / names[index])
        except FileNotFoundError:
            return None
        return status.st_mtime_ns << 64 | status.st_ino

    return identity


def test_every_job_has_its_result_in_order(tmp_path: Path) -> None:
    names = [f"run-{number}" for number in range(300)]
    for number, name in enumerate(names):
        if number % 7:  # every seventh is missing
            (tmp_path / name).mkdir()
    job = stat_job(tmp_path, names)
    calls: list[int] = []
    found = forkshare.shared_map(job, len(names), meanwhile=lambda: calls.append(1))
    assert found == [job(index) for index in range(len(names))]
    assert calls == [1]
    assert found[0] is None and found[1] is not None


@pytest.mark.parametrize("count", [0, 1, 2, 3, 1000])
def test_results_of_any_count_come_back_whole(count: int) -> None:
    found = forkshare.shared_map(lambda index: {"n": index, "text": str(index) * 3}, count)
    assert found == [{"n": index, "text": str(index) * 3} for index in range(count)]


def test_slow_work_meanwhile_leaves_the_helper_most_of_the_jobs() -> None:
    def slowly() -> None:
        for _ in range(200):
            os.sched_yield()

    assert forkshare.shared_map(lambda index: index * index, 5000, meanwhile=slowly) == [
        index * index for index in range(5000)
    ]


def test_a_job_failing_in_the_helper_is_done_again_here() -> None:
    # the helper's pid differs from this process's: its jobs fail there, and only there
    parent = os.getpid()

    def job(index: int) -> int:
        if os.getpid() != parent:
            raise RuntimeError("failed in the helper")
        return index + 1

    assert forkshare.shared_map(job, 500) == list(range(1, 501))


def test_a_job_failing_here_raises_here() -> None:
    def job(index: int) -> int:
        if index == 2:
            raise ValueError("job 2")
        return index

    with pytest.raises(ValueError, match="job 2"):
        forkshare.shared_map(job, 100)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_an_interruption_meanwhile_leaves_no_helper_behind() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    before = children()
    with pytest.raises(KeyboardInterrupt):
        forkshare.shared_map(lambda index: index, 1000, meanwhile=interrupted)
    assert children() == before  # none running, none left as a zombie


def children() -> set[int]:
    """This process's child processes, zombies included (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            # the fields after the command's closing parenthesis: state, then parent
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if fields and int(fields[1]) == os.getpid():
            found.add(int(entry.name))
    return found


def test_short_lists_are_done_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forkshare, "PARALLEL_THRESHOLD", 10)
    parent = os.getpid()
    assert forkshare.shared_map(lambda index: os.getpid() == parent, 5) == [True] * 5


def test_a_helper_that_does_not_stop_is_killed_and_its_jobs_done_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forkshare, "HELPER_STOP_SECONDS", 0.5)
    parent = os.getpid()

    def job(index: int) -> int:
        if os.getpid() != parent:
            time.sleep(3600)  # stuck, in the helper only
        return index

    started = time.monotonic()
    assert forkshare.shared_map(job, 50) == list(range(50))
    assert time.monotonic() - started < 30


def test_no_helper_is_forked_while_other_threads_run() -> None:
    parent = os.getpid()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert forkshare.shared_map(lambda index: os.getpid() == parent, 50) == [True] * 50
    finally:
        stop.set()
        other.join()
