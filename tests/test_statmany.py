"""statmany: identities of many directories, with a forked helper sharing the stats."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from maggot import statmany


@pytest.fixture
def helper_for_short_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    # the real helper, on lists short enough for a test
    monkeypatch.setattr(statmany, "PARALLEL_THRESHOLD", 1)


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    names = []
    for number in range(300):
        name = f"run-{number}"
        if number % 7:  # every seventh is missing
            (tmp_path / name / "meta").mkdir(parents=True)
        names.append(name)
    descriptor = os.open(tmp_path, os.O_RDONLY)
    yield descriptor, names
    os.close(descriptor)


def expected(descriptor: int, names: list[str]) -> list[int | None]:
    found: list[int | None] = []
    for name in names:
        try:
            found.append(statmany.identity(os.stat(name + "/meta", dir_fd=descriptor)))
        except FileNotFoundError:
            found.append(None)
    return found


@pytest.mark.usefixtures("helper_for_short_lists")
def test_every_path_gets_its_own_identity_in_order(folders: tuple[int, list[str]]) -> None:
    descriptor, names = folders
    calls: list[int] = []
    found = statmany.identities(descriptor, names, "/meta", meanwhile=lambda: calls.append(1))
    assert found == expected(descriptor, names)
    assert calls == [1]
    assert found[0] is None and found[1] is not None


@pytest.mark.usefixtures("helper_for_short_lists")
def test_slow_work_meanwhile_leaves_the_helper_most_of_the_stats(
    folders: tuple[int, list[str]],
) -> None:
    descriptor, names = folders
    found = statmany.identities(descriptor, names, "/meta", meanwhile=lambda: os.sched_yield())
    assert found == expected(descriptor, names)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.usefixtures("helper_for_short_lists")
def test_an_interruption_meanwhile_leaves_no_helper_behind(folders: tuple[int, list[str]]) -> None:
    descriptor, names = folders

    def interrupted() -> None:
        raise KeyboardInterrupt

    before = children()
    with pytest.raises(KeyboardInterrupt):
        statmany.identities(descriptor, names, "/meta", meanwhile=interrupted)
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


def test_short_lists_are_stat_ed_here(folders: tuple[int, list[str]]) -> None:
    descriptor, names = folders
    assert statmany.identities(descriptor, names[:5], "/meta") == expected(descriptor, names[:5])
