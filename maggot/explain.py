"""Why a replay's results did not come back: likely causes, most telling first.

The order is: files the snapshot left out (so the replay did not have the
run's version of them), recorded inputs whose content changed since the run,
packages that drifted, interpreter or platform changes, and (when the run was
replayed more than once) a script that disagrees with itself. Environment
variables that differ come last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from maggot import drift, store
from maggot.errors import MaggotError
from maggot.inputs import OUTSIDE, InputChange, InputsRecord, changed_inputs, load_inputs
from maggot.results import MATCH, compare_results

SNAPSHOT, INPUT, PACKAGE, INTERPRETER, NONDETERMINISM, VARIABLE = (
    "snapshot",
    "input",
    "package",
    "interpreter",
    "nondeterminism",
    "variable",
)
_LISTED = 5


class Agreement(NamedTuple):
    """One result across several replays of the same code and environment."""

    name: str
    values: tuple[Any, ...]  # one per replay; None where a replay lacks it
    agree: bool


class Cause(NamedTuple):
    """A likely reason for a mismatch."""

    kind: str
    message: str


class Explanation(NamedTuple):
    """The likely causes of a mismatch, or why none was found."""

    causes: tuple[Cause, ...]
    remarks: tuple[str, ...]  # what could not be checked, what nothing explains


def replay_agreement(replay_dirs: Sequence[str], rtol: float, atol: float) -> list[Agreement]:
    """Whether each result is the same in every replay (within ``rtol``/``atol``)."""
    results = [
        store.load_run(replay_dir, with_config=False).results
        if store.is_run_dir(replay_dir)
        else {}
        for replay_dir in replay_dirs
    ]
    if not results:
        return []
    per_replay = [
        {item.name: item for item in compare_results(results[0], other, rtol, atol)}
        for other in results
    ]
    names = sorted(set().union(*per_replay))
    agreements = []
    for name in names:
        comparisons = [replay.get(name) for replay in per_replay]
        values = tuple(None if item is None else item.second for item in comparisons)
        agree = all(item is not None and item.status == MATCH for item in comparisons)
        agreements.append(Agreement(name, values, agree))
    return agreements


def is_nondeterministic(agreements: Sequence[Agreement]) -> bool:
    """Whether replays of the same code and environment gave different results."""
    return any(not item.agree for item in agreements)


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def explain_mismatch(checks: Preflight, agreements: Sequence[Agreement] | None) -> Explanation:
    """The likely causes of a mismatch, in the order of the module docstring.

    ``checks`` are reproduce's checks before the replay; ``agreements`` is None
    when the run was replayed once.
    """
    inputs, input_changes, environment_drift = checks.inputs, checks.input_changes, checks.drift
    causes: list[Cause] = []
    remarks: list[str] = []
    if checks.left_out:
        causes.append(
            Cause(
                SNAPSHOT,
                "the snapshot does not hold the run's version of: "
                + _listing(list(checks.left_out)),
            )
        )
    if inputs is None:
        remarks.append("inputs: not recorded (an older run, or input tracking was off)")
    elif input_changes:
        causes.extend(
            Cause(INPUT, f"input {item.path} {_CHANGE_WORDS[item.state]}") for item in input_changes
        )
    packages = environment_drift.of_kind(drift.PACKAGE)
    if packages:
        causes.append(
            Cause(PACKAGE, "packages drifted: " + _listing([item.describe() for item in packages]))
        )
    causes.extend(
        Cause(INTERPRETER, item.describe())
        for item in environment_drift.of_kind(drift.INTERPRETER, drift.PLATFORM)
    )
    if checks.drift_problem:
        remarks.append(f"environment: not compared ({checks.drift_problem})")
    if environment_drift.not_recorded:
        remarks.append(
            "environment: not recorded (" + ", ".join(environment_drift.not_recorded) + ")"
        )
    if agreements is not None and is_nondeterministic(agreements):
        differing = [item.name for item in agreements if not item.agree]
        causes.append(
            Cause(
                NONDETERMINISM,
                f"the script is nondeterministic: its replays disagree with each other on "
                f"{_listing(differing)} (seed it); this is a different problem from drift",
            )
        )
    variables = environment_drift.of_kind(drift.VARIABLE)
    if variables:
        names = [item.name for item in variables]
        causes.append(Cause(VARIABLE, "environment variables differ: " + _listing(names)))
    if not causes:
        remarks.append(_nothing_explains(agreements))
    return Explanation(tuple(causes), tuple(remarks))


_CHANGE_WORDS = {
    "changed": "changed since the run (its content hash differs)",
    "missing": "is missing (the run read it)",
}


def _nothing_explains(agreements: Sequence[Agreement] | None) -> str:
    if agreements is None:
        return (
            "nothing recorded explains the difference: the inputs read are unchanged and the "
            "interpreter, platform and packages are the same; replay it several times with "
            "--repeat 2 to see whether the script is nondeterministic"
        )
    return (
        "nothing recorded explains the difference: the replays agree with each other, the "
        "inputs read are unchanged and the interpreter, platform and packages are the same"
    )


class Preflight(NamedTuple):
    """What reproduce checks before replaying: drift and the recorded inputs."""

    drift: drift.Drift
    inputs: InputsRecord | None
    input_changes: tuple[InputChange, ...]
    drift_problem: str | None = None  # why the replay's environment could not be read
    # files of the run's code state the snapshot left out: "path (why)"
    left_out: tuple[str, ...] = ()


def preflight(
    run_dir: str,
    python: str | None,
    repo_root: str | None,
    inside_changes: Sequence[InputChange] | None = None,
) -> Preflight:
    """Compare the run's environment with the replay's and re-hash its recorded inputs.

    Inputs inside the repository are looked up under ``repo_root``; when
    ``inside_changes`` is given they were checked already (the reproduce
    plan's ignored inputs), and only the inputs outside it are hashed here.
    """
    problem = None
    try:
        environment_drift = drift.check_drift(run_dir, python)
    except MaggotError as error:
        environment_drift, problem = drift.Drift((), ()), str(error)
    inputs = load_inputs(run_dir)
    changes: tuple[InputChange, ...] = ()
    if inputs is not None and inside_changes is not None:
        changes = (*changed_inputs(inputs, repo_root, (OUTSIDE,)), *inside_changes)
    elif inputs is not None:
        changes = tuple(changed_inputs(inputs, repo_root))
    return Preflight(environment_drift, inputs, changes, problem, _left_out(run_dir))


# what the snapshot leaves out that is not code: the replay does not miss it
_NOT_CODE_STATE = ("derived file (bytecode)", "inside a run directory")


def _left_out(run_dir: str) -> tuple[str, ...]:
    """The files the run's snapshot did not hold, as ``path (why)``."""
    try:
        head = store.read_git_head(run_dir)
    except (OSError, MaggotError):
        return ()
    kept = [item for item in head.skipped if item.reason not in _NOT_CODE_STATE]
    return tuple(f"{item.path} ({item.reason})" for item in kept)
