"""Rerun: a new run from a recorded run's code state (or the current tree), parameters changed.

Unlike a reproduction, a rerun is a run of its own: it goes next to the
original in the experiments directory, is named from its (changed) values,
and records ``rerun_of``. Every rerun is started like ``maggot run``, so a
script that uses Experiment joins it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from maggot import launch, params, store
from maggot.errors import MaggotError
from maggot.records import LaunchOptions, RunInfo
from maggot.secrets import REDACTED

CODE_CHOICES = ("recorded", "current")


class RerunError(MaggotError):
    """A run that cannot be rerun as asked."""


class RerunPlan(NamedTuple):
    """Everything a rerun will do, decided before anything is touched."""

    run_dir: str
    code: str  # "recorded" or "current"
    command: tuple[str, ...]
    changes: dict[str, tuple[Any, Any]]  # key -> (recorded value, new value)
    request: launch.RunRequest
    # a reproduce plan, for the recorded code state's worktree
    worktree_plan: Any
    notes: tuple[str, ...]


def plan_rerun(
    run_dir: str,
    settings: Mapping[str, str],
    code: str = "recorded",
    *,
    links: Sequence[str] = (),
    provide_inputs: bool = True,
) -> RerunPlan:
    """Check that RUN can be rerun with ``settings`` and decide how.

    With the recorded code, the ignored inputs the run read (and ``links``)
    are provided in its worktree from the checkout, as for a replay, unless
    ``provide_inputs`` is false.

    Raises ParameterError naming the keys the command takes when a key is not
    one of them, and RerunError/ReproduceError when the run cannot be rerun.
    """
    if code not in CODE_CHOICES:
        raise RerunError(f"--code {code!r}: expected recorded or current")
    if not settings:
        raise params.ParameterError("nothing to change: give --set KEY=VALUE")
    run_dir = os.path.normpath(run_dir)
    record = store.load_run(run_dir, with_results=False)
    info = record.info
    experiments_dir = os.path.dirname(os.path.abspath(run_dir))
    sweep_template = _sweep_template(info, experiments_dir)
    options = info.launch_options or LaunchOptions()
    if sweep_template is not None:
        from maggot import sweep

        record, values = sweep_template
        changes = _changed_values(values, settings)
        new_values = {**values, **{key: new for key, (_, new) in changes.items()}}
        # shown with the template's secrets redacted, run with them given back as for
        # any rerun: from the variables this run's own record names
        template = sweep.redacted_command(record)
        restored = _restore_secrets(template, info, len(info.command_argv) - len(template))
        restored = [
            given if REDACTED in recorded else recorded
            for recorded, given in zip(template, restored)
        ]
        command = params.render_command(template, new_values)
        command_to_run = params.render_command(restored, new_values)
        extra_params = tuple(new_values.items())
        options = LaunchOptions(
            name_template=record.spec.name_template,
            results_file=record.spec.results_file,
            metric_pattern=record.spec.metric_pattern,
        )
    else:
        if info.launched_command:
            original = list(info.launched_command)
            offset = len(info.command_argv) - len(original)
            extra_params = options.extra_params
        else:
            if not info.command_argv:
                raise RerunError(f"{run_dir}: no recorded command (run.json has no command_argv)")
            from maggot.reproduce import launch_command

            # a multi-process run reruns its launch (mpirun ... python train.py)
            original = launch_command(info, sys.executable, run_dir, None)[0]
            offset, extra_params = 0, ()
        # shown as recorded (secrets redacted), run with the secrets given back
        command, _, changes = _changed_command(original, extra_params, settings)
        restored = _restore_secrets(original, info, offset)
        command_to_run, extra_params, _ = _changed_command(restored, extra_params, settings)
    worktree_plan = None
    notes: list[str] = []
    if code == "recorded":
        from maggot import reproduce

        worktree_plan = reproduce.plan_reproduction(
            run_dir, links=links, provide_inputs=provide_inputs, with_results=False
        )
        notes.extend(worktree_plan.notes)
    request = launch.RunRequest(
        command=tuple(command_to_run),
        experiments_dir=experiments_dir,
        name_template=options.name_template,
        if_exists="increment",
        config_file=options.config_file,
        extra_params=extra_params,
        results_file=options.results_file,
        metric_pattern=options.metric_pattern,
        track_inputs=options.track_inputs,
        frozen_snapshot=run_dir if code == "recorded" else None,
        rerun_of=os.path.abspath(run_dir),
    )
    return RerunPlan(
        run_dir=run_dir,
        code=code,
        command=tuple(command),
        changes=changes,
        request=request,
        worktree_plan=worktree_plan,
        notes=tuple(notes),
    )


def _restore_secrets(command: list[str], info: RunInfo, offset: int) -> list[str]:
    """``command`` with the values redacted when it was recorded given back.

    They come from this environment, as for a replay (``MAGGOT_ARG_N`` or the
    variable that held the value); one that is not there is an error.
    """
    from maggot.reproduce import secret_value
    from maggot.secrets import restore_argument

    restored = list(command)
    for item in info.redacted_arguments:
        position = item.position - offset
        if not 0 <= position < len(restored):
            continue  # an argument of maggot run itself, not of the command
        value = secret_value(item)
        if value is None:
            raise RerunError(
                f"{item.label} was redacted when the run was recorded: "
                f"set {item.supply_variable} to its value"
            )
        restore_argument(restored, item._replace(position=position), value)
    return restored


def _sweep_template(info: RunInfo, experiments_dir: str) -> tuple[Any, dict[str, Any]] | None:
    """The sweep's record and this job's values, for a run a sweep started."""
    job = info.sweep
    if job is None:
        return None
    from maggot import sweep

    try:
        record = sweep.load_sweep(sweep.find_sweep(job.id, experiments_dir))
        values = dict(record.spec.jobs[job.job])
    except (MaggotError, IndexError):
        return None  # the sweep's record is gone: change the command itself
    return record, values


def _changed_values(
    values: Mapping[str, Any], settings: Mapping[str, str]
) -> dict[str, tuple[Any, Any]]:
    unknown = [key for key in settings if key not in values]
    if unknown:
        raise params.ParameterError(
            f"the sweep's command takes no parameter {', '.join(unknown)}; it takes: "
            + ", ".join(values)
        )
    return {key: (values[key], params.parse_value(text)) for key, text in settings.items()}


def _changed_command(
    command: list[str],
    extra_params: tuple[tuple[str, Any], ...],
    settings: Mapping[str, str],
) -> tuple[list[str], tuple[tuple[str, Any], ...], dict[str, tuple[Any, Any]]]:
    """Replace values in the argv (and in ``--param`` values given to maggot run)."""
    recorded = {parameter.key: parameter.value for parameter in params.parse_parameters(command)}
    extra = dict(extra_params)
    in_argv = {key: text for key, text in settings.items() if params.normalize_key(key) in recorded}
    in_extra = {key: text for key, text in settings.items() if key in extra and key not in in_argv}
    unknown = [key for key in settings if key not in in_argv and key not in in_extra]
    if unknown:
        raise params.ParameterError(
            f"the command takes no parameter {', '.join(unknown)}; it takes: "
            + (", ".join([*recorded, *extra]) or "none")
        )
    new_command = params.set_parameters(command, in_argv)
    changes = {
        key: (recorded[params.normalize_key(key)], params.parse_value(text))
        for key, text in in_argv.items()
    }
    for key, text in in_extra.items():
        changes[key] = (extra[key], params.parse_value(text))
        extra[key] = params.parse_value(text)
    return new_command, tuple(extra.items()), changes


def execute(plan: RerunPlan, on_start: Any = None) -> launch.RunOutcome:
    """Run the rerun: in a worktree of the recorded code state, or in the current tree."""
    if plan.code == "current":
        return launch.run_command(plan.request, on_start=on_start)
    import shutil

    from maggot import reproduce
    from maggot.gitsnap import checkout_environment
    from maggot.inputguard import ENV_PROTECTED_INPUTS
    from maggot.replay import ENV_ORIGINAL_ROOT, map_arguments
    from maggot.worktree import create_worktree, remove_worktree

    worktree_plan = plan.worktree_plan
    tree = create_worktree(worktree_plan.snapshot, worktree_plan.repository.toplevel)
    guard_dir = reproduce.make_guard_dir(tree)
    try:
        provision = reproduce.provide_checkout_inputs(worktree_plan, tree.path, guard_dir)
        replay = reproduce.prepare_replay(worktree_plan, tree.path, provision)
        env = {
            name: replay.environment[name]
            for name in ("PYTHONPATH", ENV_ORIGINAL_ROOT, ENV_PROTECTED_INPUTS)
            if name in replay.environment
        }
        env.update(checkout_environment(worktree_plan.snapshot.head))
        command, _ = map_arguments(
            list(plan.request.command), [worktree_plan.repository.toplevel], tree.path
        )
        request = plan.request._replace(
            command=tuple(command), cwd=replay.cwd, env=tuple(env.items())
        )
        return launch.run_command(request, on_start=on_start)
    finally:
        shutil.rmtree(guard_dir, ignore_errors=True)
        remove_worktree(tree)
