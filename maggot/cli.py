"""The ``maggot`` command line: click commands that parse, call the library and print."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import click

import maggot
from maggot import codediff, showrun, store
from maggot import summarize as summaries
from maggot.errors import MaggotError

if TYPE_CHECKING:
    from maggot.reproduce import ReplayOutcome, ReproducePlan

EXIT_INTERRUPTED = 130
EXIT_BUG = 3
_CHANGE_COLORS = {codediff.CHANGED: "yellow", codediff.ADDED: "green", codediff.REMOVED: "red"}


class CommandError(click.ClickException):
    """An expected failure: one ``maggot: <message>`` line on stderr, exit 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"maggot: {self.format_message()}", file=file, err=file is None)


@contextlib.contextmanager
def reports_errors() -> Iterator[None]:
    """Report MaggotError and OS errors as one ``maggot: ...`` line and exit 1.

    Every command of the ``main`` group already runs inside it; use it as
    ``with reports_errors():`` or ``@reports_errors()`` elsewhere.
    """
    try:
        yield
    except MaggotError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise  # click quietly ends on a closed pipe (``maggot summarize | head``)
        where = f"{error.filename}: " if error.filename else ""
        raise CommandError(f"{where}{error.strerror or error}") from None


def use_color() -> bool:
    """Colors only on a terminal, and never with NO_COLOR set."""
    if "NO_COLOR" in os.environ:
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, color: str | None = None, bold: bool = False) -> str:
    """``text`` styled when colors are on, unchanged otherwise."""
    return click.style(text, fg=color, bold=bold or None) if use_color() else text


def warn(message: str) -> None:
    """One ``maggot: warning: ...`` line on stderr."""
    click.echo(f"maggot: warning: {message}", err=True)


class MaggotCommand(click.Command):
    """A command whose expected failures are one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        with reports_errors():
            return super().invoke(ctx)


class MaggotGroup(click.Group):
    """The ``maggot`` group: one-line errors, exit 2 on usage errors, 130 on Ctrl-C."""

    command_class = MaggotCommand

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            click.echo(f"maggot: {error.format_message()}{hint}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort as error:
            if isinstance(error.__cause__, KeyboardInterrupt):
                click.echo("maggot: interrupted", err=True)
                sys.exit(EXIT_INTERRUPTED)
            click.echo("maggot: aborted", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("\nmaggot: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as error:  # a bug, not a user error: say so, keep the details
            sys.exit(_report_bug(error))
        # an int here comes from ctx.exit(code); the commands themselves return None
        sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def _report_bug(error: Exception) -> int:
    """One line on stderr for an unexpected error; the traceback goes to a file."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="maggot-error-", suffix=".log", delete=False, encoding="utf-8"
    ) as log:
        traceback.print_exception(type(error), error, error.__traceback__, file=log)
    click.echo(
        f"maggot: unexpected error ({type(error).__name__}: {error}); this is a bug, "
        f"please report it with the traceback in {log.name}",
        err=True,
    )
    return EXIT_BUG


@click.group(
    cls=MaggotGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    maggot.__version__, "--version", prog_name="maggot", message="%(prog)s %(version)s"
)
def main() -> None:
    """Record, compare and reproduce experiment runs.

    A RUN argument is a run directory (one holding .maggot/), or the name of a
    run under ./experiments.

    \b
    Exit codes: 0 ok, 1 expected failure, 2 usage error, 3 bug, 130 interrupted.
    Colors only on a terminal and never when NO_COLOR is set.

    \b
    Shell completion: add one line to your shell's startup file:
      bash  eval "$(_MAGGOT_COMPLETE=bash_source maggot)"     (~/.bashrc)
      zsh   eval "$(_MAGGOT_COMPLETE=zsh_source maggot)"      (~/.zshrc)
      fish  _MAGGOT_COMPLETE=fish_source maggot | source      (~/.config/fish/config.fish)
    """


def _parse_filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[summaries.Condition]:
    try:
        return [summaries.parse_condition(value) for value in values]
    except summaries.FilterSyntaxError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


@main.command("summarize")
@click.argument("directory", metavar="DIR")
@click.option(
    "--sort", "sort_key", metavar="KEY", help="Sort by this metric (or run, status, ...)."
)
@click.option("--ascending", is_flag=True, help="Sort smallest first (default: largest first).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(summaries.FORMATS),
    default="table",
    show_default=True,
    help="json, csv and markdown are for scripts and documents.",
)
@click.option("--params", "with_params", is_flag=True, help="Add a column per config value.")
@click.option(
    "--filter", "conditions", multiple=True, metavar="EXPR", callback=_parse_filters,
    help="Keep runs where KEY OP VALUE holds (OP: = == != < <= > >=); repeat to AND.",
)  # fmt: skip
@click.option(
    "--depth", type=click.IntRange(min=0), default=None,
    help=f"Look this many folder levels below DIR for runs [default: {summaries.DEFAULT_DEPTH}].",
)  # fmt: skip
@click.option("--recursive", is_flag=True, help="Look at any depth below DIR.")
def summarize_command(
    directory: str,
    sort_key: str | None,
    ascending: bool,
    output_format: str,
    with_params: bool,
    conditions: list[summaries.Condition],
    depth: int | None,
    recursive: bool,
) -> None:
    """List the runs under DIR with their status and metrics.

    One row per run and a column per metric in results.json, named by its
    dotted key (fold1.loss). --params adds a column per config value, named by
    its dotted key (model.C), or config.KEY when a metric has the same name.

    --filter and --sort keys are run, status, a metric, or a config key
    (config.KEY always means the config value); numbers compare numerically,
    anything else as text; runs without the key never match a filter and sort
    last. Runs in different folders with the same name are shown by their path
    relative to DIR. Corrupt or unfinished runs are listed with a warning on
    stderr.
    """
    if depth is not None and recursive:
        raise click.UsageError("--depth and --recursive cannot be used together")
    max_depth = None if recursive else (summaries.DEFAULT_DEPTH if depth is None else depth)
    result = summaries.summarize(
        directory,
        max_depth=max_depth,
        with_params=with_params,
        conditions=conditions,
        sort_key=sort_key,
        ascending=ascending,
    )
    for message in result.warnings:
        warn(message)
    if not result.runs_found:
        click.echo(f"maggot: no runs under {directory}", err=True)
    elif not result.rows:
        click.echo("maggot: no runs match the filters", err=True)
    click.echo(summaries.render(result, output_format), nl=False)


@main.command()
@click.argument("run")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def show(run: str, output_format: str) -> None:
    """Show everything about one run.

    Status, times, host, python, command, git snapshot, config, results,
    registered directories and log files. Parts a run lacks (maggot 0.2 runs
    have no run.json and no snapshot) are listed under "problems".
    """
    details = showrun.load_details(showrun.resolve_run_dir(run))
    if output_format == "json":
        click.echo(
            json.dumps(
                showrun.details_as_json(details), indent=2, sort_keys=True, ensure_ascii=False
            )
        )
        return
    for number, section in enumerate(showrun.details_as_sections(details)):
        if number:
            click.echo()
        indent = ""
        if section.title:
            click.echo(paint(section.title, bold=True))
            indent = "  "
        width = max(len(field.label) for field in section.fields)
        for field in section.fields:
            click.echo(f"{indent}{field.label.ljust(width)}  {field.value}".rstrip())


@main.command("show-config")
@click.argument("run")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "flat"]),
    default="json",
    show_default=True,
    help="json: the stored config; flat: key=value lines, dotted keys, JSON values.",
)
def show_config(run: str, output_format: str) -> None:
    """Print the config a run was started with."""
    config = showrun.read_config(showrun.resolve_run_dir(run))
    if output_format == "json":
        click.echo(store.dumps_json(config), nl=False)
    else:
        for line in showrun.flat_lines(config):
            click.echo(line)


@main.command("show-command")
@click.argument("run")
def show_command(run: str) -> None:
    """Print the command that started a run.

    One shell-quoted line, ready to paste into a shell.
    """
    click.echo(showrun.read_command(showrun.resolve_run_dir(run)))


def _print_config_changes(changes: Sequence[codediff.ConfigChange]) -> None:
    for change in changes:
        click.echo(paint(str(change), _CHANGE_COLORS[change.kind]))


@main.command("config-diff")
@click.argument("run1")
@click.argument("run2")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when the configs differ.")
@click.pass_context
def config_diff(
    ctx: click.Context, run1: str, run2: str, output_format: str, exit_code: bool
) -> None:
    """Show how RUN2's config differs from RUN1's.

    Lines read "~ key: old -> new" (changed), "+ key: value" (only in RUN2) and
    "- key: value" (only in RUN1), with dotted keys and JSON values; nothing is
    printed when the configs are equal. Exits 0 either way unless --exit-code.
    """
    changes = codediff.config_changes(
        showrun.read_config(showrun.resolve_run_dir(run1)),
        showrun.read_config(showrun.resolve_run_dir(run2)),
    )
    if output_format == "json":
        click.echo(
            json.dumps([change.as_json() for change in changes], indent=2, ensure_ascii=False)
        )
    else:
        _print_config_changes(changes)
    if exit_code and changes:
        ctx.exit(1)


@main.command()
@click.argument("run1")
@click.argument("run2")
@click.argument("paths", nargs=-1, metavar="[-- PATH...]")
@click.option("--stat", is_flag=True, help="Show a diffstat instead of the code patch.")
@click.option("--name-only", is_flag=True, help="Show only the names of changed files.")
def diff(run1: str, run2: str, paths: tuple[str, ...], stat: bool, name_only: bool) -> None:
    """Compare two runs: config, full code state, and results.

    The code diff goes from RUN1's code to RUN2's, each being its commit plus
    the uncommitted changes and untracked files recorded with the run; PATHs
    limit it. It runs in the git repository containing the current directory
    (or else RUN1), which must have both commits; nothing in that repository
    is changed. --stat and --name-only change the code part only.
    """
    if stat and name_only:
        raise click.UsageError("--stat and --name-only cannot be used together")
    run_dir1, run_dir2 = showrun.resolve_run_dir(run1), showrun.resolve_run_dir(run2)
    record1 = store.load_run(run_dir1, with_config=False)
    record2 = store.load_run(run_dir2, with_config=False)
    for problem in (*record1.problems, *record2.problems):
        warn(problem)
    changes = codediff.config_changes(showrun.read_config(run_dir1), showrun.read_config(run_dir2))
    code = codediff.diff_code(
        run_dir1,
        run_dir2,
        paths=paths,
        output=codediff.STAT if stat else codediff.NAME_ONLY if name_only else codediff.PATCH,
        color=use_color(),
    )
    label1, label2 = record1.name, record2.name
    if label1 == label2:
        label1, label2 = run_dir1, run_dir2

    click.echo(paint(f"config ({label1} -> {label2})", bold=True))
    _print_config_changes(changes)
    if not changes:
        click.echo("(no differences)")

    click.echo()
    commits = f"{code.commit1[:12]} -> {code.commit2[:12]}"
    click.echo(paint(f"code ({commits}, with recorded changes)", bold=True))
    if code.output:
        click.echo(code.output, nl=False)
    else:
        click.echo("(no differences)")

    click.echo()
    click.echo(paint("results", bold=True))
    rows = codediff.compare_results(record1.results, record2.results)
    if not rows:
        click.echo("(none recorded)")
        return
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    cells = [
        [
            row.key,
            summaries.render_value(row.first) if row.has_first else "",
            summaries.render_value(row.second) if row.has_second else "",
        ]
        for row in rows
    ]
    click.echo(tabulate(cells, headers=["metric", label1, label2], disable_numparse=True))


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


@main.command("reproduce")
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
        if not sys.stdin.isatty():
            raise CommandError("refusing to run the replay without --yes: stdin is not a terminal")
        if not click.confirm("Run it?", default=False):
            raise CommandError("not run")
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
