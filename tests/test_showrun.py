from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from maggot import showrun
from maggot.config import flatten

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
KEYS = st.text(alphabet="abcxyz_", min_size=1, max_size=5)
CONFIGS = st.dictionaries(
    KEYS, SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(KEYS, SCALARS, max_size=3)
)


def read_override(argument: str) -> tuple[str, Any]:
    """How a Hydra-style override reads back: JSON when it parses, else the text."""
    key, _, value = argument.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@given(CONFIGS)
def test_flat_lines_paste_back_as_one_argument_each_with_the_same_values(
    config: dict[str, Any],
) -> None:
    lines = showrun.flat_lines(config)
    arguments = [shlex.split(line) for line in lines]
    assert all(len(argument) == 1 for argument in arguments)
    assert dict(read_override(argument) for [argument] in arguments) == flatten(config)


def test_plain_text_is_written_bare_and_look_alikes_quoted() -> None:
    assert showrun.flat_lines({"model": {"kernel": "rbf", "C": 1.0}, "tag": "1.0"}) == [
        "model.C=1.0",
        "model.kernel=rbf",
        "'tag=\"1.0\"'",
    ]
    assert showrun.flat_lines({"layers": [1, 2], "name": "a b"}) == [
        "'layers=[1,2]'",
        "'name=a b'",
    ]


def test_a_run_without_files_or_logs_shows_neither(tmp_path: Path) -> None:
    (tmp_path / "run" / ".maggot").mkdir(parents=True)
    details = showrun.load_details(str(tmp_path / "run"))
    assert details.artifacts == [] and details.log_tail == [] and details.more_artifacts == 0
    titles = [section.title for section in showrun.details_as_sections(details)]
    assert "files" not in titles and not any(title.startswith("end of") for title in titles)


def test_many_files_are_cut_with_a_count(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / ".maggot").mkdir(parents=True)
    for number in range(showrun.MAX_ARTIFACTS + 7):
        (run / f"f{number:03d}").write_text("x")
    details = showrun.load_details(str(run))
    assert len(details.artifacts) == showrun.MAX_ARTIFACTS and details.more_artifacts == 7
    fields = [
        section for section in showrun.details_as_sections(details) if section.title == "files"
    ]
    assert fields[0].fields[-1].value == "... and 7 more files"
