"""The ``--filter`` language: a tokenizer and recursive-descent parser, evaluated without eval.

Grammar (keywords are case-insensitive)::

    expression  := or
    or          := and ("or" and)*
    and         := not ("and" not)*
    not         := "not"* primary
    primary     := "(" expression ")" | comparison
    comparison  := KEY OP literal | KEY ["not"] "in" "[" literal ("," literal)* "]"
    OP          := "==" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
    literal     := number | string | true | false | null | bare word

A bare word on the right of an operator is text (``status == failed``), unless
it is a number whose exponent has no digits (``1e``): that is a typo.
Chains of ``and``, ``or`` and ``not`` are read in loops, to any length;
parentheses may nest ``MAX_NESTING`` levels deep. The
old ``KEY OP VALUE`` form of maggot 0.3, where the rest of the text is the value
(``tag!=a b``, ``note=``), is still accepted when the grammar does not parse it
and the value is text: never after a number, ``true``, ``false`` or ``null``
(``accuracy > 0.5 foo``), nor with a quote or backtick opening a word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from maggot.errors import MaggotError

COMPARISONS = ("==", "!=", "<=", ">=", "<", ">", "~", "!~")
# parentheses deeper than this are refused: each level is a few frames of recursion
# when parsing and evaluating, and no hand-written filter needs more
MAX_NESTING = 50
# a value a run does not have: comparisons with it are false
MISSING: Any = object()

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<quoted_key>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<operator>==|!=|<=|>=|!~|[=<>~])
  | (?P<punctuation>[()\[\],])
  | (?P<word>[^\s()\[\],=!<>~"'`]+)
    """,
    re.VERBOSE,
)
_KEYWORDS = ("and", "or", "not", "in")
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}
# the old form is only taken for what the grammar cannot mean: a value with
# blanks (``tag!=a b``) or an empty one (``note=``), never one with grammar in it
_PLAIN_KEY = re.compile(r"^[^\s()\[\],\"'`~]+$")
_GRAMMAR_WORDS = re.compile(r"(?i)(^|\s)(and|or|not|in)(\s|$)|[()\[\]~<>=]")
# 0.3 read a number followed by more (``0.5 foo``, ``1,5``) as text, which no number
# then equals: a forgotten operator or a decimal comma, not text. A word that only
# starts with digits is text: a sweep id (``20240501-120000-...``), a run name (``5-1.0``)
_NUMBER_THEN_COMMA = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+),")
# a quote or backtick starting a word opens a string or key that was never closed
_OPENING_QUOTE = re.compile(r"(^|\s)[\"'`]")
_UNFINISHED_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?")
_LEGACY = re.compile(r"^\s*([^=!<>]*?)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$", re.DOTALL)


class FilterSyntaxError(MaggotError):
    """A filter that does not parse; ``column`` (1-based) is where it fails."""

    def __init__(self, text: str, column: int, problem: str) -> None:
        super().__init__(f"filter {text!r}: column {column}: {problem}")
        self.text = text
        self.column = column
        self.problem = problem


class Literal(NamedTuple):
    """A value written in a filter, with its text (``9`` and ``"9"`` differ in kind only)."""

    value: Any
    text: str


class Token(NamedTuple):
    kind: str
    text: str
    column: int


@dataclass(frozen=True)
class Compare:
    """``key op literal``."""

    key: str
    operator: str
    literal: Literal


@dataclass(frozen=True)
class InList:
    """``key in [literals]`` (``negated`` for ``not in``)."""

    key: str
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    """All ``operands`` hold (a chain ``a and b and c`` is one node: no recursion per term)."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """One of ``operands`` holds."""

    operands: tuple[Node, ...]


Node = Compare | InList | Not | And | Or
Lookup = Callable[[str], Any]


class Filter(NamedTuple):
    """A parsed filter: its source text and syntax tree."""

    text: str
    tree: Node

    def used_keys(self) -> list[str]:
        """The keys the filter reads, in order of appearance, unique."""
        found: dict[str, None] = {}
        for node in _walk(self.tree):
            if isinstance(node, (Compare, InList)):
                found[node.key] = None
        return list(found)

    def matches(self, lookup: Lookup) -> bool:
        """Whether a run whose values ``lookup(key)`` returns (or MISSING) passes."""
        return _evaluate(self.tree, lookup)

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Filter:
    """Parse a filter expression; raise FilterSyntaxError with the failing column."""
    try:
        return Filter(text, _Parser(text).parse())
    except FilterSyntaxError:
        legacy = _parse_legacy(text)
        if legacy is None:
            raise
        return legacy


def _parse_legacy(text: str) -> Filter | None:
    """The 0.3 form ``KEY OP VALUE``: everything after the operator is the value."""
    match = _LEGACY.match(text)
    if not match or not _PLAIN_KEY.match(match.group(1)):
        return None
    key, operator, value = match.groups()
    if _GRAMMAR_WORDS.search(value) or (not value and operator not in ("=", "==", "!=")):
        return None
    if value and not _is_legacy_text(value):
        return None
    operator = "==" if operator == "=" else operator
    return Filter(text, Compare(key, operator, Literal(value, value)))


def _is_legacy_text(value: str) -> bool:
    """Whether a 0.3 value is text the grammar cannot write as one word, not a typo."""
    first_word = value.split(maxsplit=1)[0]
    if (
        first_word.lower() in _CONSTANTS
        or _UNFINISHED_EXPONENT.fullmatch(first_word)
        or _NUMBER_THEN_COMMA.match(first_word)
    ):
        return False
    try:
        float(first_word)  # a number (nan, inf too) with more after it
        return False
    except ValueError:
        pass
    return not _OPENING_QUOTE.search(value)


def tokenize(text: str) -> Iterator[Token]:
    """The tokens of ``text``; an unexpected character raises FilterSyntaxError."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            problem = f"unexpected {text[position]!r}"
            if text[position] in "\"'`":
                problem = f"unterminated {text[position]}"
            raise FilterSyntaxError(text, position + 1, problem)
        kind = match.lastgroup
        if kind != "space":
            word = match.group()
            if kind == "word" and word.lower() in _KEYWORDS:
                kind = word.lower()
            yield Token(kind, word, position + 1)
        position = match.end()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(tokenize(text))
        self.position = 0
        self.depth = 0  # parentheses open at the current position

    def parse(self) -> Node:
        if not self.tokens:
            raise FilterSyntaxError(self.text, 1, "empty filter")
        tree = self.parse_or()
        if self.position < len(self.tokens):
            self.fail("expected 'and', 'or' or the end")
        return tree

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def fail(self, expected: str) -> None:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError(self.text, len(self.text) + 1, f"{expected}, got the end")
        raise FilterSyntaxError(self.text, token.column, f"{expected}, got {token.text!r}")

    def take(self, kind: str, expected: str) -> Token:
        token = self.peek()
        if token is None or token.kind != kind:
            self.fail(expected)
            raise AssertionError  # fail() always raises
        self.position += 1
        return token

    def accept(self, kind: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == kind:
            self.position += 1
            return True
        return False

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.accept("or"):
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_not()]
        while self.accept("and"):
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_not(self) -> Node:
        negations = 0
        while self.accept("not"):
            negations += 1
        node = self.parse_primary()
        # ``not not x`` is ``x``: a run's match is true or false, MISSING included
        return Not(node) if negations % 2 else node

    def parse_primary(self) -> Node:
        token = self.peek()
        if token is not None and token.text == "(":
            if self.depth == MAX_NESTING:
                raise FilterSyntaxError(
                    self.text,
                    token.column,
                    f"parentheses nested more than {MAX_NESTING} levels deep",
                )
            self.position += 1
            self.depth += 1
            node = self.parse_or()
            self.depth -= 1
            token = self.peek()
            if token is None or token.text != ")":
                self.fail("expected ')'")
            self.position += 1
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        token = self.peek()
        if token is None or token.kind not in ("word", "quoted_key"):
            self.fail("expected a key")
            raise AssertionError
        self.position += 1
        key = token.text[1:-1] if token.kind == "quoted_key" else token.text
        negated = self.accept("not")
        if negated or self.accept("in"):
            if negated:
                self.take("in", "expected 'in' after 'not'")
            return InList(key, self.parse_list(), negated)
        operator = self.take("operator", "expected an operator (== != < <= > >= ~ !~ in)")
        literal = self.parse_literal()
        symbol = "==" if operator.text == "=" else operator.text
        if symbol in ("~", "!~"):
            try:
                re.compile(str(literal.value))
            except re.error as error:
                column = self.tokens[self.position - 1].column
                raise FilterSyntaxError(self.text, column, f"bad regex: {error}") from None
        return Compare(key, symbol, literal)

    def parse_list(self) -> tuple[Literal, ...]:
        token = self.peek()
        if token is None or token.text != "[":
            self.fail("expected '['")
        self.position += 1
        literals = [self.parse_literal()]
        while True:
            token = self.peek()
            if token is not None and token.text == ",":
                self.position += 1
                literals.append(self.parse_literal())
                continue
            if token is not None and token.text == "]":
                self.position += 1
                return tuple(literals)
            self.fail("expected ',' or ']'")

    def parse_literal(self) -> Literal:
        token = self.peek()
        if token is None or token.kind not in ("number", "string", "word"):
            self.fail("expected a value")
            raise AssertionError
        self.position += 1
        if token.kind == "number":
            number = float(token.text)
            value: Any = int(token.text) if number.is_integer() and token.text.isdigit() else number
            return Literal(value, token.text)
        if token.kind == "string":
            value = _unquote(token.text)
            return Literal(value, value)
        if token.text.lower() in _CONSTANTS:
            return Literal(_CONSTANTS[token.text.lower()], token.text.lower())
        if _UNFINISHED_EXPONENT.fullmatch(token.text):
            problem = f"{token.text!r} is not a number: its exponent has no digits"
            raise FilterSyntaxError(self.text, token.column, problem)
        return Literal(token.text, token.text)


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    try:
        return str(json.loads(f'"{body}"'))
    except json.JSONDecodeError:
        return body


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not):
        yield from _walk(node.operand)
    elif isinstance(node, (And, Or)):
        for operand in node.operands:
            yield from _walk(operand)


def _evaluate(node: Node, lookup: Lookup) -> bool:
    if isinstance(node, And):
        return all(_evaluate(operand, lookup) for operand in node.operands)
    if isinstance(node, Or):
        return any(_evaluate(operand, lookup) for operand in node.operands)
    if isinstance(node, Not):
        return not _evaluate(node.operand, lookup)
    value = lookup(node.key)
    if value is MISSING:
        return False
    if isinstance(node, InList):
        found = any(_compare(value, "==", literal) for literal in node.literals)
        return found != node.negated
    return _compare(value, node.operator, node.literal)


def _compare(value: Any, operator: str, literal: Literal) -> bool:
    if isinstance(value, list) and operator == "!=":
        # the negation of ``==``, as ``!~`` is of ``~``: no item (and not the whole list) equals
        return not _compare(value, "==", literal)
    if isinstance(value, list) and operator in ("==", "~"):
        # a list (tags) matches when one of its items does
        return any(_compare(item, operator, literal) for item in value) or (
            operator == "==" and render(value) == literal.text
        )
    if operator == "~":
        return re.search(literal.text, render(value)) is not None
    if operator == "!~":
        return not _compare(value, "~", literal)
    left: Any = render(value)
    right: Any = literal.text
    if is_number(value):
        try:
            left, right = float(value), float(literal.text)
        except ValueError:
            pass
    if operator in ("==", "!=") and isinstance(left, float) and left != left and right != right:
        # NaN is never equal to itself, but `loss == nan` asks which runs have one
        return operator == "=="
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    return bool(left >= right)


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def render(value: Any) -> str:
    """A value as text: strings as they are, floats as Python prints them, others as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
