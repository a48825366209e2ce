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
SAMPLES there with the current interpreter, and replaces the block's body with
the command line and its output. What differs between machines and moments
(paths, times, host, user, interpreter) is written as fixed stand-ins.

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
    """One output sample: its marker name and the maggot arguments that print it."""

    name: str
    args: tuple[str, ...]


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
)

# Stand-ins for what changes between machines and moments.
REPO_STAND_IN = "/home/ada/project"
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


# The demo's story (examples/demo.sh): runs on a dirty tree, a commit, a run on new code.
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
    )
    return env


def run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    """Run one command; its stdout and stderr, in that order. A failure stops the script."""
    completed = subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"{shlex.join(argv)} exited {completed.returncode}:\n{completed.stderr}")
    return completed.stdout + completed.stderr


def build_scenario(repo: Path, env: dict[str, str]) -> None:
    repo.mkdir()
    shutil.copy2(EXAMPLES / "train.py", repo / "train.py")
    (repo / ".gitignore").write_text("experiments/\n")
    for step in SCENARIO:
        if callable(step):
            step(repo)
            continue
        argv = [sys.executable, *step[1:]] if step[0] == "python" else list(step)
        run(argv, repo, env)


def stand_ins(repo: Path) -> Callable[[str], str]:
    """A function that writes machine- and moment-specific text as fixed stand-ins."""
    interpreter = re.escape(os.path.dirname(sys.executable)) + r"/python[0-9.]*"
    uname = platform.uname()
    fixed = [
        (re.escape(os.path.realpath(repo)), REPO_STAND_IN),
        (re.escape(str(repo)), REPO_STAND_IN),
        (interpreter, PYTHON_STAND_IN),
        (re.escape(re.sub(r"/python[0-9.]*$", "/python3", sys.executable)), PYTHON_STAND_IN),
        (rf"\b{re.escape(platform.python_version())}\b", "3.11.9"),
        (re.escape(f"{uname.system}-{uname.release}-{uname.machine}"), "Linux-6.8.0-x86_64"),
        (r"(?m)^(duration\s+)\S+ s$", r"\g<1>0.84 s"),
        (r"(?m)^(host\s+)\S+$", r"\g<1>laptop"),
        (r"(?m)^(user\s+)\S+$", r"\g<1>ada"),
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
            fraction = ".000Z" if separator == ":" else "-000000Z"
            times[match.group(0)] = f"{year}-{month:02d}-{day:02d}T{clock}{fraction}"
        return times[match.group(0)]

    def rewrite(text: str) -> str:
        for pattern, replacement in fixed:
            text = re.sub(pattern, replacement, text)
        return re.sub(r"\d{4}-\d\d-\d\dT\d\d([:-])\d\d[:-]\d\d(?:\.\d{3}Z|-\d{6}Z)", moment, text)

    return rewrite


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
            printed = run([sys.executable, "-m", "maggot", *sample.args], repo, env)
            body = f"$ maggot {shlex.join(sample.args)}\n{printed}"
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
