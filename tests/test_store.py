from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_records import full_run_info

from maggot import store
from maggot.errors import CorruptRunError, NotARunError
from maggot.records import GitHead


def test_store_reads_and_writes_the_records(tmp_path: Path) -> None:
    (tmp_path / ".maggot").mkdir()
    store.write_run_info(tmp_path, full_run_info())
    assert store.read_run_info(tmp_path) == full_run_info()
    text = (tmp_path / ".maggot" / "run.json").read_text()
    assert text.endswith("}\n") and text == store.dumps_json(json.loads(text))
    store.write_git_head(tmp_path, GitHead.none("off", "c" * 40))
    assert store.read_git_head(tmp_path).commit == "c" * 40


def test_a_corrupt_run_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".maggot").mkdir()
    (tmp_path / ".maggot" / "run.json").write_text("{not json")
    with pytest.raises(CorruptRunError, match=r"run\.json: not valid JSON"):
        store.read_run_info(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.read_git_head(tmp_path)


def test_one_message_for_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / ".maggot").mkdir()
    with pytest.raises(CorruptRunError) as config_error:
        store.read_config(tmp_path)
    assert str(config_error.value) == f"{tmp_path}: no .maggot/config.json"
    record = store.load_run(tmp_path)
    assert f"{tmp_path}: no .maggot/config.json" in record.problems
    assert record.status == "unknown" and record.format_version == 0


def test_json_is_written_sorted_indented_with_a_trailing_newline(tmp_path: Path) -> None:
    store.write_json_atomic(tmp_path / "x.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "x.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["x.json"]


def test_runs_are_found_by_name_or_path(tmp_path: Path) -> None:
    (tmp_path / "experiments" / "a" / ".maggot").mkdir(parents=True)
    (tmp_path / "experiments" / "group" / "b" / ".maggot").mkdir(parents=True)
    (tmp_path / "experiments" / "a" / "inner" / ".maggot").mkdir(parents=True)
    found = store.find_run_dirs(tmp_path / "experiments")
    assert [Path(path).name for path in found] == ["a", "b"]
    experiments = str(tmp_path / "experiments")
    assert store.resolve_run_dir("a", experiments) == str(tmp_path / "experiments" / "a")
    with pytest.raises(NotARunError, match="no such directory"):
        store.resolve_run_dir("missing", experiments)


def test_a_run_in_a_folder_is_found_by_the_name_a_listing_shows(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    (experiments / "group" / "b" / ".maggot").mkdir(parents=True)
    (experiments / "one" / "c" / ".maggot").mkdir(parents=True)
    (experiments / "two" / "c" / ".maggot").mkdir(parents=True)

    def resolve(name: str, root: Path = experiments) -> str:
        return store.resolve_run_dir(name, str(root), by_folder_name=True)

    assert resolve("b") == str(experiments / "group" / "b")
    assert resolve("group/b") == str(experiments / "group" / "b")
    # unasked (Experiment's resume_from), a name is a path under the experiments directory
    with pytest.raises(NotARunError, match="no such directory"):
        store.resolve_run_dir("b", str(experiments))
    # a name two runs have names neither: both are said
    with pytest.raises(NotARunError, match="2 runs have this name") as raised:
        resolve("c")
    assert str(experiments / "one" / "c") in str(raised.value)
    assert str(experiments / "two" / "c") in str(raised.value)
    # a folder that is not a run is not looked for by name
    with pytest.raises(NotARunError, match="no such directory"):
        resolve("group", tmp_path)


def test_registered_directories_are_remembered_once_in_order(tmp_path: Path) -> None:
    (tmp_path / ".maggot").mkdir()
    (tmp_path / ".maggot" / "registered_directories").write_text("old\n")  # maggot 0.2
    for name in ("checkpoints", "plots", "checkpoints"):
        store.add_registered_directory(tmp_path, name)
    assert (tmp_path / ".maggot" / "directories").read_text() == "checkpoints\nplots\n"
    assert store.registered_directories(tmp_path) == ["checkpoints", "plots", "old"]


@pytest.mark.parametrize(
    ("name", "parts"),
    [("run.repro-1", ("run", 1)), ("run.repro-12", ("run", 12)),
     ("a.repro-1.repro-2", ("a.repro-1", 2)), ("run.repro-", None), (".repro-1", None),
     ("run.repro-1x", None), ("run.repro-\u00b2", None), ("run.repro--1", None), ("run", None)],
)  # fmt: skip
def test_a_replay_name_is_a_run_name_and_a_number(name: str, parts: object) -> None:
    assert store.replay_name_parts(name) == parts


def test_a_deleting_name_is_hidden_from_listings_and_names_its_process(tmp_path: Path) -> None:
    name = store.deleting_name()
    assert name != store.deleting_name()
    assert store.deleting_process(name) == os.getpid()
    (tmp_path / name / store.META_DIR).mkdir(parents=True)
    (tmp_path / "run" / store.META_DIR).mkdir(parents=True)
    assert store.find_run_dirs(str(tmp_path)) == [str(tmp_path / "run")]
    for other in ("run", store.TRASH_PREFIX, f"{store.TRASH_PREFIX}12", f"{store.TRASH_PREFIX}x-1"):
        assert store.deleting_process(other) is None
