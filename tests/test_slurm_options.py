"""What the Slurm launcher asks submitit for, from the sweep's options (no cluster needed)."""

from __future__ import annotations

from maggot import sweep
from maggot.launchers.slurm import SlurmOptions, _executor_parameters


def record(sweep_id: str = "20260101-000000-000000-abcd") -> sweep.SweepRecord:
    spec = sweep.SweepSpec(
        command=("python", "-c", "print({n})"),
        parameters=(),
        mode="grid",
        seed=None,
        jobs=({"n": 1},),
        experiments_dir="experiments",
        launcher="slurm",
        launcher_options={},
    )
    return sweep.SweepRecord(
        sweep_id=sweep_id,
        sweep_dir=f"experiments/.sweeps/{sweep_id}",
        created_at="2026-01-01T00:00:00Z",
        spec=spec,
        job_cwd=".",
        code_dir=None,
        env={},
        notes=(),
    )


def test_only_the_options_given_are_asked_for() -> None:
    assert _executor_parameters(record(), SlurmOptions()) == {
        "name": "maggot-20260101-000000-000000-abcd"
    }


def test_every_option_reaches_its_submitit_parameter() -> None:
    options = SlurmOptions(
        parallelism=2,
        partition="debug",
        time_minutes=60,
        cpus=4,
        mem_gb=1.5,
        gpus=1,
        sbatch=(("qos", "high"), ("mail-type", "END")),
    )
    assert _executor_parameters(record(), options) == {
        "name": "maggot-20260101-000000-000000-abcd",
        "slurm_array_parallelism": 2,
        "slurm_partition": "debug",
        "timeout_min": 60,
        "slurm_signal_delay_s": 90,
        "cpus_per_task": 4,
        "mem_gb": 1.5,
        "gpus_per_node": 1,
        "slurm_additional_parameters": {"qos": "high", "mail_type": "END"},
    }


def test_a_short_time_limit_gets_its_timeout_signal_a_quarter_before_the_end() -> None:
    parameters = _executor_parameters(record(), SlurmOptions(time_minutes=2))
    assert parameters["slurm_signal_delay_s"] == 30


def test_options_round_trip_through_the_sweep_record() -> None:
    options = SlurmOptions(parallelism=3, mem_gb=2.0, sbatch=(("qos", "low"),))
    assert SlurmOptions.from_json(options.to_json()) == options
