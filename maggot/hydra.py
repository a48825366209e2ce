"""A Hydra callback that records every job as a maggot run, with no change to the task.

Add it to the Hydra config (or the command line)::

    hydra:
      callbacks:
        maggot:
          _target_: maggot.hydra.MaggotCallback

Each job, single run or multirun, whichever launcher ran it, becomes a run
named from its overrides, recording its resolved config (without the
``hydra`` node), its output and its outcome; the task function's return
value becomes results (a mapping: one result per key; a number, string or
bool: ``return_value``). Inside the task, ``current_experiment()`` gives the
job's Experiment for ``register_result``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from maggot import origin
from maggot.config import flatten, safe_directory_name
from maggot.experiment import Experiment, is_omegaconf, omegaconf_to_container

RETURN_VALUE_RESULT = "return_value"
_current: list[Experiment] = []


def current_experiment() -> Experiment:
    """The Experiment of the Hydra job running now (recorded by MaggotCallback)."""
    if not _current:
        raise LookupError("no Hydra job is being recorded by maggot.hydra.MaggotCallback")
    return _current[-1]


class MaggotCallback(Callback):
    """Records each Hydra job as a maggot run.

    experiments_dir: where runs go; a relative path is taken from the directory
    the program was launched from (not the job's output directory).
    if_exists_mode: as for Experiment; "increment" by default, so repeating a
    job adds a run. name_from: "overrides" (default) or "config".
    capture_output: as for Experiment.
    """

    def __init__(
        self,
        experiments_dir: str = "experiments",
        if_exists_mode: str = "increment",
        name_from: str = "overrides",
        capture_output: str | None = None,
    ) -> None:
        self.experiments_dir = experiments_dir
        self.if_exists_mode = if_exists_mode
        self.name_from = name_from
        self.capture_output = capture_output

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # the launcher's worker processes find the sweep's command here
        origin.note_launch_command()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        job = origin.hydra_job()
        task_config = _task_config(config)
        experiments_dir = self.experiments_dir
        if job is not None and not os.path.isabs(experiments_dir):
            experiments_dir = os.path.join(job.launch_cwd, experiments_dir)
        name = None
        if self.name_from == "overrides" and job is not None:
            name = origin.hydra_run_name(job)
        experiment = Experiment(
            config=task_config,
            experiments_dir=experiments_dir,
            experiment_name=safe_directory_name(name) if name is not None else None,
            if_exists_mode=self.if_exists_mode,
            capture_output=self.capture_output,
        )
        experiment.__enter__()
        _current.append(experiment)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not _current:
            return
        experiment = _current.pop()
        error: BaseException | None = None
        if job_return.status == JobStatus.COMPLETED:
            _register_return_value(experiment, job_return.return_value)
        elif isinstance(job_return._return_value, BaseException):
            error = job_return._return_value
        experiment.__exit__(
            type(error) if error is not None else None,
            error,
            error.__traceback__ if error is not None else None,
        )


def _task_config(config: DictConfig) -> dict[str, Any]:
    """The job's config without the ``hydra`` node, resolved part by part.

    Resolving the whole config would also resolve Hydra's own settings, some
    of which (the sweep directory) only resolve in the launching process.
    """
    task_config: dict[str, Any] = {}
    for key in config:
        if key == "hydra":
            continue
        value = config[key]
        task_config[str(key)] = omegaconf_to_container(value) if is_omegaconf(value) else value
    return task_config


def _register_return_value(experiment: Experiment, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, Mapping) or is_omegaconf(value):
        container = omegaconf_to_container(value) if is_omegaconf(value) else dict(value)
        for name, item in flatten(container).items():
            experiment.register_result(name, item)
    elif isinstance(value, (int, float, str, bool)):
        experiment.register_result(RETURN_VALUE_RESULT, value)
