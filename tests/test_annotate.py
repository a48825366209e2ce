from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from toolkit import all_at_once, record_run

from maggot import annotate, store
from maggot.cli import main
from maggot.errors import MaggotError


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return [
        record_run(work, {"x": number}, {"acc": number / 10}, name=f"run{number}", snapshot=False)
        for number in range(3)
    ]


def recorded_files(run_dir: Path) -> dict[str, str]:
    """A digest of every file the run recorded (everything but the annotations)."""
    return {
        str(path.relative_to(run_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and "annotations" not in path.name
    }


def test_tag_adds_and_removes_tags_without_touching_recorded_files(runs: list[Path]) -> None:
    before = recorded_files(runs[0])
    assert invoke("tag", "run0", runs[1], "baseline", "v2").exit_code == 0
    assert annotate.load_annotations(str(runs[0])).tags == ("baseline", "v2")
    assert annotate.load_annotations(str(runs[1])).tags == ("baseline", "v2")
    assert invoke("tag", "--remove", "run0", "v2").exit_code == 0
    assert annotate.load_annotations(str(runs[0])).tags == ("baseline",)
    assert recorded_files(runs[0]) == before
    listed = invoke("tag", "run0", "run1")
    assert listed.stdout.splitlines() == [
        f"{Path('experiments', 'run0')}\tbaseline",
        f"{Path('experiments', 'run1')}\tbaseline v2",
    ]
    stored = json.loads((runs[0] / store.META_DIR / store.ANNOTATIONS_FILE).read_text())
    assert stored["format_version"] == annotate.ANNOTATIONS_FORMAT_VERSION


def test_removing_a_tag_a_run_does_not_have_says_so(runs: list[Path]) -> None:
    assert invoke("tag", "run0", "run1", "baseline").exit_code == 0
    result = invoke("tag", "--remove", "run0", "run2", "baseline", "nosuchtag", "nosuchtag")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"maggot: {Path('experiments', 'run0')}: had no tag nosuchtag",
        f"maggot: {Path('experiments', 'run2')}: had no tags baseline nosuchtag",
    ]
    assert [annotate.load_annotations(str(run)).tags for run in runs] == [(), ("baseline",), ()]
    quiet = invoke("tag", "--remove", "run1", "baseline")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_tag_errors(runs: list[Path]) -> None:
    result = invoke("tag", "nope", "baseline")
    assert result.exit_code == 1 and "nope: no such directory" in result.stderr
    result = invoke("tag", "run0", "bad tag")
    assert result.exit_code == 1 and "use letters, digits" in result.stderr
    assert invoke("tag", "--remove", "run0").exit_code == 2


def test_notes_are_added_listed_shown_and_cleared(runs: list[Path]) -> None:
    assert invoke("note", "run0", "lr too high").exit_code == 0
    assert invoke("note", "run0", "second thought").exit_code == 0
    lines = invoke("note", "run0").stdout.splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == ["lr too high", "second thought"]
    invoke("tag", "run0", "baseline")
    shown = invoke("show", "run0").stdout
    assert "lr too high" in shown and "notes" in shown and "baseline" in shown
    details = json.loads(invoke("show", "run0", "--format", "json").stdout)
    assert details["tags"] == ["baseline"] and details["notes"][1]["text"] == "second thought"
    assert invoke("note", "run0", "--clear").exit_code == 0
    assert invoke("note", "run0").stdout == ""
    assert invoke("note", "run0", "  ").exit_code == 1


def test_tags_filter_the_summary(runs: list[Path]) -> None:
    invoke("tag", "run0", "run2", "baseline")
    result = invoke("summarize", "--filter", 'tags ~ "baseline"', "--format", "json")
    assert [row["run"] for row in json.loads(result.stdout)] == ["run0", "run2"]
    result = invoke("summarize", "--info", "tags", "--format", "csv", "--sort", "run")
    assert result.stdout.splitlines()[1:] == [
        'run2,completed,"[""baseline""]",0.2',
        "run1,completed,[],0.1",
        'run0,completed,"[""baseline""]",0.0',
    ]


def test_concurrent_taggers_keep_every_tag(runs: list[Path]) -> None:
    def add(number: int) -> None:
        annotate.change_tags(str(runs[0]), add=[f"t{number}"])

    assert all_at_once(add, 8) == []
    assert annotate.load_annotations(str(runs[0])).tags == tuple(f"t{n}" for n in range(8))


def test_a_corrupt_annotations_file_is_named(runs: list[Path]) -> None:
    (runs[0] / store.META_DIR / store.ANNOTATIONS_FILE).write_text('{"tags": "x"}')
    with pytest.raises(MaggotError, match="annotations.json"):
        annotate.load_annotations(str(runs[0]))
    assert "annotations.json" in invoke("show", "run0").stdout


def test_concurrent_adding_and_removing_keep_each_others_changes(runs: list[Path]) -> None:
    annotate.change_tags(str(runs[0]), add=[f"old{number}" for number in range(4)])
    absent: list[tuple[str, ...]] = []

    def change(number: int) -> None:
        if number % 2:
            annotate.change_tags(str(runs[0]), add=[f"new{number}"])
        else:
            absent.append(annotate.remove_tags(str(runs[0]), [f"old{number // 2}", "never"]))

    assert all_at_once(change, 8) == [] and absent == [("never",)] * 4
    assert annotate.load_annotations(str(runs[0])).tags == ("new1", "new3", "new5", "new7")


def test_tags_and_notes_from_a_run_are_printed_escaped(runs: list[Path]) -> None:
    hostile = "\x1b]52;c;cm0gLXJmIH4=\x07"
    annotations = {
        "format_version": 1,
        "tags": [f"x{hostile}"],
        "notes": [{"at": "t", "text": hostile}],
    }
    (runs[0] / store.META_DIR / store.ANNOTATIONS_FILE).write_text(json.dumps(annotations))
    listed, notes = invoke("tag", "run0"), invoke("note", "run0")
    removing = invoke("tag", "--remove", "run0", f"y{hostile}")
    for result in (listed, notes, removing):
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output
    assert listed.stdout == f"{Path('experiments', 'run0')}\tx\\x1b]52;c;cm0gLXJmIH4=\\x07\n"
    assert notes.stdout == "t  \\x1b]52;c;cm0gLXJmIH4=\\x07\n"
    assert removing.stderr.endswith(": had no tag y\\x1b]52;c;cm0gLXJmIH4=\\x07\n")
