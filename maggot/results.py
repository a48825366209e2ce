"""Comparing two runs' results: one row per dotted result name, exact or within tolerances."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from maggot.config import flatten

MATCH = "match"
DIFFER = "differ"
MISSING = "missing"  # only the first run has it
EXTRA = "extra"  # only the second run has it


class Comparison(NamedTuple):
    """One result of two runs; a run without it has ``None`` there."""

    name: str
    first: Any
    second: Any
    status: str  # MATCH, DIFFER, MISSING (not in the second run) or EXTRA (only in the second)

    @property
    def in_first(self) -> bool:
        """Whether the first run has this result."""
        return self.status != EXTRA

    @property
    def in_second(self) -> bool:
        """Whether the second run has this result."""
        return self.status != MISSING


def compare_results(
    first: Mapping[str, Any], second: Mapping[str, Any], rtol: float = 0.0, atol: float = 0.0
) -> list[Comparison]:
    """Compare flattened results, sorted by name: exact by default, numbers within tolerances.

    NaN matches NaN: a run that recorded NaN and a replay that gets NaN again
    reproduced it.
    """
    first_flat, second_flat = flatten(dict(first)), flatten(dict(second))
    comparisons = []
    for name in sorted(set(first_flat) | set(second_flat)):
        if name not in second_flat:
            comparisons.append(Comparison(name, first_flat[name], None, MISSING))
        elif name not in first_flat:
            comparisons.append(Comparison(name, None, second_flat[name], EXTRA))
        else:
            before, after = first_flat[name], second_flat[name]
            same = values_match(before, after, rtol, atol)
            comparisons.append(Comparison(name, before, after, MATCH if same else DIFFER))
    return comparisons


def values_match(before: Any, after: Any, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Whether two result values are the same (numbers: within ``rtol``/``atol``)."""
    numbers = (int, float)
    if (
        isinstance(before, numbers)
        and isinstance(after, numbers)
        and not isinstance(before, bool)
        and not isinstance(after, bool)
    ):
        if math.isnan(before) and math.isnan(after):
            return True
        if rtol or atol:
            return math.isclose(before, after, rel_tol=rtol, abs_tol=atol)
        return before == after
    # True == 1 in Python, but a result recorded as true and replayed as 1 changed type
    if isinstance(before, bool) != isinstance(after, bool):
        return False
    return bool(before == after)
