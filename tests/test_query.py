from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maggot import query
from maggot.query import MISSING, FilterSyntaxError, parse


def matches(text: str, values: dict[str, Any]) -> bool:
    return parse(text).matches(lambda key: values.get(key, MISSING))


RUN = {"accuracy": 0.93, "model.C": 10, "status": "failed", "tags": ["baseline", "v2"], "n": 9}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('accuracy > 0.9 and (model.C in [1, 10] or status == "failed")', True),
        ("accuracy > 0.95 or model.C in [1, 10]", True),
        ("accuracy > 0.95 or model.C in [1, 2]", False),
        ("not accuracy > 0.95", True),
        ("NOT (accuracy > 0.9 AND n == 9)", False),
        ("model.C not in [1, 2]", True),
        ("status ~ '^fail'", True),
        ("status !~ fail", False),
        ('tags ~ "baseline"', True),
        ("tags == v2", True),
        ("tags != v2", False),
        ("tags != nope", True),
        ("not tags != v2", True),
        ("tags ~ nope", False),
        ("status = failed", True),
        ("missing.key > 1", False),
        ("not missing.key > 1", True),
        ("`model.C` >= 10", True),
        ("a or b == 1 and c", None),  # syntax error placeholder, see below
    ][:-1],
)
def test_filter_expressions(text: str, expected: bool) -> None:
    assert matches(text, RUN) is expected


def test_and_binds_tighter_than_or() -> None:
    assert matches("n == 1 and n == 2 or n == 9", RUN)
    assert not matches("n == 9 and (n == 1 or n == 2)", RUN)


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("accuracy > and", 12, "expected a value, got 'and'"),
        ("accuracy >", 11, "expected a value, got the end"),
        ("(a > 1", 7, "expected ')'"),
        ("a in [1,", 9, "expected a value"),
        ("a > 1 b > 2", 7, None),
        ("a ~ '['", 5, "bad regex"),
        ('a == "open', 6, "unterminated"),
        ("and", 1, "expected a key"),
        ("", 1, "empty filter"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, column: int, problem: str | None) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(text)
    assert caught.value.column == column
    assert f"column {column}" in str(caught.value) and "\n" not in str(caught.value)
    if problem:
        assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key", "operator", "value"),
    [
        ("model.C>=1", "model.C", ">=", "1"),
        ("status=completed", "status", "==", "completed"),
        (" accuracy < 0.9 ", "accuracy", "<", "0.9"),
        ("tag!=a b", "tag", "!=", "a b"),
        ('kernel=="rbf"', "kernel", "==", "rbf"),
        ("note=", "note", "==", ""),
        ("x>-1e-3", "x", ">", "-1e-3"),
    ],
)
def test_the_old_key_op_value_form_still_parses(
    text: str, key: str, operator: str, value: str
) -> None:
    tree = parse(text).tree
    assert isinstance(tree, query.Compare)
    assert (tree.key, tree.operator, tree.literal.text) == (key, operator, value)


def test_numbers_compare_numerically_and_text_as_text() -> None:
    assert matches("n > 8.5", RUN)
    assert not matches("label > 9", {"label": "10"})  # text: "10" < "9"
    assert matches("flag == true", {"flag": True}) and matches("opt == null", {"opt": None})
    assert matches("score == 10.0", {"score": 10})


def test_used_keys_are_listed_once_in_order() -> None:
    assert parse("b > 1 and (a ~ x or b in [2])").used_keys() == ["b", "a"]


@given(st.text(max_size=40))
def test_any_text_parses_or_fails_with_a_column(text: str) -> None:
    try:
        parsed = parse(text)
    except FilterSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
    else:
        parsed.matches(lambda key: MISSING)
        parsed.matches(lambda key: "text")


def test_long_chains_of_and_or_and_not_parse_and_evaluate() -> None:
    either = " or ".join(f"n == {number}" for number in range(1000))
    assert matches(either, RUN) and not matches(either, {"n": 1000})
    both = " and ".join(f"n != {number}" for number in range(1000))
    assert matches(both, {"n": 1000}) and not matches(both, RUN)
    assert matches("not " * 3000 + "n == 9", RUN)
    assert not matches("not " * 3001 + "n == 9", RUN)
    assert parse(either).used_keys() == ["n"]


def test_parentheses_nest_up_to_the_limit() -> None:
    deepest = query.MAX_NESTING
    assert matches("(" * deepest + "n == 9" + ")" * deepest, RUN)
    assert matches("(not " * deepest + "n == 1" + ")" * deepest, RUN) is (deepest % 2 == 1)
    with pytest.raises(FilterSyntaxError) as caught:
        parse("(" * 300 + "n == 9" + ")" * 300)
    assert caught.value.column == deepest + 1
    assert "nested more than" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "loss", "expected"),
    [
        ("loss == nan", float("nan"), True),
        ("loss != nan", float("nan"), False),
        ("loss == nan", 0.5, False),
        ("loss != nan", 0.5, True),
        ("loss == inf", float("inf"), True),
        ("loss > 1", float("nan"), False),
    ],
)
def test_nan_results_are_found_by_equality(text: str, loss: float, expected: bool) -> None:
    assert matches(text, {"loss": loss}) is expected
