from __future__ import annotations

import argparse
import enum
import json
import os
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import maggot
from maggot import Config
from maggot.config import MAX_NAME_BYTES, make_identifier, safe_directory_name, to_json_value
from maggot.errors import ConfigError
from maggot.experiment import make_config

README_CONFIG = {"model": {"C": 1.0, "gamma": 0.01}, "crossval": {"n_folds": 5, "_random_seed": 42}}
NESTED = {"a": 10, "_b": "a", "c": {"a": 10, "b": [1, 2, 3], "c": "a"}}


def test_readme_config_gives_readme_identifier():
    assert Config.from_dict(README_CONFIG).identifier == "5-1.0-0.01"


def test_identifier_sorts_keys_and_skips_underscore_keys():
    assert Config.from_dict(NESTED).identifier == "10-10-1x2x3-a"


def test_booleans_become_key_names():
    config = Config.from_dict({"augment": True, "nested": {"dropout": False}})
    assert config.identifier == "augment-no_dropout"


def test_assigned_sub_config_joins_identifier():
    config = Config.from_dict(NESTED)
    config.d = Config.from_dict({"d": False})
    assert config.identifier == "10-10-1x2x3-a-no_d"


def test_custom_separator_is_used_and_reset():
    maggot.use_custom_separator("|")
    assert Config.from_dict({"a": 1, "b": 2}).identifier == "1|2"
    assert maggot.get_current_separator() == "|"
    maggot.use_default_separator()
    assert Config.from_dict({"a": 1, "b": 2}).identifier == "1-2"
    assert maggot.DEFAULT_SEPARATOR == "-"


@pytest.mark.parametrize("separator", ["/", "\\", "", "a\nb"])
def test_separator_that_escapes_the_directory_is_refused(separator):
    with pytest.raises(ConfigError, match="separator"):
        maggot.use_custom_separator(separator)


def test_values_with_path_separators_stay_one_directory():
    name = Config.from_dict({"data": "../../etc/passwd", "x": "a\\b"}).identifier
    assert "/" not in name and "\\" not in name
    assert name == ".._.._etc_passwd-a_b"


@pytest.mark.parametrize(
    "value, expected", [(".", "_"), ("..", "__"), ("CON", "_CON"), ("x.", "x_")]
)
def test_reserved_names_are_escaped(value, expected):
    assert Config.from_dict({"a": value}).identifier == expected


def test_long_identifier_is_cut_with_stable_distinct_hash():
    first = Config.from_dict({"a": "x" * 300, "b": 1}).identifier
    second = Config.from_dict({"a": "x" * 300, "b": 2}).identifier
    assert len(first.encode()) <= MAX_NAME_BYTES
    assert first != second
    assert first == Config.from_dict({"a": "x" * 300, "b": 1}).identifier


def test_dot_access_item_access_and_contains():
    config = Config.from_dict(README_CONFIG)
    assert config.model.C == 1.0
    assert config["crossval.n_folds"] == 5
    assert "model.gamma" in config and "model.nope" not in config
    with pytest.raises(KeyError):
        config["model.nope"]


def test_flat_dict_round_trip():
    config = Config.from_flat_dict({"a.a": 10, "b": "b", "a.b": [1, 2, 3], "a.c.c": 1})
    assert config.a.c.c == 1
    assert dict(config.as_flat_dict()) == {"a.a": 10, "a.b": [1, 2, 3], "a.c.c": 1, "b": "b"}


def test_json_round_trip(tmp_path):
    path = tmp_path / "sub" / "config.json"
    Config.from_dict(NESTED).to_json(path)
    assert Config.from_json(path).to_dict() == NESTED
    assert path.read_text().endswith("\n")


def test_from_json_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(ConfigError, match="missing.json"):
        Config.from_json(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json: not valid JSON"):
        Config.from_json(broken)
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        Config.from_json(array)


class Color(enum.Enum):
    RED = "red"


def test_values_json_cannot_hold_are_converted():
    numpy = pytest.importorskip("numpy")
    converted = to_json_value(
        {
            "path": pathlib.Path("data/train.csv"),
            "shape": (3, 4),
            "color": Color.RED,
            "lr": numpy.float32(0.5),
            "steps": numpy.int64(7),
            "weights": numpy.array([[1, 2], [3, 4]]),
            "flag": numpy.bool_(True),
            "tags": {"b", "a"},
        }
    )
    assert converted == {
        "path": "data/train.csv",
        "shape": [3, 4],
        "color": "red",
        "lr": 0.5,
        "steps": 7,
        "weights": [[1, 2], [3, 4]],
        "flag": True,
        "tags": ["a", "b"],
    }
    assert type(converted["steps"]) is int and type(converted["flag"]) is bool
    json.dumps(converted)


def test_unstorable_value_error_names_the_key():
    with pytest.raises(ConfigError, match="'model.activation'.*function"):
        to_json_value({"model": {"activation": lambda x: x}})
    with pytest.raises(ConfigError, match="keys must be strings"):
        to_json_value({"a": {1: "x"}})


def test_make_config_accepts_dict_path_namespace_and_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(README_CONFIG))
    namespace = argparse.Namespace(lr=0.1, epochs=3)
    assert make_config(README_CONFIG).identifier == "5-1.0-0.01"
    assert make_config(str(path)).identifier == "5-1.0-0.01"
    assert make_config(path).identifier == "5-1.0-0.01"
    assert make_config(namespace).to_dict() == {"lr": 0.1, "epochs": 3}
    assert make_config(Config.from_dict(README_CONFIG)).identifier == "5-1.0-0.01"


@pytest.mark.parametrize("bad", [42, ["a"], None.__class__])
def test_make_config_rejects_other_types_naming_them(bad):
    with pytest.raises(ConfigError, match="is not supported"):
        make_config(bad)


def test_make_config_missing_path_names_it(tmp_path):
    with pytest.raises(ConfigError, match="nope.json"):
        make_config(str(tmp_path / "nope.json"))


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
json_configs = st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=6)


def _is_safe_name(name: str) -> bool:
    return (
        name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and not any(ord(char) < 32 or ord(char) == 127 for char in name)
        and len(name.encode("utf-8")) <= MAX_NAME_BYTES
        and not name.endswith((".", " "))
    )


@settings(max_examples=300, deadline=None)
@given(json_configs)
def test_any_json_config_gives_a_safe_deterministic_name(config):
    first = Config.from_dict(config).identifier
    again = Config.from_dict(json.loads(json.dumps(config))).identifier
    assert first == again
    if first:
        assert _is_safe_name(first)
        assert os.path.basename(first) == first


@settings(max_examples=200, deadline=None)
@given(json_configs)
def test_config_round_trips_through_json(config):
    restored = Config.from_dict(json.loads(json.dumps(Config.from_dict(config).to_dict())))
    assert restored.to_dict() == config


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=400), st.text(min_size=1, max_size=400))
def test_distinct_long_names_never_collide_after_cutting(first, second):
    long_first = ("x" * MAX_NAME_BYTES) + first
    long_second = ("x" * MAX_NAME_BYTES) + second
    if first != second:
        assert safe_directory_name(long_first) != safe_directory_name(long_second)
    assert len(safe_directory_name(long_first).encode("utf-8")) <= MAX_NAME_BYTES


def test_identifier_of_flat_values_matches_0_2_rules():
    assert (
        make_identifier({"a": [1, 2, 3], "b": True, "c.d": False, "c._e": 1}, "-") == "1x2x3-b-no_d"
    )
