from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from maggot.results import DIFFER, EXTRA, MATCH, MISSING, Comparison, compare_results


def test_results_side_by_side_with_what_each_run_has() -> None:
    rows = compare_results({"acc": 0.5, "fold1": {"loss": None}}, {"acc": 0.6, "f1": 1})
    assert rows == [
        Comparison("acc", 0.5, 0.6, DIFFER),
        Comparison("f1", None, 1, EXTRA),
        Comparison("fold1.loss", None, None, MISSING),
    ]
    assert [(row.in_first, row.in_second) for row in rows] == [
        (True, True),
        (False, True),
        (True, False),
    ]


def test_compare_results_exact_and_with_tolerance() -> None:
    original = {"accuracy": 0.9, "fold1": {"loss": 0.1}, "name": "a", "nan": float("nan")}
    replay = {
        "accuracy": 0.9000001,
        "fold1": {"loss": 0.1},
        "name": "a",
        "extra": 1,
        "nan": float("nan"),
    }
    statuses = {c.name: c.status for c in compare_results(original, replay)}
    assert statuses == {
        "accuracy": DIFFER,
        "fold1.loss": MATCH,
        "name": MATCH,
        "extra": EXTRA,
        "nan": MATCH,
    }
    tolerant = {c.name: c.status for c in compare_results(original, replay, rtol=1e-5)}
    assert tolerant["accuracy"] == MATCH
    assert {c.status for c in compare_results(original, {})} == {MISSING}


def test_booleans_are_not_numbers() -> None:
    assert compare_results({"ok": True}, {"ok": 1})[0].status == DIFFER


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: "." not in k), st.floats()))
def test_results_always_match_themselves(results: dict[str, float]) -> None:
    assert all(row.status == MATCH for row in compare_results(results, dict(results)))
    assert len(compare_results(results, results)) == len(results)
