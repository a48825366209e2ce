"""``maggot sweep``: many runs of one command from one frozen code state."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from maggot.cli.base import CommandError, MaggotCommand, MaggotGroup, paint, warn
from maggot.cli.run import (
    IF_EXISTS_CHOICES,
    metric_pattern_option,
    name_option,
    parse_assignments,
    results_option,
)

if TYPE_CHECKING:
    from maggot.sweep import JobState, SweepRecord

EXIT_INTERRUPTED = 130


class SweepGroup(MaggotGroup):
    """``maggot sweep -p ... -- CMD`` launches; ``maggot sweep status`` follows up."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return "launch", self.commands["launch"], args


@click.group(
    "sweep",
    cls=SweepGroup,
    invoke_without_command=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
def sweep_group() -> None:
    """Run a command for many parameter values, from one frozen code state.

    \b
      maggot sweep -p lr=0.01,0.1 -p e=10,30 -j 2 -- python train.py --lr {lr} --epochs {e}
      maggot sweep status [ID]

    'maggot sweep [OPTIONS] -- COMMAND' is short for 'maggot sweep launch'; see
    'maggot sweep launch --help' for its options.
    """


class Progress:
    """Counts and ETA: one redrawn line on a terminal, a plain line per finished job otherwise."""

    def __init__(self, total: int, parallel: int | None = None) -> None:
        self.total = total
        self.started = time.monotonic()
        self.terminal = _stderr_is_terminal()
        self.reported: set[int] = set()
        self.known: dict[int, JobState] = {}
        # a local pool knows how many jobs run: min(-j, jobs left)
        self.parallel = parallel
        self._drawn = False

    def update(self, states: Sequence[JobState]) -> None:
        """Take in the latest states of some jobs and show them."""
        self.known.update((state.job, state) for state in states)
        finished = [state for state in self.known.values() if state.state in _final_states()]
        if self.terminal:
            self._draw(list(self.known.values()), len(finished))
            return
        for state in finished:
            if state.job not in self.reported:
                self.reported.add(state.job)
                click.echo(
                    f"[{len(self.reported)}/{self.total}] job {state.job} {state.state}"
                    + (f": {_shown(state.run_dir)}" if state.run_dir else "")
                    + (f" ({state.detail})" if state.detail else ""),
                    err=True,
                )

    def _draw(self, states: Sequence[JobState], finished: int) -> None:
        from maggot.sweep import counts

        totals = counts(states)
        if self.parallel is not None:
            totals["running"] = min(self.parallel, self.total - finished)
        width = 24
        filled = width * finished // max(self.total, 1)
        elapsed = time.monotonic() - self.started
        eta = "--:--"
        if finished:
            eta = _clock(elapsed / finished * (self.total - finished))
        failed = totals.get("failed", 0) + totals.get("lost", 0) + totals.get("interrupted", 0)
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{self.total} "
            f"done, {totals.get('completed', 0)} ok, {failed} failed, "
            f"{totals.get('running', 0)} running, ETA {eta} "
        )
        click.echo(line, err=True, nl=False)
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            click.echo("", err=True)
            self._drawn = False


def _shown(run_dir: str | None) -> str:
    """A run's path as the user can type it: relative when it is below here."""
    import os

    if not run_dir:
        return ""
    relative = os.path.relpath(run_dir)
    return run_dir if relative.startswith(os.pardir) else relative


def _final_states() -> tuple[str, ...]:
    from maggot.sweep import FINAL_STATES

    return FINAL_STATES


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@sweep_group.command("launch", cls=MaggotCommand)
@click.option(
    "-p", "--param", "parameters", multiple=True, metavar="KEY=VALUES",
    help="Values of {KEY}: a,b,c, START:STOP:log:N, START:STOP:lin:N or @FILE (one a line).",
)  # fmt: skip
@click.option("--zip", "zip_lists", is_flag=True, help="Pair the lists instead of crossing them.")
@click.option(
    "--random", "random_count", type=click.IntRange(min=1), metavar="N",
    help="N random draws from the combinations.",
)  # fmt: skip
@click.option("--seed", type=int, help="Seed for --random (the same seed, the same draws).")
@click.option(
    "-j", "--jobs", "parallel", type=click.IntRange(min=1), default=1, show_default=True,
    help="Jobs at once (local launcher).",
)  # fmt: skip
@click.option(
    "--launcher", type=click.Choice(("local", "slurm")), default=None,
    help="local (the default) runs the jobs here; slurm submits a job array (needs "
    "maggot[slurm]). --resume uses the sweep's own unless given.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the jobs and create nothing.")
@click.option("-y", "--yes", is_flag=True, help="Launch more than 1,000 jobs.")
@click.option("--detach", is_flag=True, help="Slurm: return after submitting.")
@click.option(
    "--resume", "resume_id", metavar="ID", help="Launch the jobs of sweep ID that did not complete."
)
@name_option
@click.option(
    "--experiments-dir", default="experiments", show_default=True, metavar="DIR",
    help="Where runs (and the sweep's record, in DIR/.sweeps) are created.",
)  # fmt: skip
@click.option(
    "--if-exists", type=click.Choice(IF_EXISTS_CHOICES), default="increment", show_default=True,
    help="When a job's run directory exists.",
)  # fmt: skip
@results_option
@metric_pattern_option
@click.option(
    "--slurm-parallelism", type=click.IntRange(min=1), metavar="N",
    help="Slurm: array tasks running at once.",
)  # fmt: skip
@click.option("--partition", metavar="NAME", help="Slurm partition.")
@click.option("--time", "time_minutes", type=click.IntRange(min=1), metavar="MIN",
              help="Slurm time limit per job, in minutes.")  # fmt: skip
@click.option("--cpus", type=click.IntRange(min=1), metavar="N", help="Slurm CPUs per job.")
@click.option("--mem", "mem_gb", type=click.FloatRange(min=0), metavar="GB",
              help="Slurm memory per job, in GB.")  # fmt: skip
@click.option("--gpus", type=click.IntRange(min=0), metavar="N", help="Slurm GPUs per job.")
@click.option(
    "--sbatch", "sbatch_options", multiple=True, metavar="KEY=VALUE", callback=parse_assignments,
    help="Any other sbatch option, e.g. --sbatch qos=high (repeatable).",
)  # fmt: skip
@click.option(
    "--no-inputs", is_flag=True,
    help="Do not link the checkout's git-ignored files and directories into the frozen tree.",
)  # fmt: skip
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def sweep_launch(
    parameters: tuple[str, ...],
    zip_lists: bool,
    random_count: int | None,
    seed: int | None,
    parallel: int,
    launcher: str | None,
    dry_run: bool,
    yes: bool,
    detach: bool,
    resume_id: str | None,
    name_template: str | None,
    experiments_dir: str,
    if_exists: str,
    results_file: str | None,
    metric_pattern: str | None,
    slurm_parallelism: int | None,
    partition: str | None,
    time_minutes: int | None,
    cpus: int | None,
    mem_gb: float | None,
    gpus: int | None,
    sbatch_options: tuple[tuple[str, Any], ...],
    no_inputs: bool,
    command: tuple[str, ...],
) -> None:
    """Launch a sweep: maggot sweep [OPTIONS] -- COMMAND with {KEY} placeholders.

    Every combination of the -p lists (or the lists paired with --zip, or N
    random draws with --random) is one job, and each job is a 'maggot run' of
    the filled-in command. The code state is snapshotted once, when the sweep
    starts, and rebuilt in DIR/.sweeps/ID/code; every job runs from there and
    records that snapshot, so edits you make while jobs wait never leak in.
    Git-ignored files and directories of your checkout (data/, caches) are
    linked into that tree, so jobs read them by relative paths (--no-inputs:
    not linked); sweep.json lists them.

    A failing job never stops the others; the sweep exits 1 and lists them.
    Ctrl-C stops launching, interrupts running jobs and records their status;
    --resume ID launches what did not complete.
    """
    from maggot import launch, params, sweep
    from maggot.launchers import slurm

    if resume_id is not None and launcher is None:
        try:
            launcher = sweep.load_sweep(sweep.find_sweep(resume_id, experiments_dir)).spec.launcher
        except sweep.SweepError as error:
            raise CommandError(str(error)) from None
    launcher = launcher or "local"
    if zip_lists and random_count:
        raise click.UsageError("--zip and --random cannot be used together")
    if seed is not None and not random_count:
        raise click.UsageError("--seed goes with --random N")
    if detach and launcher != "slurm":
        raise click.UsageError("--detach works with --launcher slurm only")
    slurm_options = slurm.SlurmOptions(
        parallelism=slurm_parallelism,
        partition=partition,
        time_minutes=time_minutes,
        cpus=cpus,
        mem_gb=mem_gb,
        gpus=gpus,
        sbatch=tuple((key, params.format_value(value)) for key, value in sbatch_options),
    )
    try:
        if launcher == "slurm":
            slurm.check_available()
        if resume_id is not None:
            if command or parameters:
                raise click.UsageError("--resume ID takes no command or -p: they are recorded")
            record = sweep.load_sweep(sweep.find_sweep(resume_id, experiments_dir))
            indices = sweep.unfinished(sweep.job_states(record, is_alive=_liveness(record)))
            if not indices:
                click.echo(f"sweep {record.sweep_id}: every job completed or is running")
                _remove_tree_when_done(record)
                return
            if record.unsupplied and not dry_run:
                raise CommandError(sweep.missing_secrets_message(record))
        else:
            spec = sweep.plan_sweep(
                command,
                parameters,
                mode="zip" if zip_lists else "random" if random_count else "grid",
                count=random_count,
                seed=seed,
                experiments_dir=experiments_dir,
                launcher=launcher,
                launcher_options=slurm_options.to_json() if launcher == "slurm" else {},
                name_template=name_template,
                if_exists=if_exists,
                results_file=results_file,
                metric_pattern=metric_pattern,
                allow_many=yes,
            )
    except (params.ParameterError, launch.LaunchError, slurm.SlurmError) as error:
        raise click.UsageError(str(error)) from None
    if resume_id is None:
        indices = list(range(len(spec.jobs)))
    at_once = parallel if launcher == "local" else slurm_parallelism or len(indices)
    shared = sweep.shared_results_file(spec if resume_id is None else record.spec, indices, at_once)
    if shared:
        raise click.UsageError(shared)
    if resume_id is None:
        if dry_run:
            _print_dry_run(spec)
            return
        record = sweep.create_sweep(spec, provide_inputs=not no_inputs)
        click.echo(
            f"sweep {record.sweep_id}: {len(indices)} jobs, {launcher} launcher, code frozen in "
            f"{record.code_dir or record.job_cwd}",
            err=True,
        )
        for note in record.notes:
            warn(note)
    elif dry_run:
        click.echo(f"sweep {record.sweep_id}: would launch jobs {', '.join(map(str, indices))}")
        return
    else:
        click.echo(f"sweep {record.sweep_id}: resuming {len(indices)} jobs", err=True)
        if sweep.ensure_code_tree(record):
            click.echo(f"sweep {record.sweep_id}: rebuilt {record.code_dir}", err=True)
    if launcher == "slurm":
        _launch_slurm(record, indices, slurm_options, detach)
    else:
        _launch_local(record, indices, parallel)


def _remove_tree_when_done(record: SweepRecord, states: list[JobState] | None = None) -> None:
    """Once every job completed, the frozen tree is not needed (--resume rebuilds it).

    ``states``: every job's, when the caller just read them.
    """
    from maggot import sweep

    if states is None or len(states) != len(record.spec.jobs):
        states = sweep.job_states(record, is_alive=_liveness(record))
    if all(state.state == "completed" for state in states):
        sweep.remove_code_tree(record)


def _print_dry_run(spec: Any) -> None:
    from maggot import params, sweep

    # shown as sweep.json would keep it: terminals are logged and screens shared too
    template, _ = sweep.redact_template(spec.command)
    click.echo(f"{len(spec.jobs)} jobs ({spec.mode}), {spec.launcher} launcher:")
    for index, values in enumerate(spec.jobs):
        click.echo(f"  {index}: {shlex.join(params.render_command(template, values))}")


def _liveness(record: SweepRecord) -> Any:
    from maggot.launchers import slurm

    return slurm.liveness(record)


def _launch_local(record: SweepRecord, indices: list[int], parallel: int) -> None:
    from maggot import sweep
    from maggot.launchers import local

    progress = Progress(len(indices), parallel)

    def on_progress(index: int | None) -> None:
        # only the job that just finished is read again: the others did not change
        progress.update(sweep.job_states(record, [] if index is None else [index]))

    outcome = local.run_local(record, indices, parallel, on_progress)
    progress.close()
    if outcome.terminated is not None:
        # the jobs recorded how they ended; the sweep ends as a terminated process does
        click.echo(f"sweep {record.sweep_id}: resume with: maggot sweep --resume {record.sweep_id}")
        raise outcome.terminated
    _finish(record, indices, interrupted=outcome.interrupted)


def _launch_slurm(record: SweepRecord, indices: list[int], options: Any, detach: bool) -> None:
    from maggot.launchers import slurm

    try:
        array_id = slurm.submit(record, indices, options)
    except slurm.SlurmError as error:
        raise CommandError(str(error)) from None
    click.echo(f"sweep {record.sweep_id}: submitted as Slurm job array {array_id}", err=True)
    if detach:
        click.echo(f"follow it with: maggot sweep status {record.sweep_id}")
        return
    progress = Progress(len(indices))
    try:
        slurm.wait(record, indices, progress.update)
    except KeyboardInterrupt:
        progress.close()
        click.echo(
            f"maggot: stopped waiting; the jobs keep running (scancel {array_id} stops them, "
            f"maggot sweep status {record.sweep_id} follows them)",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    progress.close()
    _finish(record, indices, interrupted=False)


def _finish(record: SweepRecord, indices: list[int], interrupted: bool) -> None:
    from maggot import sweep

    states = sweep.job_states(record, indices, _liveness(record))
    totals = sweep.counts(states)
    summary = ", ".join(f"{count} {state}" for state, count in sorted(totals.items()))
    click.echo(f"sweep {record.sweep_id}: {summary}")
    bad = [state for state in states if state.state not in ("completed",)]
    for state in bad:
        click.echo(
            f"  job {state.job} {paint(state.state, 'red')}: {_shown(state.run_dir) or '(no run)'}"
            + (f" ({state.detail})" if state.detail else ""),
        )
    if bad:
        click.echo(f"resume with: maggot sweep --resume {record.sweep_id}")
    else:
        _remove_tree_when_done(record, states)
    if interrupted:
        click.echo("maggot: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if bad:
        click.get_current_context().exit(1)


@sweep_group.command("status", cls=MaggotCommand)
@click.argument("sweep_id", metavar="ID", required=False)
@click.option(
    "--experiments-dir", default="experiments", show_default=True, metavar="DIR",
    help="The experiments directory holding the sweep.",
)  # fmt: skip
@click.option(
    "--format", "output_format", type=click.Choice(("table", "json")), default="table",
    show_default=True, help="json is for scripts.",
)  # fmt: skip
@click.option("--all", "list_all", is_flag=True, help="List every sweep, with job counts.")
def sweep_status(
    sweep_id: str | None, experiments_dir: str, output_format: str, list_all: bool
) -> None:
    """Show each job of sweep ID (done, failed, running, pending).

    Without ID, the sweep that started last (the line on stderr names it);
    --all lists every sweep instead.
    """
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    from maggot import sweep

    if sweep_id is not None and list_all:
        raise click.UsageError("give an ID or --all, not both")
    if sweep_id is None and not list_all:
        sweep_id = sweep.newest_sweep(experiments_dir)
        count = len(sweep.list_sweeps(experiments_dir))
        click.echo(
            f"maggot: sweep {sweep_id}, the newest of {count} under "
            f"{sweep.sweeps_root(experiments_dir)} (--all lists them)",
            err=True,
        )
    if sweep_id is None:
        rows = []
        for found in sweep.list_sweeps(experiments_dir):
            record = sweep.load_sweep(sweep.find_sweep(found, experiments_dir))
            totals = sweep.counts(sweep.job_states(record, is_alive=_liveness(record)))
            rows.append({"id": found, "jobs": len(record.spec.jobs), **totals})
        if output_format == "json":
            click.echo(json.dumps(rows, indent=2, sort_keys=True))
        elif not rows:
            click.echo(f"maggot: no sweeps under {experiments_dir}", err=True)
        else:
            click.echo(tabulate(rows, headers="keys", disable_numparse=True))
        return
    record = sweep.load_sweep(sweep.find_sweep(sweep_id, experiments_dir))
    states = sweep.job_states(record, is_alive=_liveness(record))
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "id": record.sweep_id,
                    "counts": sweep.counts(states),
                    "jobs": [state._asdict() for state in states],
                },
                indent=2,
                sort_keys=True,
            )
        )
        return
    table = [
        [
            state.job,
            paint(state.state, _STATE_COLORS.get(state.state)),
            _shown(state.run_dir),
            " ".join(f"{key}={value}" for key, value in state.values.items()),
            state.detail,
        ]
        for state in states
    ]
    click.echo(tabulate(table, headers=["job", "state", "run", "values", "detail"]))
    summary = ", ".join(f"{count} {state}" for state, count in sorted(sweep.counts(states).items()))
    click.echo(f"sweep {record.sweep_id} ({record.spec.launcher}): {summary}")


_STATE_COLORS = {
    "completed": "green",
    "failed": "red",
    "lost": "red",
    "interrupted": "yellow",
    "terminated": "yellow",
    "removed": "yellow",
    "running": "cyan",
}
