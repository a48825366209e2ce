from __future__ import annotations

import contextlib
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

from maggot import index, query, store
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
    """An index file whose entries part is ``body`` (a stored search of None)."""
    search = marshal.dumps(None)
    digest = index._digest(body) if digest is None else digest
    sums = b"%s %d %s" % (index._digest(search), len(search), digest)
    return b"\n".join((index._header(), sums, search + body))


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        index_bytes(marshal.dumps({"a": {}}), b"0" * 32),
        index_bytes(b"\xff\x00garbage"),
        index_bytes(marshal.dumps([1, 2])),
        index_bytes(marshal.dumps({"a": {}}))[:-3],  # torn
        b"\n".join((index._header(), b"no sums", marshal.dumps(None))),
        b"\n".join((index._header(), b"0 1 0", marshal.dumps(None))),  # the search's sum
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


def test_a_fifo_in_place_of_the_index_neither_hangs_nor_stays(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    path = workdir / "experiments" / store.INDEX_FILE
    path.parent.mkdir()
    os.mkfifo(path)
    command = [sys.executable, "-m", "maggot", "summarize", "experiments", "--format", "json"]
    # a plain open of a FIFO waits for a writer that never comes
    listed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [row["run"] for row in json.loads(listed.stdout)] == ["a"]
    assert "not a regular file" in listed.stderr and store.INDEX_FILE in listed.stderr
    assert path.is_file() and sorted(indexed()) == ["a"]  # replaced by an index


def test_a_directory_in_place_of_the_index_is_left_alone(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    path = workdir / "experiments" / store.INDEX_FILE
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    for _ in range(2):
        summary = summaries.summarize("experiments")
        assert [row.run for row in summary.rows] == ["a"]
        assert summary.warnings == [
            f"{os.path.join('experiments', store.INDEX_FILE)}: a directory where the listing"
            " index belongs; listing without it"
        ]
    assert (path / "notes.txt").read_text() == "mine"


def test_an_unreadable_index_folder_is_one_warning() -> None:
    root = "experiments"
    problem = ": unreadable listing index (Permission denied); listing without it"
    warnings = [index.changes_path(root) + problem, index.index_path(root) + problem]
    index._one_warning_for_both_files(root, warnings)
    assert warnings == [os.path.join(root, store.INDEX_DIR) + problem]
    # other problems are each said of their file, even the same one twice (two FIFOs)
    fifo = ": unreadable listing index (not a regular file); listing without it"
    for other in (
        [index.changes_path(root) + problem, index.index_path(root) + ": not a listing index"],
        [index.changes_path(root) + fifo, index.index_path(root) + fifo],
    ):
        kept = list(other)
        index._one_warning_for_both_files(root, kept)
        assert kept == other


def test_entries_of_the_wrong_shape_are_read_again(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    listing()
    runs = indexed()
    runs["a"]["results"] = [0, 0, 0, "garbage", []]
    runs["a"]["run"] = [1, 2]
    runs["b"] = ["not", "an", "entry"]
    path = workdir / "experiments" / store.INDEX_FILE
    path.write_bytes(b"".join(index.encode(runs, ("deep", [], ["b"]))))
    assert listing() == {"a": 0.5}


def test_no_index_option_neither_reads_nor_writes_it(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    assert listing(use_index=False) == {"a": 0.5}
    assert not (workdir / "experiments" / store.INDEX_FILE).exists()


def test_a_run_directory_listed_on_its_own_gets_no_index(workdir: Path) -> None:
    run_dir = add_run(workdir, "a", 0.5)
    summaries.summarize(str(run_dir))
    assert not (run_dir / store.INDEX_FILE).exists()


@contextlib.contextmanager
def read_only(*folders: Path) -> Iterator[None]:
    """The folders made read-only, even for root (immutable, where the file system allows)."""
    try:
        for folder in folders:
            made_readonly = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
            if made_readonly.returncode != 0:
                os.chmod(folder, 0o555)
                if os.access(folder, os.W_OK):
                    pytest.skip("cannot make a directory read-only here")
        yield
    finally:
        for folder in folders:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
            os.chmod(folder, 0o755)


def test_a_directory_that_cannot_be_written_still_lists(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    experiments = workdir / "experiments"
    with read_only(experiments):
        summary = summaries.summarize("experiments")
        assert [row.run for row in summary.rows] == ["a"] and summary.warnings == []
        assert not (experiments / store.INDEX_FILE).exists()


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


def folders_listed(action: Any) -> list[str]:
    """The folders ``action()`` lists with os.scandir (an audit event each)."""
    listed: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.scandir" and listening:
            listed.append(os.fspath(args[0]))

    listening = True
    sys.addaudithook(hook)
    try:
        action()
    finally:
        listening = False
    return listed


def test_an_unchanged_listing_lists_no_folder_and_stats_each_run_once(
    workdir: Path, opened: list[str]
) -> None:
    for name in ("a", "b"):
        add_run(workdir, name, 0.5)
    listing()
    # the index's own folder, made by the first listing, changed the experiments folder
    age(workdir / "experiments")
    listing()
    opened.clear()
    assert folders_listed(listing) == []
    assert run_files(opened) == []


def test_a_run_file_rewritten_in_place_shows_after_touching_its_folder(workdir: Path) -> None:
    run_dir = add_run(workdir, "a", 0.5)
    assert listing() == {"a": 0.5}
    results = run_dir / store.META_DIR / store.RESULTS_FILE
    # an editor that saves in place: same size, the folder's mtime unchanged
    with open(results, "r+", encoding="utf-8") as file:
        text = file.read().replace("0.5", "0.8")
        file.seek(0)
        file.write(text)
    assert listing(use_index=False) == {"a": 0.8}
    assert listing() == {"a": 0.5}  # the documented limit: such an edit goes unseen
    os.utime(run_dir / store.META_DIR)  # `touch RUN/.maggot`
    assert listing() == {"a": 0.8}


def test_every_writer_of_a_listed_file_changes_its_folder_mtime(workdir: Path) -> None:
    from maggot import annotate, entries

    run_dir = add_run(workdir, "a", 0.5)
    meta = run_dir / store.META_DIR
    writers = {
        "annotations": lambda: annotate.change_tags(str(run_dir), add=["best"]),
        "run.json": lambda: entries.update_run_info(str(run_dir), lambda info: None),
        "results": lambda: store.write_json_atomic(meta / store.RESULTS_FILE, {"acc": 0.5}),
        "config": lambda: store.write_json_atomic(meta / store.CONFIG_FILE, {"name": "a"}),
    }
    for name, write in writers.items():
        age(run_dir)
        before = os.stat(meta).st_mtime_ns
        write()
        assert os.stat(meta).st_mtime_ns != before, name
    summary = summaries.summarize("experiments", info=["tags"])
    assert summary.rows[0].info["tags"] == ["best"]


def test_two_runs_swapping_names_show_their_own_results(workdir: Path) -> None:
    a = add_run(workdir, "a", 0.5)
    b = add_run(workdir, "b", 0.7)
    assert listing() == {"a": 0.5, "b": 0.7}
    os.rename(a, workdir / "experiments" / "tmp")
    os.rename(b, a)
    os.rename(workdir / "experiments" / "tmp", b)
    age(workdir / "experiments")
    assert listing() == {"a": 0.7, "b": 0.5}


def test_runs_added_or_removed_in_a_group_folder_are_seen(workdir: Path) -> None:
    record_run(workdir, {"n": 1}, {"acc": 0.1}, name="one", experiments_dir="experiments/group")
    age(workdir / "experiments" / "group" / "one", workdir / "experiments" / "group")
    age(workdir / "experiments")
    assert listing() == {"one": 0.1}
    age(workdir / "experiments")
    assert listing() == {"one": 0.1}
    two = record_run(
        workdir, {"n": 2}, {"acc": 0.2}, name="two", experiments_dir="experiments/group"
    )
    age(two)  # the group folder's mtime is all that tells
    assert listing() == {"one": 0.1, "two": 0.2}
    shutil.rmtree(two)
    assert listing() == {"one": 0.1}


def test_a_run_that_lost_its_maggot_folder_is_searched_again(workdir: Path) -> None:
    outer = add_run(workdir, "outer", 0.5)
    assert listing() == {"outer": 0.5}
    shutil.rmtree(outer / store.META_DIR)
    inner = record_run(
        workdir, {"n": 1}, {"acc": 0.3}, name="inner", experiments_dir="experiments/outer"
    )
    age(inner, outer)
    summary = summaries.summarize("experiments")
    assert [row.run for row in summary.rows] == ["inner"] and summary.warnings == []


def test_an_older_single_file_index_is_replaced_quietly(workdir: Path) -> None:
    add_run(workdir, "a", 0.5)
    (workdir / "experiments" / store.INDEX_DIR).write_bytes(b"maggot-listing-index 1 x\n")
    summary = summaries.summarize("experiments")
    assert [row.run for row in summary.rows] == ["a"] and summary.warnings == []
    assert sorted(indexed()) == ["a"]


WRITER = """
import os, sys
from maggot import store

run_dir, stop, past = sys.argv[1], sys.argv[2], int(sys.argv[3])
meta = os.path.join(run_dir, store.META_DIR)
sys.stdin.read(1)  # the start line, shared with the listings
value = 0
while not os.path.exists(stop):  # until every listing is done
    store.write_json_atomic(os.path.join(meta, store.RESULTS_FILE), {"acc": value})
    # dated back, a distinct time each: every version is one the index would cache
    os.utime(meta, ns=(past + value, past + value))
    value += 1
print(value - 1)
"""

LISTER = """
import json, sys
from maggot import summarize

sys.stdin.read(1)
values = []
for _ in range(int(sys.argv[1])):
    if sys.argv[2] == "optimistic":  # as maggot summarize lists (see RunIndex.confirm)
        summary = summarize.summarize_rendered("experiments", "json")[0]
    else:
        summary = summarize.summarize("experiments")
    assert not summary.warnings, summary.warnings
    values.append(summary.rows[0].metrics["acc"])
print(json.dumps(values))
"""


def test_listings_while_a_run_writes_its_results_never_keep_a_stale_value(
    workdir: Path,
) -> None:
    run_dir = add_run(workdir, "a", -1)
    listing()
    # the search kept too: the optimistic lister takes the run's identity from the index
    age(workdir / "experiments")
    listing()
    stop = workdir / "stop"
    past = time.time_ns() - 5 * RACY_NANOSECONDS
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(run_dir), str(stop), str(past)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    listers = [
        subprocess.Popen(
            [sys.executable, "-c", LISTER, "15", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in ("plain", "optimistic")
    ]
    for process in [writer, *listers]:  # the start line: every process waits on its stdin
        assert process.stdin is not None
        process.stdin.write("go")
        process.stdin.close()
    seen = []
    for lister in listers:
        assert lister.stdout is not None
        seen.append(json.loads(lister.stdout.read()))
        assert lister.wait(timeout=120) == 0
    stop.touch()
    assert writer.stdout is not None
    last = int(writer.stdout.read())
    assert writer.wait(timeout=120) == 0
    for values in seen:
        # each listing shows a version at least as new as the one before it
        assert values == sorted(values) and all(-1 <= value <= last for value in values)
    assert len({value for values in seen for value in values}) > 2  # they ran meanwhile
    assert listing() == {"a": last}
    assert listing() == {"a": last}


def test_a_directory_spelled_with_a_trailing_slash_shares_the_index(
    workdir: Path, opened: list[str]
) -> None:
    add_run(workdir, "a", 0.5)
    add_run(workdir, "ab", 0.7)
    assert listing() == {"a": 0.5, "ab": 0.7}
    opened.clear()
    summary = summaries.summarize("experiments" + os.sep)
    assert {row.run: row.metrics["acc"] for row in summary.rows} == {"a": 0.5, "ab": 0.7}
    assert run_files(opened) == [] and sorted(indexed()) == ["a", "ab"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"with_params": True, "info": ["tags", "note", "started", "host"]},
        {"with_repros": True, "sort_key": "acc"},
        {"only_changed": True, "filters": [query.parse("acc > 0.2")]},
    ],
)
def test_an_unchanged_listing_is_the_listing_of_the_run_files(
    workdir: Path, options: dict[str, Any]
) -> None:
    from maggot import annotate

    runs = [add_run(workdir, f"run-{number}", number / 10) for number in range(6)]
    annotate.change_tags(str(runs[1]), add=["baseline"])
    annotate.add_note(str(runs[2]), "lr too high")
    (runs[3] / store.META_DIR / store.CONFIG_FILE).write_text("{broken")
    shutil.copytree(runs[4], workdir / "experiments" / "run-4.repro-1")
    age(*runs, workdir / "experiments" / "run-4.repro-1", workdir / "experiments")

    def shown(summary: summaries.Summary) -> tuple[Any, ...]:
        return (summary.rows, summary.columns, sorted(summary.warnings))

    from_files = shown(summaries.summarize("experiments", use_index=False, **options))
    assert shown(summaries.summarize("experiments", **options)) == from_files  # writes it
    assert shown(summaries.summarize("experiments", **options)) == from_files  # reads it
    assert len(from_files[0]) >= 3
    # with the search kept too, as summarize shows it: made while the stats are taken
    age(workdir / "experiments")
    assert shown(summaries.summarize("experiments", **options)) == from_files
    optimistic = summaries.summarize_rendered("experiments", "json", **options)[0]
    assert shown(optimistic) == from_files


def test_a_listing_reads_only_the_runs_that_changed(workdir: Path, opened: list[str]) -> None:
    runs = [add_run(workdir, f"run-{number}", number / 10) for number in range(5)]
    age(workdir / "experiments")
    listing()
    results = runs[2] / store.META_DIR / store.RESULTS_FILE
    store.write_text_atomic(results, results.read_text().replace("0.2", "0.25"))
    age(runs[2])
    opened.clear()
    assert listing() == {f"run-{number}": number / 10 for number in (0, 1, 3, 4)} | {"run-2": 0.25}
    assert {Path(path).parent.parent.name for path in run_files(opened)} == {"run-2"}


def test_a_few_changed_runs_are_written_apart_from_the_index(
    workdir: Path, opened: list[str]
) -> None:
    experiments = workdir / "experiments"
    runs = [add_run(workdir, f"run-{number}", number / 100) for number in range(40)]
    age(experiments)
    expected = listing()
    index_file, changes = experiments / store.INDEX_FILE, experiments / store.INDEX_CHANGES_FILE
    written = index_file.stat()

    def change(run_dir: Path, accuracy: float) -> None:
        results = run_dir / store.META_DIR / store.RESULTS_FILE
        store.write_text_atomic(results, json.dumps({"acc": accuracy}))
        age(run_dir)
        expected[run_dir.name] = accuracy

    change(runs[3], 0.33)
    shutil.rmtree(runs[5])
    del expected["run-5"]
    add_run(workdir, "new", 0.9)
    expected["new"] = 0.9
    age(experiments)
    assert listing() == expected
    assert changes.is_file() and changes.stat().st_size < written.st_size
    assert (index_file.stat().st_ino, index_file.stat().st_mtime_ns) == (
        written.st_ino,
        written.st_mtime_ns,
    )
    opened.clear()
    assert listing() == expected  # from the index and its changes
    assert run_files(opened) == []

    for run_dir in runs[10:30]:
        change(run_dir, 0.5)
    assert listing() == expected
    assert not changes.exists() and index_file.stat().st_ino != written.st_ino
    opened.clear()
    assert listing() == expected
    assert run_files(opened) == []


def test_a_corrupt_changes_file_is_dropped_with_one_warning(workdir: Path) -> None:
    runs = [add_run(workdir, f"run-{number}", number / 100) for number in range(20)]
    age(workdir / "experiments")
    listing()
    results = runs[0] / store.META_DIR / store.RESULTS_FILE
    store.write_text_atomic(results, json.dumps({"acc": 0.77}))
    age(runs[0])
    listing()
    changes = workdir / "experiments" / store.INDEX_CHANGES_FILE
    changes.write_bytes(changes.read_bytes()[:-4])  # torn
    summary = summaries.summarize("experiments")
    assert {row.run: row.metrics["acc"] for row in summary.rows}["run-0"] == 0.77
    assert len(summary.warnings) == 1 and store.INDEX_CHANGES_FILE in summary.warnings[0]
    assert summaries.summarize("experiments").warnings == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda content: b"\0" * 60,  # `truncate -s 60` of a file that was not there
        lambda content: content[:60],
        lambda content: content[:-4],  # torn entries
        lambda content: b"maggot-listing-index 1 cpython-399-4\n0\n",  # another maggot
    ],
)
def test_a_corrupt_changes_file_is_replaced_by_the_next_listing(workdir: Path, damage: Any) -> None:
    runs = [add_run(workdir, f"run-{number}", number / 10) for number in range(3)]
    age(workdir / "experiments")
    expected = listing()
    age(workdir / "experiments")  # changed by the index's folder: the search is kept now
    # the index file alone, holding every entry and the search, as after a rewrite
    for path in (workdir / "experiments" / store.INDEX_DIR).iterdir():
        path.unlink()
    assert listing() == expected
    assert os.listdir(workdir / "experiments" / store.INDEX_DIR) == [
        os.path.basename(store.INDEX_FILE)
    ]
    # damaged from a changes file as a listing writes it, with one entry
    changes = workdir / "experiments" / store.INDEX_CHANGES_FILE
    sound = b"".join(index.encode({"run-0": indexed()["run-0"]}, None))
    changes.write_bytes(damage(sound))
    first = summaries.summarize("experiments")
    assert {row.run: row.metrics["acc"] for row in first.rows} == expected
    assert len(first.warnings) <= 1
    assert all(store.INDEX_CHANGES_FILE in warning for warning in first.warnings)
    for _ in range(2):
        again = summaries.summarize("experiments")
        assert again.warnings == []
        assert {row.run: row.metrics["acc"] for row in again.rows} == expected
    assert not changes.exists() or index._read_index(str(changes), [])[2]
    assert len(runs) == 3


@pytest.mark.parametrize(
    ("part", "key", "value"),
    [
        ("problems", None, "oops"),
        ("problems", None, ""),
        ("problems", None, {"results": [1, None]}),
        ("problems", None, {"nonsense": ["x"]}),
        ("annotations", "tags", "v2"),
        ("annotations", "tags", [1]),
        ("annotations", "note", ["a"]),
        ("annotations", "extra", 1),
        ("info", "started", ["2026"]),
        ("info", "duration", "long"),
        ("info", "unknown", 1),
    ],
)
@pytest.mark.parametrize("with_git", [False, True])
def test_entries_holding_values_of_the_wrong_shape_are_read_again(
    workdir: Path, part: str, key: str | None, value: Any, with_git: bool
) -> None:
    from maggot import annotate

    runs = [add_run(workdir, f"run-{number}", number / 10) for number in range(3)]
    annotate.change_tags(str(runs[1]), add=["v2", "base"])
    age(runs[1], workdir / "experiments")
    info = ["started", "duration", "tags", "note", *(["commit"] if with_git else [])]

    def records() -> list[dict[str, Any]]:
        summary = summaries.summarize("experiments", info=info, sort_key="run", ascending=True)
        assert summary.warnings == []
        return summaries.as_records(summary)

    expected = records()
    assert expected[1]["tags"] == ["base", "v2"] and isinstance(expected[1]["started"], str)
    entries = indexed()
    assert isinstance(entries["run-1"]["identity"], int)  # taken from the index next time
    entry = entries["run-1"]
    if key is None:
        entry[part] = value
    else:
        entry[part] = {**entry[part], key: value}
    path = workdir / "experiments" / store.INDEX_FILE
    path.write_bytes(b"".join(index.encode(entries, None)))
    (workdir / "experiments" / store.INDEX_CHANGES_FILE).unlink(missing_ok=True)
    assert records() == expected
    assert records() == expected


@pytest.mark.parametrize(
    ("slot", "value"), [(3, {"commit": 5}), (3, {"dirty": "yes"}), (4, [None])]
)
def test_git_slots_holding_values_of_the_wrong_shape_are_read_again(
    workdir: Path, slot: int, value: Any
) -> None:
    add_run(workdir, "a", 0.5)
    age(workdir / "experiments")

    def records() -> list[dict[str, Any]]:
        summary = summaries.summarize("experiments", info=["commit", "dirty"])
        assert summary.warnings == []
        return summaries.as_records(summary)

    expected = records()
    entries = indexed()
    entries["a"]["git"][slot] = value
    path = workdir / "experiments" / store.INDEX_FILE
    path.write_bytes(b"".join(index.encode(entries, None)))
    (workdir / "experiments" / store.INDEX_CHANGES_FILE).unlink(missing_ok=True)
    assert records() == expected == [{"run": "a", "status": "completed", "acc": 0.5}]


def test_a_listing_of_given_runs_keeps_the_other_runs_entries(
    workdir: Path, opened: list[str]
) -> None:
    runs = [add_run(workdir, f"run-{number}", number / 10) for number in range(4)]
    age(workdir / "experiments")
    expected = listing()
    results = runs[1] / store.META_DIR / store.RESULTS_FILE
    store.write_text_atomic(results, json.dumps({"acc": 0.15}))
    age(runs[1])
    expected["run-1"] = 0.15
    # as a sweep's listing does: only its runs, the others' entries stay in the index
    given = summaries.summarize("experiments", run_dirs=[str(runs[1]), str(runs[2])])
    assert {row.run: row.metrics["acc"] for row in given.rows} == {"run-1": 0.15, "run-2": 0.2}
    opened.clear()
    assert listing() == expected
    assert run_files(opened) == []


def test_hidden_reproductions_keep_their_entries(workdir: Path, opened: list[str]) -> None:
    run_dir = add_run(workdir, "a", 0.5)
    shutil.copytree(run_dir, workdir / "experiments" / "a.repro-1")
    age(workdir / "experiments" / "a.repro-1", workdir / "experiments")
    assert listing(with_repros=True) == {"a": 0.5, "a.repro-1": 0.5}
    assert listing() == {"a": 0.5}
    opened.clear()
    assert listing(with_repros=True) == {"a": 0.5, "a.repro-1": 0.5}
    assert run_files(opened) == []


def test_runs_added_before_the_others_in_name_order_are_taken_from_the_index(
    workdir: Path, opened: list[str]
) -> None:
    for number in range(3):
        add_run(workdir, f"run-{number}", number / 10)
    age(workdir / "experiments")
    listing()
    # more new runs than the changes file takes, named to sort first: the index is
    # written anew, in listing order
    for number in range(3):
        add_run(workdir, f"a-{number}", 0.9)
    age(workdir / "experiments")
    expected = listing()
    assert list(expected) == ["a-0", "a-1", "a-2", "run-0", "run-1", "run-2"]
    assert not (workdir / "experiments" / store.INDEX_CHANGES_FILE).exists()
    assert list(indexed()) == list(expected)
    opened.clear()
    assert listing() == expected
    assert run_files(opened) == []


def test_a_read_only_directory_lists_its_config_columns_too(workdir: Path) -> None:
    for number in range(3):
        add_run(workdir, f"run-{number}", number / 10)
    experiments = workdir / "experiments"
    age(experiments)
    listing()
    add_run(workdir, "new", 0.9)
    age(experiments)
    # both loads of one listing (results, then config), with nothing written between
    with read_only(experiments, experiments / store.INDEX_DIR):
        summary = summaries.summarize("experiments", with_params=True)
    assert not (experiments / store.INDEX_CHANGES_FILE).exists()
    assert {row.run: row.params["name"] for row in summary.rows} == {
        "new": "new",
        "run-0": "run-0",
        "run-1": "run-1",
        "run-2": "run-2",
    }


def rewrite_results(run_dir: Path, results: dict[str, Any]) -> None:
    """Replace a run's results as maggot's writers do (a new file renamed over the old)."""
    store.write_text_atomic(run_dir / store.META_DIR / store.RESULTS_FILE, json.dumps(results))
    age(run_dir)


def listed_twice(workdir: Path, count: int) -> list[Path]:
    """``count`` runs, listed twice: the index then holds them and the search that found them."""
    runs = [add_run(workdir, f"run-{number}", number / 10) for number in range(count)]
    age(workdir / "experiments")
    listing()
    # the index's own folder, made by the first listing, changed the experiments folder
    age(workdir / "experiments")
    listing()
    return runs


def rendered(*, sort_key: str | None = None) -> tuple[summaries.Summary, list[Any]]:
    """A listing as ``maggot summarize --format json`` makes it, and its parsed text."""
    summary, text = summaries.summarize_rendered("experiments", "json", sort_key=sort_key)
    return summary, json.loads(text)


def test_an_optimistic_listing_of_unchanged_runs_is_the_listing_of_the_run_files(
    workdir: Path, opened: list[str]
) -> None:
    listed_twice(workdir, 3)
    from_files = summaries.summarize("experiments", use_index=False)
    opened.clear()
    summary, records = rendered()
    assert summary.rows == from_files.rows and summary.warnings == []
    assert [record["acc"] for record in records] == [0.0, 0.1, 0.2]
    assert run_files(opened) == []


def test_an_optimistic_listing_shows_a_run_changed_since_the_index(
    workdir: Path, opened: list[str]
) -> None:
    runs = listed_twice(workdir, 3)
    rewrite_results(runs[1], {"acc": 0.15, "f1": 0.7})
    # the first attempt, from the index, knows no run with f1: it is made again
    summary, records = rendered(sort_key="f1")
    assert [(record["run"], record["acc"]) for record in records][0] == ("run-1", 0.15)
    assert summary.warnings == []
    opened.clear()
    assert [record["acc"] for record in rendered()[1]] == [0.0, 0.15, 0.2]
    assert run_files(opened) == []


def test_an_optimistic_listing_searches_again_for_a_run_that_lost_its_maggot_folder(
    workdir: Path,
) -> None:
    runs = listed_twice(workdir, 3)
    shutil.rmtree(runs[2] / store.META_DIR)
    summary, records = rendered()
    assert [record["run"] for record in records] == ["run-0", "run-1"]
    assert summary.warnings == []


def test_the_summarize_command_stops_the_stats_of_a_listing_that_fails(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from maggot import forkshare
    from maggot.cli import main

    listed_twice(workdir, 3)
    # a helper process even for three runs, so that there is one to stop
    monkeypatch.setattr(forkshare, "PARALLEL_THRESHOLD", 1)
    result = CliRunner().invoke(main, ["summarize", "--sort", "nothing"])
    assert result.exit_code != 0 and "nothing" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no helper left behind


def test_an_optimistic_listing_after_runs_came_and_went_shows_them_as_on_disk(
    workdir: Path, opened: list[str]
) -> None:
    runs = listed_twice(workdir, 4)
    shutil.rmtree(runs[0])
    add_run(workdir, "new", 0.9)
    age(workdir / "experiments")
    # the folders are listed again, the last search's runs stat-ed meanwhile
    summary, records = rendered()
    assert {record["run"]: record["acc"] for record in records} == {
        "new": 0.9,
        "run-1": 0.1,
        "run-2": 0.2,
        "run-3": 0.3,
    }
    assert summary.warnings == []
    opened.clear()
    assert len(rendered()[1]) == 4
    assert run_files(opened) == []


def test_an_optimistic_listing_after_runs_came_shows_a_run_changed_meanwhile(
    workdir: Path, opened: list[str]
) -> None:
    runs = listed_twice(workdir, 4)
    rewrite_results(runs[2], {"acc": 0.25})
    add_run(workdir, "new", 0.9)
    age(workdir / "experiments")
    records = rendered()[1]
    assert {record["run"]: record["acc"] for record in records}["run-2"] == 0.25
    assert len(records) == 5
    opened.clear()
    assert {record["run"]: record["acc"] for record in rendered()[1]}["run-2"] == 0.25
    assert run_files(opened) == []
