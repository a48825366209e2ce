"""The Slurm launcher: a sweep's jobs as one job array, submitted through submitit.

submitit is an optional dependency (``pip install 'maggot[slurm]'``). Its
folder is the sweep's own, on the experiments directory that the nodes share.
Job states come from the jobs' files and ``squeue``, not from ``sacct`` (which
needs Slurm's accounting database).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from maggot import store, sweep
from maggot.errors import MaggotError

ARRAYS_FILE = "arrays.json"
POLL_SECONDS = 1.0


class SlurmError(MaggotError):
    """Slurm or submitit is not usable here."""


class SlurmOptions(NamedTuple):
    """What the sweep asks of Slurm for each job."""

    parallelism: int | None = None
    partition: str | None = None
    time_minutes: int | None = None
    cpus: int | None = None
    mem_gb: float | None = None
    gpus: int | None = None
    # other sbatch options, without the leading dashes: {"qos": "high"}
    sbatch: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "sbatch": [list(item) for item in self.sbatch]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlurmOptions:
        fields = {key: data.get(key) for key in cls._fields if key != "sbatch"}
        sbatch = tuple((str(key), str(value)) for key, value in data.get("sbatch") or ())
        return cls(**fields, sbatch=sbatch)


def check_available() -> None:
    """Raise SlurmError when ``sbatch`` or submitit is missing."""
    if shutil.which("sbatch") is None:
        raise SlurmError(
            "--launcher slurm: sbatch not found on PATH (is this a Slurm login node? "
            "tests/slurm/cluster.sh start runs a one-node cluster here)"
        )
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise SlurmError("--launcher slurm needs submitit: pip install 'maggot[slurm]'") from None


def _job_class() -> Any:
    import submitit

    class SweepJob(submitit.helpers.Checkpointable):
        """One job of the array; on preemption it is requeued and continues its run."""

        def __call__(self, sweep_dir: str, index: int) -> int:
            return sweep.run_job(sweep_dir, index)

    return SweepJob


# the SlurmOptions fields that map one to one onto submitit's parameters
_SUBMITIT_PARAMETERS = {
    "parallelism": "slurm_array_parallelism",
    "partition": "slurm_partition",
    "time_minutes": "timeout_min",
    "cpus": "cpus_per_task",
    "mem_gb": "mem_gb",
    "gpus": "gpus_per_node",
}


def _executor_parameters(record: sweep.SweepRecord, options: SlurmOptions) -> dict[str, Any]:
    """submitit's parameters for the sweep's job array: the options that were given."""
    parameters: dict[str, Any] = {"name": f"maggot-{record.sweep_id}"}
    for field, parameter in _SUBMITIT_PARAMETERS.items():
        value = getattr(options, field)
        if value:
            parameters[parameter] = value
    if options.time_minutes:
        # submitit asks Slurm for its timeout signal 90 s before the limit by default:
        # with a limit under twice that, every task would get it as soon as it starts
        parameters["slurm_signal_delay_s"] = min(90, options.time_minutes * 60 // 4)
    if options.sbatch:
        parameters["slurm_additional_parameters"] = {
            key.replace("-", "_"): value for key, value in options.sbatch
        }
    return parameters


def submit(record: sweep.SweepRecord, indices: Sequence[int], options: SlurmOptions) -> str:
    """Submit ``indices`` of the sweep as one job array; returns the array's job id."""
    check_available()
    import submitit

    folder = os.path.join(record.sweep_dir, sweep.SLURM_DIR)
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(**_executor_parameters(record, options))
    job = _job_class()()
    try:
        with sweep.secrets_for_children(record):
            jobs = executor.map_array(job, [record.sweep_dir] * len(indices), list(indices))
    except (subprocess.CalledProcessError, submitit.core.utils.FailedJobError) as error:
        raise SlurmError(f"sbatch failed: {error}") from None
    array_id = str(jobs[0].job_id).split("_")[0]
    path = os.path.join(folder, ARRAYS_FILE)
    try:
        arrays = list(store.read_json(path))
    except FileNotFoundError:
        arrays = []
    arrays.append(array_id)
    store.write_json_atomic(path, arrays)
    return array_id


def submitted_arrays(record: sweep.SweepRecord) -> list[str]:
    """The job arrays submitted for a sweep (one per launch or resume)."""
    path = os.path.join(record.sweep_dir, sweep.SLURM_DIR, ARRAYS_FILE)
    try:
        return [str(item) for item in store.read_json(path)]
    except FileNotFoundError:
        return []


def queued_tasks(arrays: Sequence[str]) -> set[str] | None:
    """Tasks of these arrays Slurm still lists (``123_4``, ``123_[5-7]``); None without squeue."""
    if not arrays or shutil.which("squeue") is None:
        return None
    completed = subprocess.run(
        ["squeue", "-h", "-o", "%i", "-j", ",".join(arrays)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        # squeue rejects ids it no longer knows: nothing of them is queued
        return set() if "Invalid job id" in completed.stderr else None
    return {line.strip() for line in completed.stdout.splitlines() if line.strip()}


def liveness(record: sweep.SweepRecord) -> Callable[[dict[str, Any]], bool | None]:
    """``is_alive`` for job_states: a job runs while squeue lists its task."""
    queued = queued_tasks(submitted_arrays(record))

    def is_alive(job: dict[str, Any]) -> bool | None:
        task = job.get("slurm_job_id")
        if not task:
            return sweep.process_alive(job)
        if queued is None:
            return None
        return str(task) in queued

    return is_alive


def wait(
    record: sweep.SweepRecord,
    indices: Sequence[int],
    on_progress: Callable[[list[sweep.JobState]], None],
) -> list[sweep.JobState]:
    """Wait until every job in ``indices`` has a final state; returns the states.

    Jobs Slurm no longer lists that never started (cancelled, failed to
    launch) are recorded as lost.
    """
    arrays = submitted_arrays(record)
    while True:
        queued = queued_tasks(arrays)
        states = sweep.job_states(record, indices, liveness(record))
        on_progress(states)
        if all(state.state in sweep.FINAL_STATES for state in states):
            return states
        if queued is not None and not queued:
            # nothing left in the queue: read once more, the last jobs may just have ended
            states = sweep.job_states(record, indices, liveness(record))
            for state in states:
                if state.state == sweep.STATE_PENDING:
                    sweep.write_job_file(
                        record.sweep_dir,
                        state.job,
                        error="the Slurm job ended without running it (cancelled?)",
                    )
            states = sweep.job_states(record, indices, liveness(record))
            on_progress(states)
            return states
        time.sleep(POLL_SECONDS)
