from __future__ import annotations

from pathlib import Path

from cli_helpers import record_run

from maggot import showrun


def test_show_lists_reproductions_with_their_verdicts(workdir: Path) -> None:
    config = {"x": 1}
    record_run(workdir, config, {"acc": 0.5, "loss": 1}, name="run", snapshot=False)
    record_run(workdir, config, {"acc": 0.5, "loss": 1}, name="run.repro-1", snapshot=False)
    record_run(workdir, config, {"acc": 0.4, "loss": 1}, name="run.repro-2", snapshot=False)
    record_run(workdir, config, {"acc": 0.5}, name="run.repro-10", snapshot=False)
    record_run(workdir, config, {"acc": 0.5}, name="run-other.repro-1", snapshot=False)
    details = showrun.load_details("experiments/run")
    assert [(Path(item.path).name, item.verdict) for item in details.reproductions] == [
        ("run.repro-1", "results match"),
        ("run.repro-2", "differs: acc"),
        ("run.repro-10", "differs: loss"),
    ]
    sections = {section.title: section for section in showrun.details_as_sections(details)}
    assert [field.value for field in sections["reproductions"].fields][0] == (
        "completed, results match"
    )
