"""A command's parameters: parsing them from argv, changing them, filling templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maggot import params

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
VALUES = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda v: abs(v) > 1e-6),
    st.from_regex(r"[a-z][a-z0-9./]{0,10}", fullmatch=True),
)
FORMS = st.sampled_from(["separate", "joined", "assignment"])


def build(items: list[tuple[str, object, str]]) -> list[str]:
    argv = ["python", "-u", "train.py"]
    for key, value, form in items:
        text = params.format_value(value)
        if form == "separate":
            argv += [f"--{key}", text]
        elif form == "joined":
            argv.append(f"--{key}={text}")
        else:
            argv.append(f"{key}={text}")
    return argv


@given(st.lists(st.tuples(KEYS, VALUES, FORMS), max_size=6, unique_by=lambda item: item[0]))
def test_parameters_come_back_as_given_in_order(items):
    config = params.parameters_config(build(items))
    assert list(config) == [key for key, _, _ in items]
    for key, value, _ in items:
        assert config[key] == params.parse_value(params.format_value(value))


@given(
    st.lists(st.tuples(KEYS, VALUES, FORMS), min_size=1, max_size=6, unique_by=lambda i: i[0]),
    VALUES,
)
def test_set_changes_one_value_and_nothing_else(items, new_value):
    argv = build(items)
    key = items[0][0]
    changed = params.set_parameters(argv, {key: params.format_value(new_value)})
    expected = dict(params.parameters_config(argv))
    expected[key] = params.parse_value(params.format_value(new_value))
    assert params.parameters_config(changed) == expected
    assert len(changed) == len(argv)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "train.py", "--lr", "0.1", "--debug"], {"lr": 0.1, "debug": True}),
        (["python", "-m", "pkg.train", "-x", "3", "--lr=-1e-3"], {"x": 3, "lr": -0.001}),
        (["./run.sh", "data", "epochs=10", "--name", "a-b"], {"epochs": 10, "name": "a-b"}),
        (["python", "-W", "ignore", "t.py", "--learning-rate", "1"], {"learning_rate": 1}),
        (["python", "t.py", "--shift", "-2", "--verbose", "--out", "x"],
         {"shift": -2, "verbose": True, "out": "x"}),
    ],
)  # fmt: skip
def test_parse_parameters(argv, expected):
    assert params.parameters_config(argv) == expected


def test_render_fills_placeholders_and_keeps_escaped_braces():
    assert params.render("lr{lr}-{{x}}", {"lr": 0.5}) == "lr0.5-{x}"
    with pytest.raises(params.ParameterError, match="unknown placeholder {e}; known: lr"):
        params.render("{e}", {"lr": 1})
