"""Shared helpers for planner tests: tiny domains from TOML text, problem
generators and an independent plan simulator."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from kernel.planner.loader import load_domain
from kernel.planner.match import ground, satisfy
from kernel.planner.model import Domain, Fact, Plan
from kernel.planner.state import State

DOMAINS = Path(__file__).parent / "domains"


def domain_from(tmp_path: Path, text: str, name: str = "m.toml") -> Domain:
    path = tmp_path / name
    path.write_text(text)
    return load_domain([path])


def simulate(domain: Domain, plan: Plan, facts: Iterable[Fact]) -> State:
    """Apply the plan's steps in order, checking each primitive's preconditions."""
    state = State.of(facts)
    for step in plan.steps:
        op = domain.operators[step.name]
        env = dict(zip(op.params, step.args, strict=True))
        found = next(satisfy(op.pre, state, env), None)
        assert found is not None, f"step {step.id} {step.name}{step.args} is not applicable"
        state = state.apply([ground(a, found) for a in op.add], [ground(d, found) for d in op.delete])
    return state


def hanoi_facts(n: int) -> list[Fact]:
    return [("smallest", "d1")] + [("next", f"d{i + 1}", f"d{i}") for i in range(1, n)] + [
        ("at", f"d{i}", "p1") for i in range(1, n + 1)
    ]


def _towers(rng: random.Random, blocks: Sequence[str]) -> list[list[str]]:
    order = list(blocks)
    rng.shuffle(order)
    towers: list[list[str]] = []
    for b in order:
        if towers and rng.random() < 0.7:
            towers[rng.randrange(len(towers))].append(b)
        else:
            towers.append([b])
    return towers


def blocks_problem(n: int, seed: int = 1) -> tuple[list[Fact], list[Fact]]:
    """Random initial and goal towers of n blocks: (initial facts, goal facts)."""
    rng = random.Random(seed)
    blocks = [f"b{i}" for i in range(n)]
    facts: list[Fact] = [("block", b) for b in blocks] + [("pending", b) for b in blocks]
    for tower in _towers(rng, blocks):
        facts.append(("on", tower[0], "table"))
        facts.extend(("on", up, down) for down, up in itertools.pairwise(tower))
        facts.append(("clear", tower[-1]))
    goal: list[Fact] = []
    for tower in _towers(rng, blocks):
        goal.append(("goal-table", tower[0]))
        goal.extend(("goal-on", up, down) for down, up in itertools.pairwise(tower))
    return facts, goal
