"""``maggot reproduce``: rebuild a run's code state, replay it, compare results."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import click

from maggot import showrun, signals
from maggot.cli.base import (
    CommandError,
    MaggotCommand,
    complete_run,
    confirm_or_refuse,
    paint,
    warn,
)
from maggot.cli.explain import (
    check_link_options,
    link_options,
    print_explanation,
    print_preflight,
    print_repeated,
    refuse_drift,
    show_value,
)
from maggot.terminal import printable

if TYPE_CHECKING:
    from maggot.provide import InputsPlan
    from maggot.reproduce import Replay, ReplayOutcome, ReproducePlan


def _print_plan(plan: ReproducePlan) -> None:
    head = plan.snapshot.head
    untracked = plan.snapshot.untracked_files()
    where = f"branch {head.branch}" if head.branch else "detached HEAD"
    rows = [
        ("run", plan.run_dir),
        ("commit", f"{plan.commit_summary}  ({where} when recorded)"),
        ("changes", f"{head.patch_bytes} bytes of uncommitted changes (diff.patch)"),
        ("untracked", ", ".join(untracked) if untracked else "none"),
        ("worktree", plan.worktree or "a temporary directory, removed afterwards"),
        ("cwd", plan.cwd or ". (the repository root)"),
        ("python", f"{plan.python}  ({plan.python_source})"),
        ("command", shlex.join(plan.command)),
        ("records to", plan.replay_dir),
    ]
    rows.extend(("launch", line) for line in plan.launch)
    for submodule in head.submodules:
        rows.append(("submodule", f"{submodule.path} at {submodule.commit[:12]}"))
    click.echo(paint("Reproduce plan", bold=True))
    for label, value in rows:
        click.echo(f"  {label:<11}{printable(value)}")
    if plan.inputs is not None:
        print_inputs_plan(plan.inputs)
    for note in plan.notes:
        warn(note)


def print_inputs_plan(inputs: InputsPlan) -> None:
    """The plan's line on the ignored inputs provided from the checkout, and warnings."""
    from maggot import provide

    if inputs.disabled:
        click.echo(f"  {'ignored':<11}none provided (--no-inputs)")
        return
    if inputs.files:
        click.echo(f"  {'ignored':<11}{printable(provide.describe(inputs))}")
    for path in inputs.named_in_command:
        warn(
            f"the command names {path}, which git ignores, and the run has no inputs record: "
            f"pass --link {path} to provide it from the checkout"
        )


def _print_outcome(outcome: ReplayOutcome) -> None:
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    colors = {"match": "green", "differ": "red", "missing": "red", "extra": "yellow"}
    rows = [
        [
            printable(item.name),
            printable(show_value(item.first)),
            printable(show_value(item.second)),
            paint(item.status, colors[item.status]),
        ]
        for item in outcome.comparisons
    ]
    if rows:
        click.echo(
            tabulate(rows, headers=["result", "original", "replay", "match"], disable_numparse=True)
        )
    for problem in outcome.problems:
        # a problem may quote the replay's stderr on the lines after its own
        first, *quoted = problem.split("\n")
        click.echo(f"maggot: {printable(first)}", err=True)
        for line in quoted:
            click.echo(printable(line), err=True)
    failing = [item for item in outcome.comparisons if item.status != "match"]
    if outcome.reproduced:
        click.echo(
            paint(f"reproduced: all {len(outcome.comparisons)} results match", "green", bold=True)
        )
    elif failing:
        total = len(outcome.comparisons)
        click.echo(
            paint(
                f"not reproduced: {len(failing)} of {total} results differ, are missing "
                "or were recorded by the replay only",
                "red",
                bold=True,
            )
        )
    else:
        click.echo(paint("not reproduced", "red", bold=True))


@click.command("reproduce", cls=MaggotCommand)
@click.argument("run", shell_complete=complete_run)
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
    help="Interpreter for the replay (default: the run's own when it still exists, "
    "else the one running maggot).",
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
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Replay N times from the same worktree and say whether the replays agree.",
)
@click.option(
    "--strict-env",
    is_flag=True,
    help="Refuse to run when the interpreter, platform, packages or variables differ.",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False),
    help="Repository to rebuild in (default: the one holding the current directory, "
    "else the one holding RUN).",
)
@click.option(
    "--launcher-cmd",
    metavar="COMMAND",
    help="Start the replayed program with this launcher (e.g. 'mpirun -n 2', "
    "'srun -n 2'), for a multi-process run whose launch was not recorded.",
)
@link_options
def reproduce_command(
    run: str,
    yes: bool,
    dry_run: bool,
    keep: bool,
    worktree: str | None,
    python: str | None,
    rtol: float,
    atol: float,
    repeat: int,
    strict_env: bool,
    repo: str | None,
    links: tuple[str, ...],
    no_inputs: bool,
    launcher_cmd: str | None,
) -> None:
    """Rebuild RUN's code state in a separate git worktree, replay it, compare results.

    The replay records into RUN.repro-N next to RUN; RUN itself is never modified,
    and neither are your working tree, index, branches or stash.

    \b
    Before the replay, the plan lists environment drift (interpreter, platform,
    packages, environment variables) and recorded inputs that changed since the
    run. After a mismatch, the likely causes are listed, most telling first.

    \b
    Git-ignored files the run read inside the repository (data/, checkpoints/)
    are provided at the same paths in the worktree from your checkout: copied
    up to 64 MiB (or cloned where the file system can), linked read-only above.
    Your checkout is never written through them.

    \b
    Exit codes: 0 every recorded result came back, 1 a result differs or is missing
    (or the replay failed, or --strict-env found drift), 2 usage error, 130 interrupted.
    """
    from maggot import explain
    from maggot import reproduce as reproducing

    check_link_options(links, no_inputs)
    launcher: list[str] | None = None
    if launcher_cmd is not None:
        try:
            launcher = shlex.split(launcher_cmd)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--launcher-cmd") from None
        if not launcher:
            raise click.BadParameter("empty command", param_hint="--launcher-cmd")
    plan = reproducing.plan_reproduction(
        showrun.resolve_run_dir(run),
        repo_path=repo,
        python=python,
        worktree=worktree,
        launcher_cmd=launcher,
        links=links,
        provide_inputs=not no_inputs,
    )
    inputs_plan = plan.inputs
    provided = inputs_plan is not None and not inputs_plan.disabled
    checks = explain.preflight(
        plan.run_dir,
        plan.python,
        plan.repository.toplevel,
        inside_changes=inputs_plan.changes if inputs_plan is not None and provided else None,
    )
    _print_plan(plan)
    print_preflight(checks, warn_inside=not provided)
    if strict_env:
        refuse_drift(checks)
    if dry_run:
        return
    unsupplied = reproducing.unsupplied_arguments(plan)
    if unsupplied:
        raise CommandError(
            "cannot replay: redacted when recorded and not supplied: " + ", ".join(unsupplied)
        )
    if not yes:
        confirm_or_refuse("the replay")
    started = 0

    def announce(replay: Replay) -> None:
        nonlocal started
        started += 1
        if started == 1:
            for note in replay.notes:
                warn(note)
            if keep:
                click.echo(
                    f"worktree kept at {printable(replay.worktree)} (remove it with "
                    f"'git worktree remove --force {printable(replay.worktree)}')"
                )
        if repeat > 1:
            click.echo(paint(f"replay {started} of {repeat}", bold=True))

    # SIGTERM/SIGHUP (a timeout, a closed session) end the replay and remove the worktree
    with signals.terminations_raise():
        outcomes = reproducing.reproduce_repeatedly(
            plan, repeat, keep=keep, rtol=rtol, atol=atol, on_start=announce
        )
    agreements = None
    if repeat > 1:
        agreements = explain.replay_agreement([item.replay_dir for item in outcomes], rtol, atol)
        print_repeated(outcomes, agreements)
    else:
        _print_outcome(outcomes[0])
    if not all(outcome.reproduced for outcome in outcomes):
        print_explanation(explain.explain_mismatch(checks, agreements))
        click.get_current_context().exit(1)
