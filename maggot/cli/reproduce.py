"""``maggot reproduce``: rebuild a run's code state, replay it, compare results."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

import click

from maggot import showrun
from maggot.cli.base import MaggotCommand, confirm_or_refuse, paint, warn

if TYPE_CHECKING:
    from maggot.reproduce import ReplayOutcome, ReproducePlan


def _print_plan(plan: ReproducePlan) -> None:
    head = plan.snapshot.head
    untracked = plan.snapshot.untracked_files()
    branch = head.get("branch") or "detached HEAD"
    rows = [
        ("run", plan.run_dir),
        ("commit", f"{plan.commit_summary}  ({branch})"),
        ("changes", f"{head.get('patch_bytes', 0)} bytes of uncommitted changes (diff.patch)"),
        ("untracked", ", ".join(untracked) if untracked else "none"),
        ("worktree", plan.worktree or "a temporary directory, removed afterwards"),
        ("cwd", plan.cwd or ". (the repository root)"),
        ("command", shlex.join(plan.command)),
        ("records to", plan.replay_dir),
    ]
    for submodule in head.get("submodules", []):
        rows.append(
            ("submodule", f"{submodule.get('path')} at {str(submodule.get('commit'))[:12]}")
        )
    click.echo(paint("Reproduce plan", bold=True))
    for label, value in rows:
        click.echo(f"  {label:<11}{value}")
    for note in plan.notes:
        warn(note)


def _print_outcome(outcome: ReplayOutcome) -> None:
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    colors = {"match": "green", "differ": "red", "missing": "red", "extra": "yellow"}
    rows = [
        [
            item.name,
            _show_value(item.original),
            _show_value(item.replay),
            paint(item.status, colors[item.status]),
        ]
        for item in outcome.comparisons
    ]
    if rows:
        click.echo(
            tabulate(rows, headers=["result", "original", "replay", "match"], disable_numparse=True)
        )
    for problem in outcome.problems:
        click.echo(f"maggot: {problem}", err=True)
    failing = [item for item in outcome.comparisons if item.status in ("differ", "missing")]
    if outcome.reproduced:
        click.echo(
            paint(f"reproduced: all {len(outcome.comparisons)} results match", "green", bold=True)
        )
    elif failing:
        total = len(outcome.comparisons)
        click.echo(
            paint(
                f"not reproduced: {len(failing)} of {total} results differ or are missing",
                "red",
                bold=True,
            )
        )
    else:
        click.echo(paint("not reproduced", "red", bold=True))


def _show_value(value: Any) -> str:
    return "" if value is None else json.dumps(value)


@click.command("reproduce", cls=MaggotCommand)
@click.argument("run")
@click.option("-y", "--yes", is_flag=True, help="Run the replay without asking.")
@click.option("--dry-run", is_flag=True, help="Print the plan and run nothing.")
@click.option("--keep", is_flag=True, help="Keep the worktree afterwards.")
@click.option(
    "--worktree",
    type=click.Path(file_okay=False),
    metavar="PATH",
    help="Create the worktree at PATH (outside the repository).",
)
@click.option(
    "--python",
    "python",
    metavar="PATH",
    help="Interpreter for the replay (default: the one running maggot).",
)
@click.option(
    "--rtol",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Relative tolerance for numeric results.",
)
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Absolute tolerance for numeric results.",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False),
    help="Repository to rebuild from (default: the one holding the current directory).",
)
def reproduce_command(
    run: str,
    yes: bool,
    dry_run: bool,
    keep: bool,
    worktree: str | None,
    python: str | None,
    rtol: float,
    atol: float,
    repo: str | None,
) -> None:
    """Rebuild RUN's code state in a separate git worktree, replay it, compare results.

    The replay records into RUN.repro-N next to RUN; RUN itself is never modified,
    and neither are your working tree, index, branches or stash.

    \b
    Exit codes: 0 every recorded result came back, 1 a result differs or is missing
    (or the replay failed), 2 usage error, 130 interrupted.
    """
    from maggot import reproduce as reproducing

    plan = reproducing.plan_reproduction(
        showrun.resolve_run_dir(run), repo_path=repo, python=python, worktree=worktree
    )
    _print_plan(plan)
    if dry_run:
        return
    if not yes:
        confirm_or_refuse("the replay")
    path, temp_dir = reproducing.create_worktree(plan)
    try:
        plan = reproducing.claim_replay_dir(plan)
        replay = reproducing.prepare_replay(plan, path)
        for note in replay.notes:
            warn(note)
        exit_code = reproducing.run_replay(replay)
    finally:
        if keep:
            click.echo(
                f"worktree kept at {path} (remove it with 'git worktree remove --force {path}')"
            )
        else:
            reproducing.remove_worktree(plan, path, temp_dir)
    outcome = reproducing.check_replay(plan, exit_code, rtol, atol)
    _print_outcome(outcome)
    if not outcome.reproduced:
        click.get_current_context().exit(1)
