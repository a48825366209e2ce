from __future__ import annotations

import json
from pathlib import Path

from toolkit import commit_all

from maggot import Experiment, drift, explain, hashing
from maggot.inputs import OUTSIDE, InputChange, InputFile, InputsRecord


def record_of(*files: InputFile) -> InputsRecord:
    return InputsRecord(1, None, files, 0, hashing.DEFAULT_HASH_LIMITS.input_full_bytes, "", ())


def an_input(path: str) -> InputFile:
    return InputFile(path, OUTSIDE, "read", 1, "", 0, "0" * 64, "full", False)


def drift_of(*differences: drift.Difference) -> drift.Drift:
    return drift.Drift(differences, ())


def test_causes_come_in_order_snapshot_inputs_packages_interpreter_nondeterminism_variables():
    environment_drift = drift_of(
        drift.Difference(drift.VARIABLE, "OMP_NUM_THREADS", "4", "8"),
        drift.Difference(drift.INTERPRETER, "python", "3.11.2", "3.12.1"),
        drift.Difference(drift.PACKAGE, "numpy", "1.26.4", "2.0.0"),
    )
    agreements = [explain.Agreement("loss", (0.1, 0.2), False)]
    checks = explain.Preflight(
        environment_drift,
        record_of(an_input("/data/train.csv")),
        (InputChange("/data/train.csv", OUTSIDE, "changed"),),
        left_out=("credentials.py (secret-looking name: its changes are left out of the patch)",),
    )
    explanation = explain.explain_mismatch(checks, agreements)
    assert [cause.kind for cause in explanation.causes] == [
        "snapshot",
        "input",
        "package",
        "interpreter",
        "nondeterminism",
        "variable",
    ]
    snapshot, *messages = [cause.message for cause in explanation.causes]
    assert snapshot == (
        "the snapshot does not hold the run's version of: credentials.py (secret-looking name: "
        "its changes are left out of the patch)"
    )
    assert "/data/train.csv changed since the run" in messages[0]
    assert messages[1] == "packages drifted: numpy: 1.26.4 -> 2.0.0"
    assert "nondeterministic" in messages[3] and "seed it" in messages[3] and "loss" in messages[3]
    assert "different problem from drift" in messages[3]


def test_when_nothing_explains_it_says_so_and_suggests_repeat():
    checks = explain.Preflight(drift_of(), record_of(), ())
    explanation = explain.explain_mismatch(checks, None)
    assert explanation.causes == ()
    [remark] = explanation.remarks
    assert remark.startswith("nothing recorded explains the difference") and "--repeat" in remark
    agreeing = [explain.Agreement("loss", (0.1, 0.1), True)]
    [remark] = explain.explain_mismatch(checks, agreeing).remarks
    assert "the replays agree with each other" in remark and "--repeat" not in remark


def test_runs_without_inputs_or_environment_say_not_recorded():
    not_recorded = drift.Drift((), ("python", "packages", "environ"))
    remarks = explain.explain_mismatch(explain.Preflight(not_recorded, None, ()), None).remarks
    assert remarks[0].startswith("inputs: not recorded")
    assert remarks[1] == "environment: not recorded (python, packages, environ)"


def test_an_interpreter_that_cannot_be_asked_is_a_remark_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        pass
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    checks = explain.preflight(exp.experiment_dir, str(broken), None)
    assert "cannot inspect this interpreter" in checks.drift_problem
    assert checks.inputs is not None and checks.input_changes == ()
    remarks = explain.explain_mismatch(checks, None).remarks
    assert remarks[0].startswith("environment: not compared (")


def replay_with(tmp_path: Path, name: str, results: dict) -> str:
    run_dir = tmp_path / name
    (run_dir / ".maggot").mkdir(parents=True)
    (run_dir / ".maggot" / "results.json").write_text(json.dumps(results))
    return str(run_dir)


def test_replay_agreement_compares_every_result_across_replays(tmp_path):
    replays = [
        replay_with(tmp_path, "r1", {"acc": 0.5, "seed": 1, "fold": {"loss": 0.25}}),
        replay_with(tmp_path, "r2", {"acc": 0.6, "seed": 1, "fold": {"loss": 0.25}}),
        replay_with(tmp_path, "r3", {"acc": 0.5, "seed": 1}),
    ]
    agreements = {item.name: item for item in explain.replay_agreement(replays, 0.0, 0.0)}
    assert agreements["acc"] == explain.Agreement("acc", (0.5, 0.6, 0.5), False)
    assert agreements["seed"].agree
    assert agreements["fold.loss"] == explain.Agreement("fold.loss", (0.25, 0.25, None), False)
    assert explain.is_nondeterministic(list(agreements.values()))
    tolerant = explain.replay_agreement(replays[:2], 0.25, 0.0)
    assert not explain.is_nondeterministic(tolerant)


def test_a_file_the_snapshot_left_out_is_named_first(repo):
    # a tracked file with a secret-looking name: its changes stay out of the snapshot
    (repo / "credentials.py").write_text("K = 1\n")
    commit_all(repo, "credentials")
    (repo / "credentials.py").write_text("K = 2\n")
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        pass
    checks = explain.preflight(exp.experiment_dir, None, str(repo))
    assert checks.left_out == (
        "credentials.py (secret-looking name: its changes are left out of the patch)",
    )
    cause = explain.explain_mismatch(checks, None).causes[0]
    assert cause.kind == "snapshot" and "credentials.py" in cause.message
