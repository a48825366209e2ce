"""Races and faults around a run's directory: real processes meeting at a barrier."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from maggot import Experiment, store
from maggot.errors import ConfigError, CorruptRunError, MaggotError
from maggot.experiment import _ask_if_exists

CONFIG = {"lr": 0.1}
PROCESSES = 8
_FORK = multiprocessing.get_context("fork")


def _start_in_delete_mode(experiments: str, barrier: Any, outcomes: Any) -> None:
    barrier.wait()
    try:
        with Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="delete") as exp:
            exp.register_result("writer", os.getpid())
        outcomes.put(("ok", os.getpid()))
    except MaggotError as error:
        outcomes.put(("refused", str(error)))
    except BaseException as error:  # anything else is the bug this test is about
        outcomes.put(("crash", repr(error)))


def test_concurrent_delete_mode_starts_never_share_or_crash(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    old = Experiment(config=CONFIG, experiments_dir=experiments)
    old.register_result("writer", "old")
    old._finish_safely(None)  # an old, finished run for everyone to delete
    barrier = _FORK.Barrier(PROCESSES)
    outcomes = _FORK.Queue()
    workers = [
        _FORK.Process(target=_start_in_delete_mode, args=(str(experiments), barrier, outcomes))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    results = [outcomes.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=120)
    assert not [result for result in results if result[0] == "crash"], results
    run_dir = experiments / "0.1"
    info = json.loads((run_dir / ".maggot" / "run.json").read_text())
    written = json.loads((run_dir / ".maggot" / "results.json").read_text())
    # whoever owns the directory now wrote all of it: no second process wrote into it
    assert written == {"writer": info["pid"]}
    assert info["status"] == "completed"
    assert ("ok", info["pid"]) in results
    leftovers = [path.name for path in experiments.iterdir() if path.name != "0.1"]
    assert leftovers == []


def test_delete_mode_refuses_a_run_another_process_is_recording(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    script = textwrap.dedent(
        f"""
        import sys
        from maggot import Experiment
        with Experiment(config={CONFIG!r}, experiments_dir={str(experiments)!r}) as exp:
            print("ready", flush=True)
            sys.stdin.readline()
            exp.register_result("kept", 1)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    with pytest.raises(MaggotError, match="being recorded by a running process"):
        Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="delete")
    process.communicate(input="\n", timeout=60)
    assert process.returncode == 0
    assert json.loads((experiments / "0.1" / ".maggot" / "results.json").read_text()) == {"kept": 1}


def test_a_run_deleted_while_running_does_not_write_into_its_successor(tmp_path: Path) -> None:
    experiments = tmp_path / "experiments"
    first = Experiment(config=CONFIG, experiments_dir=experiments)
    with pytest.raises(ValueError, match="the block's own error"), first:
        shutil.rmtree(first.experiment_dir)
        second = Experiment(config=CONFIG, experiments_dir=experiments)
        second.register_result("owner", "second")
        with pytest.raises(MaggotError, match="deleted or replaced"):
            first.register_result("owner", "first")
        raise ValueError("the block's own error")
    results = json.loads((experiments / "0.1" / ".maggot" / "results.json").read_text())
    assert results == {"owner": "second"}
    info = json.loads((experiments / "0.1" / ".maggot" / "run.json").read_text())
    assert info["status"] == "running"  # the second run's, untouched by the first's failure
    second._finish_safely(None)


def test_removing_the_run_directory_does_not_mask_the_blocks_exception(tmp_path: Path) -> None:
    exp = Experiment(config=CONFIG, experiments_dir=tmp_path / "experiments")
    with pytest.raises(KeyError, match="mine"), exp:
        print("some output")
        shutil.rmtree(exp.experiment_dir)
        raise KeyError("mine")


def test_delete_mode_refuses_a_symlinked_run(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    Experiment(config=CONFIG, experiments_dir=elsewhere)._finish_safely(None)
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "0.1").symlink_to(elsewhere / "0.1")
    with pytest.raises(MaggotError, match="symbolic link"):
        Experiment(config=CONFIG, experiments_dir=experiments, if_exists_mode="delete")
    assert (elsewhere / "0.1" / ".maggot" / "run.json").is_file()


@pytest.mark.parametrize("name", [".git", ".maggot", ".GIT"])
def test_run_names_of_git_and_maggot_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(MaggotError, match="reserved"):
        Experiment(config=CONFIG, experiments_dir=tmp_path, experiment_name=name)
    with pytest.raises(MaggotError, match="reserved"):
        Experiment(config={"name": name}, experiments_dir=tmp_path)
    assert not (tmp_path / name).exists()


def test_result_sections_and_values_cannot_share_a_name(tmp_path: Path) -> None:
    exp = Experiment(config=CONFIG, experiments_dir=tmp_path)
    exp.register_result("loss", 0.5)
    with pytest.raises(MaggotError, match="'loss.val' conflicts with the registered result 'loss'"):
        exp.register_result("loss.val", 0.4)
    exp.register_result("fold1.acc", 0.9)
    with pytest.raises(MaggotError, match="'fold1' conflicts with .*'fold1.acc'"):
        exp.register_result("fold1", 1)
    exp.register_result("loss", 0.3)  # replacing a value is fine
    assert exp.results.to_dict() == {"loss": 0.3, "fold1": {"acc": 0.9}}


def test_a_corrupt_run_json_is_reported_and_never_rewritten(tmp_path: Path) -> None:
    run = Experiment(config=CONFIG, experiments_dir=tmp_path)
    run._finish_safely(None)
    run_file = Path(run.experiment_dir, ".maggot", "run.json")
    run_file.write_text('{"status": "completed", "pid"')
    before = run_file.read_bytes()
    with pytest.raises(CorruptRunError, match="run.json: not valid JSON.*not continuing"):
        Experiment(config=CONFIG, experiments_dir=tmp_path, if_exists_mode="continue")
    resumed = Experiment(resume_from=run.experiment_dir)
    with pytest.raises(CorruptRunError, match="run.json: not valid JSON.*not updating"), resumed:
        pass
    assert run_file.read_bytes() == before


def test_leftover_temp_files_of_an_earlier_process_with_the_same_pid_are_harmless(
    tmp_path: Path,
) -> None:
    target = tmp_path / "results.json"
    for counter in range(50):  # what a restarted job with the same pid left behind before
        (tmp_path / f".tmp-{os.getpid()}-{counter}-results.json").write_text("partial")
    for value in range(50):
        store.write_json_atomic(target, {"value": value})
    assert json.loads(target.read_text()) == {"value": 49}


def test_ctrl_d_at_the_prompt_means_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert _ask_if_exists("experiments/x") == "exit"


def test_deeply_nested_and_shadowing_configs_get_clear_errors(tmp_path: Path) -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(1000):
        nested = {"level": nested}
    with pytest.raises(ConfigError, match="nested more than 100 levels"):
        Experiment(config=nested, experiments_dir=tmp_path)
    with pytest.raises(ConfigError, match="'model.to_dict' has the name of the Config method"):
        Experiment(config={"model": {"to_dict": 1}}, experiments_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_non_utf8_arguments_are_recorded_and_shown(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "from maggot import Experiment\n"
        "with Experiment(config={'a': 1}, experiments_dir='experiments'):\n    pass\n"
    )
    completed = subprocess.run(
        [sys.executable, os.fsencode(script), b"caf\xe9"], cwd=tmp_path, capture_output=True
    )
    assert completed.returncode == 0, completed.stderr
    run_dir = tmp_path / "experiments" / "1"
    assert b"caf\xe9" in (run_dir / ".maggot" / "command").read_bytes()
    info = json.loads((run_dir / ".maggot" / "run.json").read_text())
    assert info["status"] == "completed"
    assert info["argv"][-1] == "caf\udce9"
    shown = subprocess.run(
        [sys.executable, "-m", "maggot", "show", str(run_dir)], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "caf" in shown.stdout
