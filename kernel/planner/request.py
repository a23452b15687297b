"""The planner's front door for commands: from intent text (or an explicit
task) plus the repository's methods, configuration and facts, to plan
candidates. `jitos plan` calls `plan_request`; `jitos intent` should too.

Reads method, facts and config files; never runs git, writes or prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import BadInput
from kernel.planner import context
from kernel.planner.intents import match_intent
from kernel.planner.loader import Library, load_facts, load_library
from kernel.planner.model import (
    DEFAULT_DEPTH_LIMIT,
    DEFAULT_NODE_BUDGET,
    Fact,
    PlanResult,
    TaskCall,
)
from kernel.planner.search import plan


class NoPlan(BadInput):
    """No decomposition exists within the bounds (exit 2)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """What `plan_request` found: the text planned for, the intent that matched
    (None when the task was given explicitly) and the search result."""

    text: str
    intent: str | None
    result: PlanResult


def library(
    cwd: Path | None = None, extra: Sequence[Path] = (), *, repo: bool = True
) -> Library:
    """Shipped methods, the repository's `.jitos/methods/` (unless `repo` is
    False), then `extra` paths."""
    root = context.find_repo_root(cwd) if repo else None
    return load_library(context.library_layers(root, extra))


def plan_request(
    text: str,
    *,
    task: TaskCall | None = None,
    facts_file: Path | None = None,
    facts: Sequence[Fact] = (),
    cwd: Path | None = None,
    methods: Sequence[Path] = (),
    max_plans: int = 1,
    depth_limit: int = DEFAULT_DEPTH_LIMIT,
    node_budget: int = DEFAULT_NODE_BUDGET,
    config: Mapping[str, object] | None = None,
) -> Planned:
    """Plan for intent `text` (or `task`, when given) with the repository's
    `config` (the kernel's merged configuration; none outside a repository).
    Initial facts: one `("config", "a.b")` per configured key, then `facts`,
    then `facts_file`'s."""
    root = context.find_repo_root(cwd)
    lib = load_library(context.library_layers(root, methods))
    config = config or {}
    intent: str | None = None
    if task is None:
        found = match_intent(lib.domain, text)
        if found is None:
            raise BadInput(
                f"no intent matches {text!r}; name a task with --task NAME ARG… "
                "(see `jitos methods list`) or add an [intent.*] table to .jitos/methods/"
            )
        intent, task = found.intent, found.call
    initial = [*context.config_facts(config), *facts]
    if facts_file is not None:
        initial.extend(load_facts(facts_file))
    result = plan(
        lib.domain,
        task,
        initial,
        config=config,
        max_plans=max_plans,
        depth_limit=depth_limit,
        node_budget=node_budget,
    )
    return Planned(text=text or str(task), intent=intent, result=result)


def require_plan(planned: Planned) -> None:
    """Raise NoPlan, saying which task failed and the deepest reason, if no plan."""
    result = planned.result
    if result.plans:
        return
    parts = [f"no plan for {result.task}"]
    if result.failure is not None:
        parts.append(f"could not decompose {result.failure}")
    if result.stats.stopped == "budget":
        parts.append(
            f"the search stopped at its budget of {result.stats.nodes} nodes; raise --budget"
        )
    raise NoPlan("; ".join(parts))
