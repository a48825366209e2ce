"""``maggot rerun``: a new run from a recorded run, with parameters changed."""

from __future__ import annotations

import shlex

import click

from maggot import showrun
from maggot.cli.base import MaggotCommand, confirm_or_refuse, paint, warn
from maggot.cli.explain import check_link_options, link_options
from maggot.cli.reproduce import print_inputs_plan


@click.command("rerun", cls=MaggotCommand)
@click.argument("run")
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", required=True,
    help="Change a parameter of the recorded command (repeatable).",
)  # fmt: skip
@click.option(
    "--code", type=click.Choice(("recorded", "current")), default="recorded", show_default=True,
    help="Run the recorded code state (in a separate worktree) or your working tree as it is.",
)  # fmt: skip
@click.option("-y", "--yes", is_flag=True, help="Run without asking.")
@click.option("--dry-run", is_flag=True, help="Print the plan and run nothing.")
@link_options
def rerun_command(
    run: str,
    settings: tuple[str, ...],
    code: str,
    yes: bool,
    dry_run: bool,
    links: tuple[str, ...],
    no_inputs: bool,
) -> None:
    """Run RUN again as a new run, with --set KEY=VALUE changing its parameters.

    The value is replaced where the option appears in the recorded command
    (--lr 0.1, --lr=0.1, lr=0.1); for runs of a sweep the command template is
    filled in again. The new run goes next to RUN, named from its values, and
    its run.json records rerun_of. With --code recorded (the default) it runs
    on RUN's code state, rebuilt in a separate git worktree as reproduce does,
    with the git-ignored files RUN read provided from your checkout (--link
    PATH adds more, --no-inputs provides none).
    """
    from maggot import params
    from maggot import rerun as reruns

    changes: dict[str, str] = {}
    for setting in settings:
        key, equals, value = setting.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{setting!r}: expected KEY=VALUE", param_hint="--set")
        changes[key] = value
    check_link_options(links, no_inputs)
    if code == "current" and (links or no_inputs):
        raise click.UsageError("--link and --no-inputs apply to --code recorded only")
    run_dir = showrun.resolve_run_dir(run)
    try:
        plan = reruns.plan_rerun(run_dir, changes, code, links=links, provide_inputs=not no_inputs)
    except params.ParameterError as error:
        raise click.UsageError(str(error)) from None
    click.echo(paint("Rerun plan", bold=True))
    rows = [
        ("run", plan.run_dir),
        ("code", "recorded state, in a temporary worktree" if code == "recorded"
         else "your working tree as it is now"),
        *[(f"set {key}", f"{old!r} -> {new!r}") for key, (old, new) in plan.changes.items()],
        ("command", shlex.join(plan.command)),
        ("records to", plan.request.experiments_dir),
    ]  # fmt: skip
    for label, value in rows:
        click.echo(f"  {label:<11}{value}")
    if plan.worktree_plan is not None and plan.worktree_plan.inputs is not None:
        print_inputs_plan(plan.worktree_plan.inputs)
        for change in plan.worktree_plan.inputs.changes:
            # a new run may well mean to read the new content: said, not refused
            warn(f"{change.path}: {change.state} since the run; the rerun reads it as it is now")
    for note in plan.notes:
        warn(note)
    if dry_run:
        return
    if not yes:
        confirm_or_refuse("the rerun")

    def announce(new_run: str) -> None:
        click.echo(f"maggot: recording {new_run}", err=True)

    outcome = reruns.execute(plan, on_start=announce)
    for warning in outcome.warnings:
        warn(warning)
    click.echo(f"maggot: {outcome.run_dir}: {outcome.status}", err=True)
    from maggot.launch import shell_exit_code

    click.get_current_context().exit(shell_exit_code(outcome.exit_code))
