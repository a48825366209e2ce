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
        # the filters of maggot 0.3's tests and README
        ("model.C>=1", "model.C", ">=", "1"),
        ("status=completed", "status", "==", "completed"),
        (" accuracy < 0.9 ", "accuracy", "<", "0.9"),
        ("tag!=a b", "tag", "!=", "a b"),
        ('kernel=="rbf"', "kernel", "==", "rbf"),
        ("note=", "note", "==", ""),
        ("x>-1e-3", "x", ">", "-1e-3"),
        ("fold1.loss!=0.5", "fold1.loss", "!=", "0.5"),
        ("tag==c", "tag", "==", "c"),
        # 0.3 took the rest of the text as the value: text with blanks or punctuation
        ("status == failed", "status", "==", "failed"),
        ("model.name == resnet", "model.name", "==", "resnet"),
        ("note == learning rate too high", "note", "==", "learning rate too high"),
        ("model.name == resnet 50", "model.name", "==", "resnet 50"),
        ("note ==", "note", "==", ""),
        ("note !=", "note", "!=", ""),
        ("label == a, b", "label", "==", "a, b"),
        ("label == a!b", "label", "==", "a!b"),
        ("note == it's done", "note", "==", "it's done"),
        ("opt > adam w", "opt", ">", "adam w"),
        # words that only start with digits: sweep ids and run names, as the README shows
        ("sweep=20240501-120000-123456-ab12", "sweep", "==", "20240501-120000-123456-ab12"),
        ("run == 5-1.0-0.01", "run", "==", "5-1.0-0.01"),
        ("commit == 3f2a9c1", "commit", "==", "3f2a9c1"),
        ("note == 1st try", "note", "==", "1st try"),
    ],
)
def test_the_old_key_op_value_form_still_parses(
    text: str, key: str, operator: str, value: str
) -> None:
    tree = parse(text).tree
    assert isinstance(tree, query.Compare)
    assert (tree.key, tree.operator, tree.literal.text) == (key, operator, value)


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("accuracy > 0.6 accuracy", 16, "got 'accuracy'"),
        ("accuracy > 0.5 foo", 16, "got 'foo'"),
        ("accuracy > -1e-3 foo", 18, "got 'foo'"),
        ("accuracy < 1,5", 13, "got ','"),
        ("flag == true x", 14, "got 'x'"),
        ("loss == nan x", 13, "got 'x'"),
        ("loss < inf x", 12, "got 'x'"),
        ('kernel == "rbf" x', 17, "got 'x'"),
        ("accuracy < 1e", 12, "'1e' is not a number: its exponent has no digits"),
        ("accuracy >= .5E+", 13, "'.5E+' is not a number"),
        ("x in [1, 2e-]", 10, "'2e-' is not a number"),
        ("accuracy == `odd", 13, "unterminated `"),
        ("accuracy == `odd key", 13, "unterminated `"),
        ("note == 'open", 9, "unterminated '"),
        ('note == a "b', 11, 'unterminated "'),
    ],
)
def test_typos_the_old_form_would_have_read_as_text_are_errors(
    text: str, column: int, problem: str
) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(text)
    assert caught.value.column == column
    assert problem in str(caught.value) and "\n" not in str(caught.value)


_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6})?", fullmatch=True).filter(
    lambda key: key not in ("and", "or", "not", "in")
)
_OPERATORS = st.sampled_from(["=", "==", "!=", "<", "<=", ">", ">="])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# words of text as 0.3 users wrote them: not a number, keyword or constant
_TEXT_WORDS = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_./:+-]{0,8}", fullmatch=True).filter(
    lambda word: (
        word.lower() not in ("and", "or", "not", "in", "true", "false", "null")
        and not _is_number(word)
    )
)
_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"[-+]?(\d{1,3}\.?\d{0,3}|\.\d{1,3})([eE][-+]?\d{1,2})?", fullmatch=True),
)


@given(_KEYS, _OPERATORS, st.lists(_TEXT_WORDS, min_size=2, max_size=4))
def test_text_with_blanks_after_an_operator_is_still_one_value(
    key: str, operator: str, words: list[str]
) -> None:
    value = " ".join(words)
    tree = parse(f"{key} {operator} {value}").tree
    assert isinstance(tree, query.Compare)
    expected = "==" if operator == "=" else operator
    assert (tree.key, tree.operator, tree.literal.text) == (key, expected, value)
    if operator in ("=", "=="):
        assert matches(f"{key}{operator}{value}", {key: value})


@given(_KEYS, _OPERATORS, _NUMBERS, _TEXT_WORDS)
def test_a_word_after_a_number_is_an_error_at_that_word(
    key: str, operator: str, number: str, word: str
) -> None:
    text = f"{key} {operator} {number} {word}"
    with pytest.raises(FilterSyntaxError) as caught:
        parse(text)
    assert caught.value.column == len(text) - len(word) + 1


@given(_KEYS, _OPERATORS, _NUMBERS.filter(lambda number: "e" not in number.lower()), st.data())
def test_a_number_whose_exponent_has_no_digits_is_an_error(
    key: str, operator: str, number: str, data: st.DataObject
) -> None:
    value = number + data.draw(st.sampled_from(["e", "E", "e-", "e+"]))
    prefix = f"{key} {operator} "
    with pytest.raises(FilterSyntaxError) as caught:
        parse(prefix + value)
    assert caught.value.column == len(prefix) + 1
    assert "exponent has no digits" in str(caught.value)


@given(
    _KEYS,
    _OPERATORS,
    st.sampled_from(['"', "'", "`"]),
    st.lists(_TEXT_WORDS, max_size=3),
    st.lists(_TEXT_WORDS, max_size=3),
)
def test_an_unclosed_quote_or_backtick_is_an_error_where_it_opens(
    key: str, operator: str, quote: str, before: list[str], after: list[str]
) -> None:
    prefix = f"{key} {operator} " + "".join(word + " " for word in before)
    with pytest.raises(FilterSyntaxError) as caught:
        parse(prefix + quote + " ".join(after))
    assert caught.value.column == len(prefix) + 1
    assert f"unterminated {quote}" in str(caught.value)


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
