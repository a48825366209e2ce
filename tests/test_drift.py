from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toolkit import commit_all, make_virtual_environment

from maggot import Experiment, drift
from maggot.errors import MaggotError


def environment(**overrides) -> drift.EnvironmentRecord:
    fields = {
        "python_executable": "/usr/bin/python3",
        "python_version": "3.11.2",
        "implementation": "cpython",
        "platform": "Linux-6.1.0-x86_64",
        "packages": {"numpy": "1.26.4", "click": "8.1.7"},
        "environ": {"OMP_NUM_THREADS": "4", "HOME": "/home/a"},
        "recorded": frozenset(("python", "packages", "environ")),
        **overrides,
    }
    return drift.EnvironmentRecord(**fields)


def test_no_drift_between_identical_environments():
    result = drift.compare(environment(), environment())
    assert not result.differs and result.not_recorded == ()


def test_every_kind_of_difference_is_named_in_order():
    now = environment(
        python_version="3.12.1",
        platform="Darwin-23.1.0-arm64",
        packages={"numpy": "2.0.0", "torch": "2.1.0"},
        environ={"OMP_NUM_THREADS": "8", "HOME": "/home/a", "CUDA_VISIBLE_DEVICES": "0"},
    )
    described = [item.describe() for item in drift.compare(environment(), now).differences]
    assert described == [
        "python: 3.11.2 -> 3.12.1",
        "platform: Linux-6.1.0-x86_64 -> Darwin-23.1.0-arm64",
        "click 8.1.7: missing in the replay",
        "numpy: 1.26.4 -> 2.0.0",
        "torch 2.1.0: new in the replay",
        "environment variable CUDA_VISIBLE_DEVICES 0: new in the replay",
        "environment variable OMP_NUM_THREADS: 4 -> 8",
    ]


def test_redacted_variables_are_compared_by_name_only():
    recorded = environment(environ={"API_TOKEN": "<redacted>", "DB_PASSWORD": "<redacted>"})
    now = environment(environ={"API_TOKEN": "<redacted>", "AWS_SECRET_KEY": "<redacted>"})
    described = [item.describe() for item in drift.compare(recorded, now).differences]
    assert described == [
        "environment variable AWS_SECRET_KEY (redacted): only in the replay",
        "environment variable DB_PASSWORD (redacted): only in the run",
    ]


def test_shell_and_maggot_variables_are_not_drift():
    now = environment(
        environ={**environment().environ, "PWD": "/x", "SHLVL": "3", "MAGGOT_RUN_DIR": "/r"}
    )
    assert not drift.compare(environment(), now).differs


# a virtual environment's bin/python and bin/python3 are symlinks to one binary on POSIX
posix_venv = pytest.mark.skipif(os.name != "posix", reason="venv layout of POSIX systems")


@posix_venv
def test_two_names_of_one_virtual_environments_python_are_not_drift(tmp_path):
    python = make_virtual_environment(tmp_path / "venv")
    python3 = python.parent / "python3"
    assert python.is_symlink() and python3.is_symlink()
    recorded = environment(python_executable=str(python))
    now = environment(python_executable=str(python3))
    assert not drift.compare(recorded, now).differs


@posix_venv
def test_another_virtual_environment_of_the_same_python_is_drift(tmp_path):
    first = make_virtual_environment(tmp_path / "one")
    second = make_virtual_environment(tmp_path / "two")
    assert os.path.samefile(first, second)  # one binary, two sets of packages
    recorded = environment(python_executable=str(first))
    now = environment(python_executable=str(second / ".." / "python3"))
    [difference] = drift.compare(recorded, now).differences
    assert difference == (drift.INTERPRETER, "interpreter", str(first), now.python_executable)


def test_a_python_that_no_longer_exists_is_drift():
    recorded = environment(python_executable="/gone/venv/bin/python")
    [difference] = drift.compare(recorded, environment()).differences
    assert difference.describe() == "interpreter: /gone/venv/bin/python -> /usr/bin/python3"


@posix_venv
def test_this_binary_in_another_virtual_environment_is_asked_not_assumed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    python = make_virtual_environment(tmp_path / "venv")
    # this process's packages are not that environment's: it has no maggot to report them
    with pytest.raises(MaggotError, match="No module named 'maggot'"):
        drift.current_environment(str(python))


@posix_venv
def test_reproduce_strict_env_accepts_the_run_of_a_venvs_other_python_name(repo, tmp_path):
    python = make_virtual_environment(tmp_path / "venv", sees_maggot=True)
    (repo / "train.py").write_text(
        "from maggot import Experiment\nwith Experiment(config={'a': 1}) as exp:\n    pass\n"
    )
    commit_all(repo)
    environment = {**os.environ, "NO_COLOR": "1"}
    recorded = subprocess.run(
        [str(python), "train.py"], cwd=repo, env=environment, capture_output=True, text=True
    )
    assert recorded.returncode == 0, recorded.stderr
    plan = subprocess.run(
        [str(python.parent / "python3"), "-m", "maggot", "reproduce", "experiments/1"]
        + ["--dry-run", "--strict-env"],
        cwd=repo,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "drift      none (interpreter, platform" in plan.stdout


def test_a_run_recorded_here_has_no_drift_and_a_02_run_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        pass
    assert drift.check_drift(exp.experiment_dir).differences == ()
    old_run = tmp_path / "old"
    (old_run / ".maggot").mkdir(parents=True)
    (old_run / ".maggot" / "config.json").write_text("{}")
    result = drift.check_drift(str(old_run))
    assert result.not_recorded == ("python", "packages", "environ")
    assert not result.differs


def test_a_changed_package_version_in_the_record_is_drift(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        pass
    packages = Path(exp.experiment_dir, ".maggot", "packages.txt")
    lines = packages.read_text().splitlines()
    [click_line] = [line for line in lines if line.startswith("click==")]
    packages.write_text("\n".join(["click==0.1" if line == click_line else line for line in lines]))
    [difference] = drift.check_drift(exp.experiment_dir).differences
    assert difference.describe() == f"click: 0.1 -> {click_line.split('==')[1]}"


def test_another_interpreter_is_asked_in_a_subprocess(tmp_path):
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    here = drift.current_environment()
    there = drift.current_environment(str(wrapper))
    assert there.packages == here.packages and there.python_version == here.python_version
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'no python here' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(MaggotError, match="cannot inspect this interpreter: no python here"):
        drift.current_environment(str(broken))


def test_recorded_environment_reads_the_run_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_SETTING", "on")
    monkeypatch.setenv("MY_TOKEN", "hunter2")
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        pass
    recorded = drift.recorded_environment(exp.experiment_dir)
    run = json.loads(Path(exp.experiment_dir, ".maggot", "run.json").read_text())
    assert recorded.python_executable == run["python"]["executable"] == sys.executable
    assert recorded.environ["MY_SETTING"] == "on" and recorded.environ["MY_TOKEN"] == "<redacted>"
    assert recorded.packages["pytest"] and recorded.recorded == {"python", "packages", "environ"}
    assert os.environ["MY_TOKEN"] not in json.dumps(recorded._asdict(), default=sorted)
