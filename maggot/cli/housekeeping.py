"""``maggot rm``, ``maggot mv`` and ``maggot gc``: tidy up run directories."""

from __future__ import annotations

import os

import click

from maggot import housekeeping, showrun
from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand
from maggot.terminal import printable


@click.command("rm", cls=MaggotCommand)
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("--purge", is_flag=True, help="Delete the runs instead of moving them to the trash.")
@click.option("--force", is_flag=True, help="Also remove runs whose status is still 'running'.")
@click.option(
    "--empty-trash", "trash_of", is_flag=False, flag_value=summaries.DEFAULT_DIR, default=None,
    metavar="[DIR]", help="Delete the trash of DIR (default: experiments) for good.",
)  # fmt: skip
@click.pass_context
def rm_command(
    ctx: click.Context, runs: tuple[str, ...], purge: bool, force: bool, trash_of: str | None
) -> None:
    """Move runs to the trash (DIR/.maggot-trash), with their reproductions.

    Listings never show the trash; move a run back out of it to restore it.
    A run whose status is 'running' is refused unless --force (a run of this
    host whose process has ended counts as killed, not running). A symbolic
    link to a run is removed itself, never its target. --purge takes a run
    out of the listing in one rename before deleting its files: a run whose
    files cannot all be deleted, or whose deletion is interrupted, is left
    in the trash, said so on stderr (exit 1), never half deleted in its
    place. A run that cannot be moved at all stays, said so on stderr (exit
    1), and the other runs are still removed. --empty-trash empties every
    trash folder under DIR, subfolders' too.
    """
    if trash_of is not None:
        if runs:
            raise click.UsageError("--empty-trash takes no RUN")
        deleted = housekeeping.empty_trash(trash_of)
        for path in deleted:
            click.echo(f"deleted {printable(path)}")
        if not deleted:
            click.echo(f"maggot: no trash under {printable(trash_of)}", err=True)
        return
    if not runs:
        raise click.UsageError("give the runs to remove")
    run_dirs = [showrun.resolve_run_dir(run) for run in runs]
    failed = False
    # each run is reported once done: an interruption leaves the earlier ones reported
    for removal in housekeeping.remove_runs(run_dirs, purge=purge, force=force):
        run_dir = printable(removal.run_dir)
        if removal.not_removed is not None:
            failed = True
            click.echo(
                f"maggot: {run_dir}: not removed ({printable(removal.not_removed)})", err=True
            )
        elif removal.not_deleted is not None:
            failed = True
            click.echo(
                f"maggot: {run_dir}: not deleted ({printable(removal.not_deleted)}); "
                f"what is left of it is in {printable(str(removal.trashed_to))}",
                err=True,
            )
        elif removal.trashed_to is None:
            click.echo(f"deleted {run_dir}")
        else:
            click.echo(f"moved {run_dir} to {printable(removal.trashed_to)}")
    if failed:
        ctx.exit(1)


@click.command("mv", cls=MaggotCommand)
@click.argument("run")
@click.argument("new_name")
@click.option("--force", is_flag=True, help="Rename even when the status is still 'running'.")
def mv_command(run: str, new_name: str, force: bool) -> None:
    """Rename RUN to NEW_NAME (in the same folder), keeping it reproducible.

    run.json's name follows (the old name is kept in renamed_from), and so do
    the run's reproductions (NEW_NAME.repro-N) and, for a sweep's run, the
    sweep's job file. Names starting with '.', ending in '.repro-N', or not
    safe as a directory on every system are refused, and so is renaming a
    reproduction on its own (rename its run: it follows).
    """
    try:
        housekeeping.check_run_name(new_name)
    except housekeeping.RunNameError as error:
        raise click.BadParameter(str(error), param_hint="NEW_NAME") from None
    new_dir = housekeeping.rename_run(showrun.resolve_run_dir(run), new_name, force=force)
    click.echo(printable(new_dir))


@click.command("gc", cls=MaggotCommand)
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option(
    "--dir", "directory", default=summaries.DEFAULT_DIR, show_default=True, metavar="DIR",
    help="Where to look for replay claims and sweeps.",
)  # fmt: skip
def gc_command(dry_run: bool, directory: str) -> None:
    """Remove what killed reproductions left behind, listing each item.

    \b
    - worktrees of this repository that 'maggot reproduce' made in the
      temporary directory, once the reproduce that made them has ended
      (including ones kept with --keep; --worktree PATH ones are never touched)
      and no process works in them any more: one whose replay still runs is
      listed as kept;
    - their temporary directories (only your own; one that does not name
      its owner once untouched for an hour);
    - replay claims: DIR/RUN.repro-N directories where nothing was recorded;
    - frozen code trees of sweeps under DIR/.sweeps none of whose jobs waits
      or runs ('maggot sweep --resume' rebuilds one);
    - half-deleted runs: hidden .maggot-deleting-PID-... folders under DIR
      that 'maggot rm --purge' (or a run replacing an older one) left when
      killed while deleting, once process PID has ended.
    """
    from maggot.gitsnap import find_toplevel

    repository = find_toplevel(os.getcwd())
    leftovers = housekeeping.find_leftovers(repository, directory)
    for leftover in leftovers:
        path = printable(leftover.path)
        if leftover.kept_because is not None:
            click.echo(f"keeping {leftover.kind} {path}: {leftover.kept_because}")
        else:
            verb = "would remove" if dry_run else "removing"
            click.echo(f"{verb} {leftover.kind} {path}")
    if not dry_run:
        housekeeping.remove_leftovers(repository, leftovers)
    if all(leftover.kept_because is not None for leftover in leftovers):
        click.echo("maggot: nothing to collect", err=True)
