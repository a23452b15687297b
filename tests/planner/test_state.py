"""Planner states: immutable, canonical, and cheap to derive."""

from __future__ import annotations

import random

from kernel.planner.model import Fact
from kernel.planner.state import State


def _random_fact(rng: random.Random) -> Fact:
    return (rng.choice("pqr"), *(rng.choice("abcd") for _ in range(rng.randrange(3))))


def test_apply_gives_the_same_state_as_building_the_result_from_scratch() -> None:
    rng = random.Random(5)
    for _ in range(500):
        base = {_random_fact(rng) for _ in range(rng.randrange(12))}
        adds = [_random_fact(rng) for _ in range(rng.randrange(4))]
        dels = [_random_fact(rng) for _ in range(rng.randrange(4))] + sorted(base)[:2]
        got = State.of(base).apply(adds, dels)
        want = State.of((base - set(dels)) | set(adds))
        assert got == want and got.sorted() == want.sorted()
        assert [f for f in want.sorted() if f not in got] == []


def test_apply_leaves_the_original_state_unchanged() -> None:
    state = State.of([("on", "a", "b")])
    state.apply([("on", "a", "c")], [("on", "a", "b")])
    assert state.sorted() == (("on", "a", "b"),)


def test_a_fact_both_added_and_deleted_stays() -> None:
    state = State.of([("x",)]).apply([("x",)], [("x",)])
    assert ("x",) in state
