"""Regenerate the command-line output samples in docs/ from the examples, or check them.

    python docs/generate_samples.py            # rewrite the samples in docs/*.md
    python docs/generate_samples.py --check    # exit 1 and show a diff if any drifted

A sample in a Markdown file is a fenced block between two markers:

    <!-- sample: show-config -->
    ```console
    $ maggot show-config experiments/0.0-0.05-10
    ...
    ```
    <!-- end sample -->

The script builds one scenario in a temporary git repository (commits with
fixed dates and authors, so commit ids never change), runs every command in
SAMPLES there, in order, with the current interpreter, and replaces the block's
body with the command line and its output. What differs between machines and
moments (paths, times, durations, host, user, interpreter, sweep ids) is
written as fixed stand-ins. Every sample's text is the same on every run: a
command's stdout and stderr are read from separate pipes and shown one after
the other, unless the sample is ``merged`` because one thread writes both (so
their order never depends on scheduling); a sweep runs one job at a time.

To add a command: add its Sample below (and a SCENARIO step if it needs more
runs), put the markers in a page, run the script.
"""

from __future__ import annotations

import argparse
import difflib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS.parent / "examples"


class Sample(NamedTuple):
    """One output sample: its marker name and the maggot arguments that print it.

    ``{sweep}`` in an argument is the id of the scenario's sweep. ``merged``
    reads stdout and stderr from one pipe, in the order they were written
    (only for commands whose two streams are written by one thread of one
    process, so the order is always the same); otherwise stdout comes first.
    """

    name: str
    args: tuple[str, ...]
    merged: bool = False


# fit_curve.py's runs go to fits/, apart from the demo's experiments/
FIT_OPTIONS = (
    "--experiments-dir", "fits", "--metric-pattern", r"(?P<name>\w+_rmse)=(?P<value>[0-9.]+)",
)  # fmt: skip

SAMPLES = (
    Sample("summarize", ("summarize", "experiments", "--sort", "accuracy")),
    Sample("summarize-params", ("summarize", "experiments", "--params", "--format", "markdown")),
    Sample(
        "summarize-filter",
        ("summarize", "experiments", "--filter", "model.lr>=0.5", "--format", "csv"),
    ),
    Sample("show", ("show", "experiments/0.0-0.05-10")),
    Sample("show-config", ("show-config", "experiments/0.0-0.05-10")),
    Sample("show-config-flat", ("show-config", "experiments/0.0-0.05-10", "--format", "flat")),
    Sample("show-command", ("show-command", "experiments/0.0-0.05-10")),
    Sample("config-diff", ("config-diff", "experiments/0.0-0.05-10", "experiments/0.001-0.5-30")),
    Sample("diff", ("diff", "experiments/0.0-0.05-10", "experiments/0.0-0.05-10_1")),
    Sample(
        "diff-stat",
        ("diff", "experiments/0.0-0.05-10", "experiments/0.0-0.05-10_1", "--stat"),
    ),
    Sample("reproduce-dry-run", ("reproduce", "experiments/0.0-0.05-10", "--dry-run")),
    Sample("reproduce", ("reproduce", "experiments/0.001-0.5-30", "--yes")),
    Sample("reproduce-mismatch", ("reproduce", "counts/0.5", "--yes")),
    Sample("verify", ("verify", "experiments/0.0-0.05-10", "experiments/0.0-0.5-10")),
    Sample(
        "compare",
        (
            "compare",
            "experiments/0.0-0.05-10",
            "experiments/0.0-0.5-10",
            "experiments/0.001-0.5-30",
        ),
    ),
    Sample("tag", ("tag", "experiments/0.001-0.5-30", "experiments/0.0-0.5-10", "baseline")),
    Sample("note", ("note", "experiments/0.001-0.5-30", "l2 keeps the weights small")),
    Sample("tag-list", ("tag", "experiments/0.001-0.5-30", "experiments/0.0-0.5-10")),
    Sample("note-list", ("note", "experiments/0.001-0.5-30")),
    Sample(
        "summarize-info",
        (
            "summarize",
            "experiments",
            "--filter",
            'tags ~ "baseline"',
            "--info",
            "tags,note,commit,dirty",
        ),
    ),  # fmt: skip
    Sample("report", ("report", "experiments", "-o", "report.html")),
    Sample("run", ("run", *FIT_OPTIONS, "--", "python", "fit_curve.py", "--degree", "3"), True),
    Sample(
        "sweep",
        (
            "sweep",
            "-p",
            "degree=1,3,5",
            "-p",
            "alpha=0.0,0.01",
            *FIT_OPTIONS,
            "--",
            "python",
            "fit_curve.py",
            "--degree",
            "{degree}",
            "--alpha",
            "{alpha}",
        ),
        True,
    ),  # fmt: skip
    Sample("sweep-status-list", ("sweep", "status", "--all", "--experiments-dir", "fits")),
    Sample("sweep-status", ("sweep", "status", "{sweep}", "--experiments-dir", "fits")),
    Sample(
        "summarize-sweep",
        (
            "summarize",
            "fits",
            "--sweep",
            "{sweep}",
            "--sort",
            "test_rmse",
            "--ascending",
            "--params",
        ),
    ),
    Sample("rerun", ("rerun", "fits/0.0-5", "--set", "degree=7", "--yes"), True),
    Sample("mv", ("mv", "fits/0.01-1", "ridge-linear")),
    Sample("rm", ("rm", "fits/0.0-1")),
    Sample("gc", ("gc", "--dry-run", "--dir", "fits")),
)

# Stand-ins for what changes between machines and moments.
# what the scenario's commands start python as: by name, when this interpreter's
# directory has one (a virtual environment's bin/ does), else by its path
PYTHON = (
    "python"
    if os.path.realpath(os.path.join(os.path.dirname(sys.executable), "python"))
    == os.path.realpath(sys.executable)
    else sys.executable
)
REPO_STAND_IN = "/home/ada/project"
HOME_STAND_IN = "/home/ada"
SWEEP_STAND_IN = "20250314-093010-000000-5e1f"
PYTHON_STAND_IN = "/home/ada/.venv/bin/python"
FIRST_TIME = (2025, 3, 14, 9, 30, 0)


def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    """A scenario step that edits a file of the repository in place."""

    def step(repo: Path) -> None:
        text = (repo / path).read_text()
        if old not in text:
            raise RuntimeError(f"{path}: {old!r} not found; update SCENARIO")
        (repo / path).write_text(text.replace(old, new))

    return step


def write(path: str, text: str) -> Callable[[Path], None]:
    """A scenario step that writes a file of the repository."""

    def step(repo: Path) -> None:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)

    return step


def copy_example(name: str) -> Callable[[Path], None]:
    """A scenario step that copies a file of examples/ into the repository."""
    return lambda repo: shutil.copy2(EXAMPLES / name, repo / name)


# counts the values above a threshold in $DATA_FILE, a file outside the repository
COUNT_SCRIPT = """\
import argparse
import os

from maggot import Experiment

parser = argparse.ArgumentParser()
parser.add_argument("--threshold", type=float, default=0.5)
config = vars(parser.parse_args())
with Experiment(config=config, experiments_dir="counts") as exp:
    with open(os.environ["DATA_FILE"]) as file:
        values = [float(line) for line in file]
    exp.register_result("above", sum(value > exp.config.threshold for value in values))
"""

# The demo's story (examples/demo.sh): runs on a dirty tree, a commit, a run on new code.
# Then fit_curve.py through `maggot run` and `maggot sweep` (runs in fits/), and a run
# reading a data file that changes afterwards (its reproduction does not match).
# A tuple is a command (``python`` is the current interpreter); a callable edits the repo.
SCENARIO: tuple[tuple[str, ...] | Callable[[Path], None], ...] = (
    ("git", "init", "-q", "-b", "main"),
    ("git", "add", "."),
    ("git", "commit", "-q", "-m", "logistic regression"),
    edit("train.py", "size: int = 400", "size: int = 600"),
    ("python", "train.py", "--lr", "0.05", "--epochs", "10"),
    ("python", "train.py", "--lr", "0.5", "--epochs", "10"),
    ("python", "train.py", "--lr", "0.5", "--epochs", "30", "--l2", "0.001"),
    ("git", "commit", "-q", "-am", "bigger data set"),
    edit("train.py", "size: int = 600", "size: int = 800"),
    ("python", "train.py", "--lr", "0.05", "--epochs", "10"),
    copy_example("fit_curve.py"),
    write("count.py", COUNT_SCRIPT),
    write("../home/data/values.txt", "0.2\n0.7\n0.9\n"),
    write(".gitignore", "experiments/\nfits/\ncounts/\nreport.html\n"),
    ("git", "add", "fit_curve.py", "count.py", ".gitignore"),
    (
        "git",
        "commit",
        "-q",
        "-m",
        "curve fit, counting",
        "--",
        "fit_curve.py",
        "count.py",
        ".gitignore",
    ),
    ("python", "count.py", "--threshold", "0.5"),
    write("../home/data/values.txt", "0.2\n0.7\n0.9\n0.6\n"),
)


def scenario_env(home: Path) -> dict[str, str]:
    """No user git config, fixed commit identities and dates, no colors."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GIT_", "MAGGOT_")) and name not in ("PYTHONPATH",)
    }
    stamp = "2025-03-14T09:00:00+00:00"
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.com",
        GIT_AUTHOR_DATE=stamp,
        GIT_COMMITTER_DATE=stamp,
        NO_COLOR="1",
        COLUMNS="100",
        DATA_FILE=str(home / "data" / "values.txt"),
    )
    if PYTHON == "python":
        # the runs record `python train.py ...`, as typed: the same on every machine, where
        # the interpreter's path would be replaced by a stand-in of another length, which
        # would put the columns of a table out of line
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def run(argv: Sequence[str], cwd: Path, env: dict[str, str], merged: bool = False) -> str:
    """Run one command; its stdout and stderr (one after the other unless ``merged``).

    Separate pipes are read whole, stdout first, so the text never depends on
    which of two streams a reader thread happened to see first. A failure
    (exit code other than 0 or 1) stops the script.
    """
    completed = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        check=False,
    )
    if completed.returncode not in (0, 1):
        raise RuntimeError(
            f"{shlex.join(argv)} exited {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr or ''}"
        )
    return completed.stdout + (completed.stderr or "")


def build_scenario(repo: Path, env: dict[str, str]) -> None:
    repo.mkdir()
    shutil.copy2(EXAMPLES / "train.py", repo / "train.py")
    (repo / ".gitignore").write_text("experiments/\n")
    for step in SCENARIO:
        if callable(step):
            step(repo)
            continue
        argv = [PYTHON, *step[1:]] if step[0] == "python" else list(step)
        run(argv, repo, env)


def fixed_width(match: re.Match[str]) -> str:
    """A duration as ``0.05``, padded to the width the table gave the real one."""
    return "0.05".ljust(len(match[0])) if match[0].endswith(" ") else "0.05"


def stand_ins(repo: Path) -> Callable[[str], str]:
    """A function that writes machine- and moment-specific text as fixed stand-ins."""
    interpreter = re.escape(os.path.dirname(sys.executable)) + r"/python[0-9.]*"
    uname = platform.uname()
    fixed: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
        (re.escape(os.path.realpath(repo)), REPO_STAND_IN),
        (re.escape(str(repo)), REPO_STAND_IN),
        (interpreter, PYTHON_STAND_IN),
        (re.escape(re.sub(r"/python[0-9.]*$", "/python3", sys.executable)), PYTHON_STAND_IN),
        (rf"\b{re.escape(platform.python_version())}\b", "3.11.9"),
        (re.escape(f"{uname.system}-{uname.release}-{uname.machine}"), "Linux-6.8.0-x86_64"),
        (r"(?m)^(duration\s+)\S+ s$", r"\g<1>0.84 s"),
        (r"(?m)^(host\s+)\S+$", r"\g<1>laptop"),
        (r"(?m)^(user\s+)\S+$", r"\g<1>ada"),
        # the scenario's home (the data file's folder): next to the project, as in ~/project
        (re.escape(os.path.realpath(repo.parent / "home")), HOME_STAND_IN),
        (re.escape(str(repo.parent / "home")), HOME_STAND_IN),
        (r"\b\d{8}-\d{6}(?:-\d{6})?-[0-9a-f]{4}\b", SWEEP_STAND_IN),
        (r"(?m)^(run\.duration  .*)$", lambda match: re.sub(r"\d+\.\d+ *", fixed_width, match[1])),
        (r"(?m)^(\S+: \d+ runs, )\d+\.\d+ MB$", r"\g<1>0.13 MB"),
    ]
    times: dict[str, str] = {}

    def moment(match: re.Match[str]) -> str:
        # each distinct time becomes the next second after FIRST_TIME, in order of appearance
        year, month, day, hour, minute, second = FIRST_TIME
        shifted = second + len(times)
        if match.group(0) not in times:
            separator = ":" if match.group(1) == ":" else "-"
            clock = separator.join(
                (f"{hour:02d}", f"{minute + shifted // 60:02d}", f"{shifted % 60:02d}")
            )
            if match.group(2) is None:
                fraction = "Z"  # to the second, as notes are stamped
            else:
                fraction = ".000Z" if separator == ":" else "-000000Z"
            times[match.group(0)] = f"{year}-{month:02d}-{day:02d}T{clock}{fraction}"
        return times[match.group(0)]

    def rewrite(text: str) -> str:
        for pattern, replacement in fixed:
            text = re.sub(pattern, replacement, text)
        return re.sub(r"\d{4}-\d\d-\d\dT\d\d([:-])\d\d[:-]\d\d(\.\d{3}|-\d{6})?Z", moment, text)

    return rewrite


def sample_argument(argument: str, repo: Path) -> str:
    """``argument`` with ``{sweep}`` replaced by the id of the scenario's sweep."""
    if "{sweep}" not in argument:
        return argument
    (sweep_id,) = sorted(path.name for path in (repo / "fits" / ".sweeps").iterdir())
    return argument.replace("{sweep}", sweep_id)


def generate_outputs() -> dict[str, str]:
    """Each sample's block body: ``$ maggot ...`` and what it printed, with stand-ins."""
    with tempfile.TemporaryDirectory(prefix="maggot-samples-") as scratch:
        home, repo = Path(scratch) / "home", Path(scratch) / "project"
        home.mkdir()
        env = scenario_env(home)
        build_scenario(repo, env)
        rewrite = stand_ins(repo)
        outputs = {}
        for sample in SAMPLES:
            args = [sample_argument(arg, repo) for arg in sample.args]
            # the command a launcher runs: `python` is this interpreter, shown as `python`
            argv = [PYTHON if arg == "python" else arg for arg in args]
            printed = run([sys.executable, "-m", "maggot", *argv], repo, env, sample.merged)
            body = f"$ maggot {shlex.join(args)}\n{printed}"
            # no trailing blanks: the pages' whitespace hook would strip them (diff context lines)
            lines = [line.rstrip() for line in rewrite(body).rstrip("\n").split("\n")]
            outputs[sample.name] = "\n".join(lines) + "\n"
    return outputs


BLOCK = re.compile(
    r"(?P<start><!-- sample: (?P<name>[\w-]+) -->\n```console\n)"
    r"(?P<body>.*?)(?P<end>```\n<!-- end sample -->)",
    re.DOTALL,
)


def pages(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.md"))


def marker_problems(folder: Path) -> list[str]:
    """Markers naming no sample, and samples no page shows: found before running anything."""
    known = {sample.name for sample in SAMPLES}
    shown: set[str] = set()
    problems = []
    for page in pages(folder):
        for match in BLOCK.finditer(page.read_text(encoding="utf-8")):
            name = match.group("name")
            shown.add(name)
            if name not in known:
                problems.append(f"{page}: no sample named {name!r} in {Path(__file__).name}")
    unshown = [sample.name for sample in SAMPLES if sample.name not in shown]
    if unshown:
        problems.append(f"samples in no page of {folder} (add markers): {', '.join(unshown)}")
    return problems


def fill_samples(text: str, outputs: dict[str, str]) -> str:
    """``text`` with every sample block's body replaced by its output."""
    return BLOCK.sub(
        lambda match: match.group("start") + outputs[match.group("name")] + match.group("end"),
        text,
    )


def sync_pages(folder: Path, outputs: dict[str, str], check: bool) -> list[Path]:
    """Pages whose samples differ from ``outputs``; rewritten unless ``check``, else diffed."""
    drifted = []
    for page in pages(folder):
        text = page.read_text(encoding="utf-8")
        updated = fill_samples(text, outputs)
        if updated == text:
            continue
        drifted.append(page)
        if check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    updated.splitlines(keepends=True),
                    f"{page.name} (in the docs)",
                    f"{page.name} (printed now)",
                )
            )
        else:
            page.write_text(updated, encoding="utf-8")
            print(f"updated {page}")
    return drifted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a sample drifted"
    )
    parser.add_argument(
        "--docs", type=Path, default=DOCS, help="the folder of Markdown pages (default: docs/)"
    )
    args = parser.parse_args(argv)
    problems = marker_problems(args.docs)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    drifted = sync_pages(args.docs, generate_outputs(), args.check)
    if args.check and drifted:
        print(
            f"{len(drifted)} page(s) drifted from what the commands print; "
            "run python docs/generate_samples.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
