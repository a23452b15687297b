"""Precondition matching: canonical order, and one answer from both forms."""

from __future__ import annotations

import random
from pathlib import Path

from kernel.planner.compiled import compile_method
from kernel.planner.loader import parse_literal
from kernel.planner.match import satisfy, solve_fast
from kernel.planner.model import Fact
from kernel.planner.state import State
from tests.planner.helpers import domain_from

PAIRS = """
[task.t]
params = ["?x"]
[primitive.use]
params = ["?x", "?y", "?z"]
[method.m]
task = "t ?x"
pre = ["link ?x ?y", "link ?y ?z", "not blocked ?z", "?x != ?z", "mark ?z"]
subtasks = ["use ?x ?y ?z"]
"""


def test_matches_come_in_sorted_fact_order() -> None:
    state = State.of([("room", "c"), ("room", "a"), ("room", "b")])
    found = [env["?r"] for env in satisfy([parse_literal("room ?r", "t")], state, {})]
    assert found == ["a", "b", "c"]


def test_the_compiled_form_finds_the_bindings_the_general_form_finds_in_its_order(
    tmp_path: Path,
) -> None:
    method = domain_from(tmp_path, PAIRS).methods["t"][0]
    compiled = compile_method(method)
    assert compiled.fast is not None
    (_, args_of, _), = compiled.fast.subtasks
    rng = random.Random(7)
    nodes = "abcde"
    for _ in range(200):
        facts: list[Fact] = [("link", rng.choice(nodes), rng.choice(nodes)) for _ in range(8)]
        facts += [(rng.choice(("blocked", "mark")), rng.choice(nodes)) for _ in range(4)]
        state = State.of(facts)
        for x in nodes:
            fast = [args_of(slots) for slots in solve_fast(compiled.fast, state, (x,))]
            general = [
                (x, env["?y"], env["?z"]) for env in satisfy(compiled.pre, state, {"?x": x})
            ]
            assert fast == general
