"""``maggot verify``: check runs against the manifests written when they ended."""

from __future__ import annotations

import json

import click

from maggot import manifest, showrun
from maggot.cli.base import MaggotCommand, complete_run, paint, warn


def _as_json(verification: manifest.Verification) -> dict[str, object]:
    return {
        "run": verification.run_dir,
        "recorded": verification.recorded,
        "intact": verification.intact,
        "checked": verification.checked,
        "changed": [item._asdict() for item in verification.changed],
        "missing": list(verification.missing),
        "added": list(verification.added),
        "unverified": [item._asdict() for item in verification.unverified],
        "renamed_from": verification.renamed_from,
    }


def _print_text(verification: manifest.Verification) -> None:
    run_dir = verification.run_dir
    if not verification.recorded:
        warn(f"{run_dir}: no manifest: not recorded (a run from before maggot wrote one, "
             "or one that has not ended)")  # fmt: skip
        return
    for item in verification.changed:
        click.echo(f"{run_dir}: {paint('changed', 'red')}  {item.path} ({item.reason})")
    for path in verification.missing:
        click.echo(f"{run_dir}: {paint('missing', 'red')}  {path}")
    for path in verification.added:
        click.echo(f"{run_dir}: {paint('added', 'yellow')}    {path}")
    for item in verification.unverified:
        click.echo(f"{run_dir}: {paint('unverified', 'yellow')} {item.path} ({item.reason})")
    if verification.intact:
        renamed = verification.renamed_from
        since = f"; renamed from {renamed} by maggot mv" if renamed is not None else ""
        click.echo(
            f"{run_dir}: {paint('ok', 'green')} ({verification.checked} files intact{since})"
        )


@click.command("verify", cls=MaggotCommand)
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, shell_complete=complete_run)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def verify_command(runs: tuple[str, ...], output_format: str) -> None:
    """Re-hash each RUN and compare it with the manifest written when it ended.

    Reports files that changed, went missing or were added since. Files too
    large to hash when the run ended are checked by size (and reported as
    unverified when only their modification time moved). Tags and notes
    (maggot tag, maggot note) are not judged; a run.json that differs only by
    the renaming maggot mv wrote is intact.

    \b
    Exit codes: 0 nothing changed or missing (added files are reported, not
    failures; runs without a manifest say "not recorded"), 1 a file changed or
    is missing, 2 usage error.
    """
    verifications = [manifest.verify_run(showrun.resolve_run_dir(run)) for run in runs]
    if output_format == "json":
        click.echo(json.dumps([_as_json(item) for item in verifications], indent=2))
    else:
        for verification in verifications:
            _print_text(verification)
    if not all(item.intact for item in verifications):
        click.get_current_context().exit(1)
