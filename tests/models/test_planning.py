"""models.planning: the one batch planner behind docsum batch, eval, Ray and the server's scheduler."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from models.planning import CallBudget, estimate_tokens, fill_call, input_tokens, plan_calls, run_or_split
from models.yielding import Cancelled
from tests.fakes import FakeSummarizer


def test_a_budget_holds_documents_and_padded_tokens_times_rows() -> None:
    budget = CallBudget(documents=4, tokens=100)
    assert budget.fits(2, 50, 1)
    assert not budget.fits(3, 50, 1)  # 150 padded tokens
    assert not budget.fits(2, 50, 2)  # two beams double the rows
    assert budget.fits(1, 10_000, 4)  # one document always runs, however long
    assert not budget.fits(5, 1, 1)
    assert CallBudget(documents=2).fits(2, 10**9, 8)  # no token cap
    with pytest.raises(ValueError, match="at least one document"):
        CallBudget(documents=0)
    with pytest.raises(ValueError, match="token budget"):
        CallBudget(documents=1, tokens=0)


def test_calls_are_planned_longest_first_within_the_budget() -> None:
    sizes = {"a": 10, "b": 200, "c": 30, "d": 190, "e": 10, "f": 500}
    calls = plan_calls(list(sizes), sizes.__getitem__, rows=1, budget=CallBudget(documents=3, tokens=400))
    assert calls == [["f"], ["b", "d"], ["c", "a", "e"]]
    assert [x for call in calls for x in call] == sorted(sizes, key=sizes.__getitem__, reverse=True)
    with_beams = plan_calls(list(sizes), sizes.__getitem__, rows=4, budget=CallBudget(documents=3, tokens=400))
    assert with_beams == [["f"], ["b"], ["d"], ["c", "a", "e"]]  # 30 x 4 x 3 = 360 fits; 190 x 4 x 2 does not


def test_a_call_fills_with_the_closest_lengths_first() -> None:
    sizes = {"head": 100, "near": 90, "far": 10, "long": 130, "tie": 110}
    call = fill_call("head", ["far", "long", "near", "tie"], sizes.__getitem__, 1, CallBudget(3, 400))
    assert call == ["head", "near", "tie"]  # 10 away, then 10 away again (order given breaks the tie)
    call = fill_call("head", ["far", "long", "near", "tie"], sizes.__getitem__, 1, CallBudget(8, 330))
    # near (100 x 2) and tie (110 x 3 = 330) fit; then long (130 x 4 = 520) and far (110 x 4 = 440) do not.
    assert call == ["head", "near", "tie"]


def test_a_failed_call_is_retried_one_by_one_and_only_the_bad_one_fails() -> None:
    calls: list[list[str]] = []

    def run(call: Sequence[str]) -> list[str]:
        calls.append(list(call))
        if "bad" in call:
            raise RuntimeError("broken")
        return [text.upper() for text in call]

    results = run_or_split(run, ["a", "bad", "c"], lambda item, exc: f"{item}: {exc}")
    assert results == ["A", "bad: broken", "C"]
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_a_cancelled_call_is_not_retried() -> None:
    calls: list[list[str]] = []

    def run(call: Sequence[str]) -> list[str]:
        calls.append(list(call))
        raise Cancelled

    with pytest.raises(Cancelled):
        run_or_split(run, ["a", "b"], lambda item, exc: item)
    assert calls == [["a", "b"]]


def test_tokens_come_from_the_summarizer_capped_at_its_window() -> None:
    fake = FakeSummarizer(max_input_tokens=5)
    assert input_tokens(fake, ["one two", "a b c d e f g h"]) == [2, 5]
    assert estimate_tokens("x" * 400) == 102
    assert estimate_tokens("x" * 400, window=50) == 50
