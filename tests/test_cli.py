from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from toolkit import git, record_run, repo_state, run_maggot, write_json

import maggot
from maggot import Experiment, cli
from maggot.cli import base as cli_base
from maggot.cli import main

ANSI = "\x1b["
Runs = tuple[Path, Path]
CONFIG1 = {"model": {"C": 1.0}, "crossval": {"n_folds": 5}}
CONFIG2 = {"model": {"C": 10.0, "kernel": "rbf"}}


def invoke(*args: Any, **kwargs: Any) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], **kwargs)


def assert_error(result: Result, exit_code: int = 1, contains: str = "") -> str:
    """An expected failure: one ``maggot: ...`` line on stderr, nothing on stdout."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("maggot: ")
    assert contains in lines[0]
    return lines[0]


@pytest.fixture
def experiments(repo: Path) -> Path:
    """Three completed runs; run-c has no fold1.loss."""
    for name, penalty, results in (
        ("run-a", 0.1, {"accuracy": 0.7, "fold1.loss": 0.5}),
        ("run-b", 1.0, {"accuracy": 0.9, "fold1.loss": 0.2}),
        ("run-c", 10.0, {"accuracy": 0.8}),
    ):
        record_run(
            repo, {"model": {"C": penalty}, "tag": name[-1]}, results, name=name, snapshot=False
        )
    return repo / "experiments"


@pytest.fixture
def two_runs(repo: Path) -> Runs:
    """Run 1 on the clean commit; run 2 with an uncommitted edit, a binary edit and a new file."""
    git(repo, "remote", "add", "origin", "https://example.com/team/project.git")
    run1 = record_run(repo, CONFIG1, {"accuracy": 0.8, "fold1.loss": 0.3})
    (repo / "train.py").write_text('print("train")\nprint("tuned")\n')
    (repo / "data.bin").write_bytes(b"\x00\x09\x08\x07")
    (repo / "extra.py").write_text("EXTRA = 1\n")
    run2 = record_run(repo, CONFIG2, {"accuracy": 0.9})
    return run1, run2


def json_rows(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def listed(directory: Path | str, *args: str) -> list[str]:
    """Run names ``maggot summarize --format json`` lists, in order."""
    return [
        row["run"] for row in json_rows(invoke("summarize", directory, "--format", "json", *args))
    ]


# --- summarize -------------------------------------------------------------------------------


def test_summarize_table_has_a_row_per_run_and_a_column_per_metric(experiments: Path) -> None:
    result = invoke("summarize", experiments)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "status", "accuracy", "fold1.loss"]
    assert [line.split()[0] for line in lines[2:]] == ["run-a", "run-b", "run-c"]
    assert lines[3].split() == ["run-b", "completed", "0.9", "0.2"]
    assert lines[4].split() == ["run-c", "completed", "0.8"]
    assert result.stderr == ""


def test_summarize_json_has_run_status_and_dotted_metrics(experiments: Path) -> None:
    rows = json_rows(invoke("summarize", experiments, "--format", "json"))
    assert rows[0] == {"run": "run-a", "status": "completed", "accuracy": 0.7, "fold1.loss": 0.5}
    assert rows[2] == {"run": "run-c", "status": "completed", "accuracy": 0.8}


def test_summarize_csv_has_a_header_row(experiments: Path) -> None:
    result = invoke("summarize", experiments, "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["run", "status", "accuracy", "fold1.loss"]
    assert rows[3] == ["run-c", "completed", "0.8", ""]


def test_summarize_markdown_is_a_pipe_table(experiments: Path) -> None:
    result = invoke("summarize", experiments, "--format", "markdown")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| run") and set(lines[1]) <= set("|-: ")
    assert len(lines) == 5


def test_summarize_params_adds_config_columns_by_dotted_key(experiments: Path) -> None:
    rows = json_rows(invoke("summarize", experiments, "--params", "--format", "json"))
    assert rows[1]["model.C"] == 1.0 and rows[1]["tag"] == "b"
    header = invoke("summarize", experiments, "--params").stdout.splitlines()[0].split()
    assert header == ["run", "status", "accuracy", "fold1.loss", "model.C", "tag"]


def test_summarize_sorts_descending_by_default_and_missing_last(experiments: Path) -> None:
    assert listed(experiments, "--sort", "accuracy") == ["run-b", "run-c", "run-a"]
    assert listed(experiments, "--sort", "fold1.loss") == ["run-a", "run-b", "run-c"]
    ascending = listed(experiments, "--sort", "fold1.loss", "--ascending")
    assert ascending == ["run-b", "run-a", "run-c"]


def test_summarize_unknown_sort_metric_is_one_line_error(experiments: Path) -> None:
    assert_error(invoke("summarize", experiments, "--sort", "f1"), 1, "'f1'")


def test_summarize_filters_are_anded_and_compare_numbers_numerically(experiments: Path) -> None:
    def names(*filters: str) -> list[str]:
        return listed(experiments, *[arg for text in filters for arg in ("--filter", text)])

    assert names("model.C>=1") == ["run-b", "run-c"]  # 10.0 > 1 numerically, not as text
    assert names("model.C>=1", "accuracy<0.85") == ["run-c"]
    assert names("status=completed", "tag!=a") == ["run-b", "run-c"]
    assert names("tag==c") == ["run-c"]
    assert names("fold1.loss<1") == ["run-a", "run-b"]  # run-c lacks it: no match
    assert names("fold1.loss!=0.5") == ["run-b"]


def test_summarize_filter_on_a_key_no_run_has_is_an_error(experiments: Path) -> None:
    assert_error(invoke("summarize", experiments, "--filter", "model.gamma>1"), 1, "model.gamma")


def test_summarize_bad_filter_syntax_is_a_usage_error(experiments: Path) -> None:
    assert_error(invoke("summarize", experiments, "--filter", "accuracy"), 2, "--filter")


def test_summarize_no_matching_runs_prints_nothing(experiments: Path) -> None:
    result = invoke("summarize", experiments, "--filter", "accuracy>2")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no runs match" in result.stderr


def test_summarize_searches_three_levels_unless_recursive(repo: Path) -> None:
    record_run(repo, {"x": 1}, name="shallow", experiments_dir="experiments/a/b", snapshot=False)
    record_run(repo, {"x": 2}, name="deep", experiments_dir="experiments/a/b/c", snapshot=False)
    assert listed("experiments") == ["shallow"]
    assert listed("experiments", "--recursive") == ["deep", "shallow"]
    assert listed("experiments", "--depth", "4") == ["deep", "shallow"]
    assert listed("experiments", "--depth", "2") == []
    assert_error(invoke("summarize", "experiments", "--depth", "2", "--recursive"), 2)


def test_summarize_shows_relative_paths_when_names_repeat(repo: Path) -> None:
    record_run(repo, {"x": 1}, name="same", experiments_dir="experiments/one", snapshot=False)
    record_run(repo, {"x": 2}, name="same", experiments_dir="experiments/two", snapshot=False)
    expected = [os.path.join("one", "same"), os.path.join("two", "same")]
    assert listed("experiments") == expected


def test_summarize_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert_error(invoke("summarize", tmp_path / "nope"), 1, "nope: no such directory")


def test_summarize_without_runs_says_so_and_exits_0(tmp_path: Path) -> None:
    result = invoke("summarize", tmp_path)
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"maggot: no runs under {tmp_path}\n"
    assert invoke("summarize", tmp_path, "--format", "json").stdout == "[]\n"


def test_summarize_lists_broken_runs_with_warnings(experiments: Path) -> None:
    write_json_text(experiments / "run-a" / ".maggot" / "results.json", "{not json")
    write_json_text(experiments / "run-b" / ".maggot" / "run.json", "[1, 2")
    run_json = experiments / "run-c" / ".maggot" / "run.json"
    # marked running on a host this one cannot check
    marked = {**json.loads(run_json.read_text()), "status": "running", "hostname": "node-9"}
    write_json(run_json, marked)
    old = experiments / "old-0.2" / ".maggot"
    old.mkdir(parents=True)
    write_json(old / "config.json", {"model": {"C": 5}})
    write_json(old / "results.json", {"accuracy": 0.5})
    (old / "commit_hash").write_text("0" * 40)

    result = invoke("summarize", experiments)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    body = result.stdout.splitlines()[2:]
    assert [line.split()[:2] for line in body] == [
        ["old-0.2", "unknown"],
        ["run-a", "completed"],
        ["run-b", "unknown"],
        ["run-c", "running"],
    ]
    warnings = result.stderr.splitlines()
    assert all(line.startswith("maggot: warning: ") for line in warnings)
    text = result.stderr
    assert "results.json: not valid JSON" in text and "run.json: not valid JSON" in text
    assert "maggot 0.2" in text and "'running' (recorded on node-9" in text


def write_json_text(path: Path, text: str) -> None:
    path.write_text(text)


# --- show, show-config, show-command ---------------------------------------------------------


def test_show_prints_everything_about_a_run(two_runs: Runs) -> None:
    run = two_runs[1]
    (run / ".maggot" / "directories").write_text("checkpoints\n")
    (run / ".maggot" / "logs" / "2024-01-01T00-00-00Z").write_text("epoch 1\n")
    result = invoke("show", run)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        f"run       {run.name}",
        "status    completed",
        "started ",
        "duration",
        "host",
        "python",
        "command",
        "git",
        "branch",
        "dirty   yes: 0 staged, 2 unstaged, 1 untracked (1 copied)",
        "remote  origin https://example.com/team/project.git",
        'model.kernel  "rbf"',
        "accuracy  0.9",
        "checkpoints",
        "logs\n  8 B  ",
    ):
        assert expected in out, expected
    assert ANSI not in out


def test_show_json_is_one_object_with_all_parts(two_runs: Runs) -> None:
    result = invoke("show", two_runs[0], "--format", "json")
    data = json.loads(result.stdout)
    assert data["name"] == two_runs[0].name and data["status"] == "completed"
    assert data["git"]["snapshot"] is True and data["git"]["commit"]
    assert data["config"] == CONFIG1 and data["results"]["fold1"] == {"loss": 0.3}
    assert data["command"] and data["run"]["hostname"] and data["problems"] == []
    assert data["logs"] == []


def test_show_a_maggot_02_run_says_what_is_missing(tmp_path: Path) -> None:
    meta = tmp_path / "old" / ".maggot"
    meta.mkdir(parents=True)
    write_json(meta / "config.json", {"C": 1})
    (meta / "commit_hash").write_text("ab" * 20 + "\n")
    (meta / "registered_directories").write_text("checkpoints\n")
    result = invoke("show", tmp_path / "old")
    assert result.exit_code == 0, result.output
    assert "commit    " + "ab" * 20 in result.stdout
    assert "maggot 0.2 run: uncommitted changes were not recorded" in result.stdout
    assert "problems" in result.stdout and "no .maggot/run.json" in result.stdout
    assert "no .maggot/command" in result.stdout and "checkpoints" in result.stdout
    data = json.loads(invoke("show", tmp_path / "old", "--format", "json").stdout)
    assert data["git"] is None and data["commit_hash"] == "ab" * 20


def test_show_a_failed_run_shows_why(repo: Path) -> None:
    experiment = maggot.Experiment(config={"x": 1}, snapshot=False, capture_output="none")
    with pytest.raises(ValueError), experiment:
        raise ValueError("diverged")
    result = invoke("show", "experiments/1")
    assert "status    failed (ValueError: diverged)" in result.stdout


def test_show_finds_a_run_by_name_under_experiments(two_runs: Runs) -> None:
    result = invoke("show", two_runs[0].name)
    assert result.exit_code == 0
    assert f"path      experiments{os.sep}{two_runs[0].name}" in result.stdout


def test_commands_reject_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    line = assert_error(invoke("show", tmp_path), 1)
    assert line == f"maggot: {tmp_path}: no .maggot/ directory (not a run directory?)"
    for command in ("show", "show-config", "show-command"):
        assert_error(invoke(command, tmp_path / "missing"), 1, "no such directory")
    assert_error(invoke("config-diff", tmp_path, tmp_path), 1, "not a run directory")
    assert_error(invoke("diff", tmp_path, tmp_path), 1, "not a run directory")


def test_show_config_prints_stored_json_or_flat_lines(two_runs: Runs) -> None:
    result = invoke("show-config", two_runs[0])
    assert json.loads(result.stdout) == CONFIG1 and result.stdout.endswith("}\n")
    flat = invoke("show-config", two_runs[1], "--format", "flat")
    assert flat.stdout == "model.C=10.0\nmodel.kernel=rbf\n"


def test_show_config_without_config_is_an_error(two_runs: Runs) -> None:
    (two_runs[0] / ".maggot" / "config.json").unlink()
    assert_error(invoke("show-config", two_runs[0]), 1, "no .maggot/config.json")
    (two_runs[1] / ".maggot" / "config.json").write_text("{")
    assert_error(invoke("show-config", two_runs[1]), 1, "not valid JSON")


def test_show_command_prints_the_recorded_command(two_runs: Runs) -> None:
    (two_runs[0] / ".maggot" / "command").write_text("python train.py --lr '0.1 0.2'\n")
    result = invoke("show-command", two_runs[0])
    assert result.exit_code == 0 and result.stdout == "python train.py --lr '0.1 0.2'\n"
    (two_runs[1] / ".maggot" / "command").unlink()
    assert_error(invoke("show-command", two_runs[1]), 1, "no .maggot/command")


# --- config-diff -----------------------------------------------------------------------------


def test_config_diff_shows_changed_added_and_removed_keys(two_runs: Runs) -> None:
    result = invoke("config-diff", *two_runs)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "- crossval.n_folds: 5",
        "~ model.C: 1.0 -> 10.0",
        '+ model.kernel: "rbf"',
    ]
    assert ANSI not in result.stdout


def test_config_diff_json_and_exit_code(two_runs: Runs) -> None:
    data = json.loads(invoke("config-diff", *two_runs, "--format", "json").stdout)
    assert {"change": "changed", "key": "model.C", "old": 1.0, "new": 10.0} in data
    assert {"change": "added", "key": "model.kernel", "new": "rbf"} in data
    assert invoke("config-diff", *two_runs, "--exit-code").exit_code == 1
    same = invoke("config-diff", two_runs[0], two_runs[0], "--exit-code")
    assert same.exit_code == 0 and same.stdout == "(no differences)\n"


def test_config_diff_is_colored_only_when_colors_are_on(
    two_runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_base, "use_color", lambda: True)
    colored = CliRunner().invoke(main, ["config-diff", *map(str, two_runs)], color=True)
    assert click.style("~ model.C: 1.0 -> 10.0", fg="yellow") in colored.stdout
    assert click.style('+ model.kernel: "rbf"', fg="green") in colored.stdout
    assert click.style("- crossval.n_folds: 5", fg="red") in colored.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color_needs_a_terminal_and_no_NO_COLOR(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _Terminal())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.use_color()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli.use_color()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert not cli.use_color()


# --- diff ------------------------------------------------------------------------------------


def test_diff_shows_config_uncommitted_untracked_and_binary_changes(two_runs: Runs) -> None:
    before = repo_state(two_runs[0].parent.parent)
    result = invoke("diff", *two_runs)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("config (") < out.index("~ model.C: 1.0 -> 10.0") < out.index("code (")
    assert '+print("tuned")' in out
    assert "+EXTRA = 1" in out and "new file mode 100644" in out
    assert "Binary files a/data.bin and b/data.bin differ" in out
    results = out[out.index("results") :].splitlines()
    assert results[1].split() == ["metric", two_runs[0].name, two_runs[1].name]
    assert results[3].split() == ["accuracy", "0.8", "0.9"]
    assert results[4].split() == ["fold1.loss", "0.3"]
    assert ANSI not in out
    assert repo_state(two_runs[0].parent.parent) == before


def test_diff_stat_name_only_and_paths(two_runs: Runs, repo: Path) -> None:
    before = repo_state(repo)
    stat = invoke("diff", *two_runs, "--stat")
    assert " 3 files changed, 2 insertions(+)" in stat.stdout
    assert re.search(r"^ train.py +\| +1 \+$", stat.stdout, re.MULTILINE)
    names = invoke("diff", *two_runs, "--name-only")
    code = names.stdout.split("code (")[1].split("\n\n")[0].splitlines()[1:]
    assert code == ["data.bin", "extra.py", "train.py"]
    only = invoke("diff", *two_runs, "--name-only", "--", "train.py", "extra.py")
    assert "data.bin" not in only.stdout and "train.py" in only.stdout
    nothing = invoke("diff", *two_runs, "--", "does-not-exist.py")
    assert "code (" in nothing.stdout and "(no differences)" in nothing.stdout
    assert repo_state(repo) == before
    assert_error(invoke("diff", *two_runs, "--stat", "--name-only"), 2)


def test_diff_sees_committed_changes_between_runs(repo: Path) -> None:
    run1 = record_run(repo, {"x": 1})
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "commit", "-q", "-am", "v2")
    run2 = record_run(repo, {"x": 2})
    result = invoke("diff", run1, run2, "--name-only")
    assert "train.py" in result.stdout and "data.bin" not in result.stdout


def test_diff_works_from_outside_the_repository(
    two_runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("diff", *two_runs, "--name-only")
    assert result.exit_code == 0, result.output
    assert "extra.py" in result.stdout


def test_diff_with_a_missing_commit_suggests_fetching(two_runs: Runs) -> None:
    head_file = two_runs[1] / ".maggot" / "git" / "head.json"
    write_json(head_file, {**json.loads(head_file.read_text()), "commit": "deadbeef" * 5})
    line = assert_error(invoke("diff", *two_runs), 1, "git fetch")
    assert "deadbeefdead" in line and "https://example.com/team/project.git" in line


def test_diff_of_a_run_without_snapshot_is_an_error(repo: Path, two_runs: Runs) -> None:
    unsnapped = record_run(repo, {"x": 3}, snapshot=False)
    assert_error(invoke("diff", two_runs[0], unsnapped), 1, "no git snapshot: snapshot turned off")


# --- conventions -----------------------------------------------------------------------------


def test_version_and_help() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"maggot {maggot.__version__}\n"
    top = invoke("--help")
    assert "_MAGGOT_COMPLETE=bash_source maggot" in top.stdout
    for command in ("summarize", "show", "show-config", "show-command", "config-diff", "diff"):
        assert command in top.stdout
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_usage_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    assert_error(invoke("frobnicate"), 2, "No such command")
    assert_error(invoke("show"), 2, "Missing argument 'RUN'")
    assert_error(invoke("summarize", tmp_path, "--format", "xml"), 2, "--format")
    assert_error(invoke("show", "--bogus"), 2, "--bogus")


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("maggot.summarize.summarize", interrupted)
    result = invoke("summarize", tmp_path)
    assert result.exit_code == 130
    assert "Traceback" not in result.output and "maggot: interrupted" in result.stderr


def test_reports_errors_turns_library_errors_into_one_line() -> None:
    @click.command()
    @cli.reports_errors()
    def failing() -> None:
        raise maggot.MaggotError("experiments/x: broken")

    result = CliRunner().invoke(failing, [])
    assert result.exit_code == 1 and result.stderr == "maggot: experiments/x: broken\n"


def test_every_command_runs_as_a_real_process(two_runs: Runs, repo: Path) -> None:
    run1, run2 = two_runs
    expectations: list[tuple[list[Any], str]] = [
        (["--version"], f"maggot {maggot.__version__}"),
        (["summarize", "experiments"], run1.name),
        (["show", run1], "status    completed"),
        (["show-config", run1, "--format", "flat"], "model.C=1.0"),
        (["show-command", run1], "pytest"),
        (["config-diff", run1, run2], "~ model.C: 1.0 -> 10.0"),
        (["diff", run1, run2, "--stat"], "extra.py"),
    ]
    for args, expected in expectations:
        completed = run_maggot(*args, cwd=repo)
        assert completed.returncode == 0, completed.stderr
        assert expected in completed.stdout
        assert ANSI not in completed.stdout
    failed = run_maggot("show", repo / "nope", cwd=repo)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr == f"maggot: {repo / 'nope'}: no such directory\n"


def test_listing_commands_do_not_import_deepdiff_or_gitpython(two_runs: Runs) -> None:
    run = str(two_runs[0])
    script = (
        "import sys\n"
        "from maggot.cli import main\n"
        f"for args in (['summarize', {str(two_runs[0].parent)!r}], ['show', {run!r}],\n"
        f"             ['show-config', {run!r}], ['show-command', {run!r}]):\n"
        "    main(args, standalone_mode=False)\n"
        "print('deepdiff' in sys.modules, 'git' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "False False"


def test_show_command_with_undecodable_bytes_prints_no_traceback(two_runs: Runs) -> None:
    (two_runs[0] / ".maggot" / "command").write_bytes(b"python train.py --data caf\xe9.csv\n")
    result = invoke("show-command", two_runs[0])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "train.py" in result.stdout


def test_an_unexpected_error_is_reported_as_a_bug_with_exit_3(
    two_runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maggot import store

    def broken(run_dir: str) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "read_command", broken)
    result = invoke("show-command", two_runs[0])
    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert "RuntimeError: boom" in line and "this is a bug" in line
    log = line.rsplit(" ", 1)[-1]
    assert "Traceback" in Path(log).read_text()
    Path(log).unlink()


def complete(*words: str) -> list[str]:
    """What ``maggot`` offers for the last word, through click's bash completion protocol."""
    env = {"_MAGGOT_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(("maggot", *words))}
    env["COMP_CWORD"] = str(len(words))
    result = CliRunner().invoke(main, [], env=env, prog_name="maggot")
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_run_arguments_complete_run_names_then_directories(experiments: Path) -> None:
    assert complete("show", "run-") == ["dir,run-", "plain,run-a", "plain,run-b", "plain,run-c"]
    assert complete("diff", "run-a", "run-b") == ["dir,run-b", "plain,run-b"]
    # nothing named like it under experiments/: the shell completes directories
    assert complete("reproduce", "exp") == ["dir,exp"]
    assert complete("show-config", "experiments/ru") == ["dir,experiments/ru"]


def test_summarize_directory_completes_directories(experiments: Path) -> None:
    assert complete("summarize", "exp") == ["dir,exp"]


def test_command_names_complete_and_all_are_listed_in_help() -> None:
    assert complete("re") == ["plain,report", "plain,reproduce", "plain,rerun"]
    assert complete("s") == [
        "plain,show",
        "plain,show-command",
        "plain,show-config",
        "plain,summarize",
        "plain,sweep",
    ]
    lines = invoke("--help").stdout.split("Commands:")[1].splitlines()
    assert [line.split()[0] for line in lines if line.startswith("  ")] == sorted(cli.COMMANDS)


def test_a_command_imports_only_its_own_module() -> None:
    script = (
        "import sys\n"
        "from maggot.cli import main\n"
        "main(['run', '--help'], standalone_mode=False)\n"
        "print(sorted(name for name in sys.modules if name.startswith('maggot.cli.')))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "['maggot.cli.base', 'maggot.cli.run']"


def test_lazy_and_eager_commands_register_side_by_side() -> None:
    @click.group(cls=cli_base.MaggotGroup)
    def group() -> None:
        pass

    @click.command("eager")
    def eager() -> None:
        click.echo("eager ran")

    group.add_command(eager)
    group.add_lazy_command("shown", "maggot.cli.show:show_command")
    group.add_lazy_command("broken", "maggot.cli.show:PAGE_SIZE_THAT_DOES_NOT_EXIST")
    runner = CliRunner()
    assert runner.invoke(group, ["eager"]).stdout == "eager ran\n"
    assert "Print the command" in runner.invoke(group, ["shown", "--help"]).stdout
    assert group.list_commands(click.Context(group)) == ["broken", "eager", "shown"]
    with pytest.raises(AttributeError):
        group.get_command(click.Context(group), "broken")


def test_summarize_json_is_strict_json_with_nan_and_infinity(repo: Path) -> None:
    record_run(repo, {"a": 1}, {"loss": float("nan"), "best": float("inf")}, snapshot=False)

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    result = invoke("summarize", "experiments", "--format", "json")
    [row] = json.loads(result.stdout, parse_constant=refuse)
    assert row["loss"] is None and row["best"] is None
    shown = json.loads(
        invoke("show", "experiments/1", "--format", "json").stdout, parse_constant=refuse
    )
    assert shown["results"] == {"best": None, "loss": None}


def test_diff_of_two_clean_runs_says_both_were_recorded_clean(repo: Path) -> None:
    run1 = record_run(repo, {"a": 1})
    run2 = record_run(repo, {"a": 2})
    result = invoke("diff", run1, run2)
    assert result.exit_code == 0, result.output
    assert "both recorded clean" in result.stdout and "with recorded changes" not in result.stdout


def test_diff_with_a_dirty_run_says_it_has_recorded_changes(two_runs: Runs) -> None:
    assert "with recorded changes" in invoke("diff", *two_runs).stdout


def test_config_diff_of_equal_configs_says_so(repo: Path) -> None:
    run1 = record_run(repo, {"a": 1}, name="x", snapshot=False)
    run2 = record_run(repo, {"a": 1}, name="y", snapshot=False)
    result = invoke("config-diff", run1, run2)
    assert result.exit_code == 0 and result.stdout == "(no differences)\n"
    assert json.loads(invoke("config-diff", run1, run2, "--format", "json").stdout) == []


def test_show_lists_the_runs_files_with_sizes_and_the_end_of_its_log(repo: Path) -> None:
    with Experiment(config={"a": 1}, snapshot=False) as exp:
        for step in range(30):
            print(f"step {step}")
        print("\x1b[31mred\x1b[0m")
        Path(exp.experiment_dir, "model.pkl").write_bytes(b"x" * 2048)
        Path(exp.experiment_dir, "checkpoints").mkdir()
        Path(exp.experiment_dir, "checkpoints", "epoch1.pt").write_bytes(b"y" * 10)
    result = invoke("show", exp.experiment_dir)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(
        r"^files\n  10 B\s+checkpoints/epoch1\.pt\n  2\.0 KiB\s+model\.pkl$", text, re.M
    )
    tail = text.split("end of ", 1)[1].splitlines()[1:]
    assert [line.strip() for line in tail] == [f"step {n}" for n in range(21, 30)] + [
        "\\u001b[31mred\\u001b[0m"
    ]
    assert "\x1b" not in text
    shown = json.loads(invoke("show", exp.experiment_dir, "--format", "json").stdout)
    assert shown["artifacts"] == [
        {"path": "checkpoints/epoch1.pt", "bytes": 10},
        {"path": "model.pkl", "bytes": 2048},
    ]
    assert shown["log_tail"][-1] == "\x1b[31mred\x1b[0m" and shown["more_artifacts"] == 0
