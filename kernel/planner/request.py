"""The planner's front door for commands: where a request's inputs live (the
shipped methods, a repository's `.jitos/methods/`, facts derived from the
configuration) and, from intent text or an explicit task, plan candidates.
`jitos intent` calls `plan_request`; `jitos plan` calls `plan_candidates`,
which adds the choice of candidates and, on request, their verification
against the same inputs read again (`verify_request`).

The configuration is the kernel's (`kernel.base.repo.load_config`): callers
pass it in. This module reads method and facts files only; it never reads a
config file, runs git, writes or prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import kernel
from kernel.errors import BadInput, IntegrityError
from kernel.planner.intents import MATCH_PREFIX, check_intent_size, match_intent
from kernel.planner.limits import DEFAULT_DEPTH_LIMIT, DEFAULT_NODE_BUDGET
from kernel.planner.loader import (
    Layer,
    Library,
    expand_paths,
    load_facts,
    load_library,
    method_files,
)
from kernel.planner.model import (
    Fact,
    Plan,
    PlanResult,
    TaskCall,
)
from kernel.planner.search import plan
from kernel.planner.validate import Verdict, validate

REPO_METHODS = Path(".jitos") / "methods"

# ---------------------------------------------------------------------------
# where the inputs live


def shipped_methods_dir() -> Path:
    """The `methods/` folder installed with jitos."""
    return Path(kernel.__file__).resolve().parent.parent / "methods"


def find_repo_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` holding `.git` (a folder or a file,
    as in a worktree), or None outside any repository. Looks at files; runs no git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def library_layers(root: Path | None, extra: Sequence[Path] = ()) -> list[Layer]:
    """Shipped methods, then the repository's (if any), then `extra` files/folders."""
    shipped = shipped_methods_dir()
    layers = [Layer("shipped", method_files(shipped), shipped.parent)]
    if root is not None:
        layers.append(Layer("repo", method_files(root / REPO_METHODS), root))
    if extra:
        layers.append(Layer("file", expand_paths(extra)))
    return layers


def library(
    cwd: Path | None = None, extra: Sequence[Path] = (), *, repo: bool = True
) -> Library:
    """Shipped methods, the repository's `.jitos/methods/` (unless `repo` is
    False), then `extra` paths."""
    root = find_repo_root(cwd) if repo else None
    return load_library(library_layers(root, extra))


def config_facts(config: Mapping[str, object], prefix: str = "") -> tuple[Fact, ...]:
    """`("config", "gate.command")` for every configured, non-empty leaf value, so
    methods can choose on what a repository has configured."""
    facts: list[Fact] = []
    for key in sorted(config):
        value = config[key]
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            facts.extend(config_facts(value, f"{dotted}."))
        elif value not in ("", [], None):
            facts.append(("config", dotted))
    return tuple(facts)


def initial_facts(
    config: Mapping[str, object], facts: Sequence[Fact] = (), facts_file: Path | None = None
) -> list[Fact]:
    """A request's initial facts: one `("config", "a.b")` per configured key,
    then `facts`, then `facts_file`'s."""
    initial = [*config_facts(config), *facts]
    if facts_file is not None:
        initial.extend(load_facts(facts_file))
    return initial


# ---------------------------------------------------------------------------
# planning


class NoPlan(BadInput):
    """No decomposition exists within the bounds (exit 2)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """What `plan_request` found: the text planned for, the intent that matched
    (None when the task was given explicitly) and the search result."""

    text: str
    intent: str | None
    result: PlanResult


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
    `config` (the kernel's merged configuration; none outside a repository)
    and the `initial_facts` it, `facts` and `facts_file` give. Intent text
    over the size limit is refused before anything is read."""
    check_intent_size(text)
    lib = library(cwd, methods)
    config = config or {}
    intent: str | None = None
    if task is None:
        found = match_intent(lib.domain, text)
        if found is None:
            raise _no_intent(text)
        intent, task = found.intent, found.call
    result = plan(
        lib.domain,
        task,
        initial_facts(config, facts, facts_file),
        config=config,
        max_plans=max_plans,
        depth_limit=depth_limit,
        node_budget=node_budget,
    )
    return Planned(text=text or str(task), intent=intent, result=result)


def _no_intent(text: str) -> BadInput:
    shown = repr(text) if len(text) <= 80 else f"{text[:80]!r}…"
    if len(" ".join(text.split())) > MATCH_PREFIX:
        shown += f" (only its first {MATCH_PREFIX} characters are matched)"
    return BadInput(
        f"no intent matches {shown}; name a task with --task NAME ARG… "
        "(see `jitos methods list`) or add an [intent.*] table to .jitos/methods/"
    )


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


def verify_request(
    plans: Sequence[Plan],
    *,
    facts_file: Path | None = None,
    facts: Sequence[Fact] = (),
    cwd: Path | None = None,
    methods: Sequence[Path] = (),
    config: Mapping[str, object] | None = None,
) -> tuple[Verdict, ...]:
    """Validate `plans` against the library and initial facts that `plan_request`
    builds from the same arguments, read again from their files."""
    domain = library(cwd, methods).domain
    initial = initial_facts(config or {}, facts, facts_file)
    return tuple(validate(domain, initial, p) for p in plans)


# ---------------------------------------------------------------------------
# what `jitos plan` shows


@dataclass(frozen=True, slots=True)
class Candidates:
    """What `jitos plan` shows: the request's answer, the plans to show, whether
    they are a list of candidates (`--all`/`--max`) rather than the one plan,
    and each plan's verdict when verification was asked for (else None)."""

    planned: Planned
    plans: tuple[Plan, ...]
    many: bool
    verdicts: tuple[Verdict, ...] | None


def plan_candidates(
    text: str,
    *,
    task: TaskCall | None = None,
    facts_file: Path | None = None,
    methods: Sequence[Path] = (),
    all_plans: bool = False,
    max_plans: int | None = None,
    depth_limit: int = DEFAULT_DEPTH_LIMIT,
    node_budget: int = DEFAULT_NODE_BUDGET,
    config: Mapping[str, object] | None = None,
    verify: bool = False,
) -> Candidates:
    """`jitos plan`: the first plan, or every candidate (`all_plans`) or at most
    `max_plans` of them, each validated against the request's inputs read again
    when `verify`. Raises NoPlan when there is none; an invalid plan is a
    verdict (see `require_valid`)."""
    many = all_plans or max_plans is not None
    planned = plan_request(
        text,
        task=task,
        facts_file=facts_file,
        methods=methods,
        max_plans=0 if all_plans else (max_plans or 1),
        depth_limit=depth_limit,
        node_budget=node_budget,
        config=config,
    )
    require_plan(planned)
    plans = planned.result.plans if many else planned.result.plans[:1]
    verdicts = None
    if verify:
        verdicts = verify_request(plans, facts_file=facts_file, methods=methods, config=config)
    return Candidates(planned, plans, many, verdicts)


def require_valid(verdicts: Sequence[Verdict] | None) -> None:
    """Raise IntegrityError, naming the first problem, if a verdict is not ok."""
    for i, verdict in enumerate(verdicts or (), start=1):
        if not verdict.ok:
            raise IntegrityError(
                f"plan {i} fails verification: {verdict.problems[0]} (the search and the "
                "validator disagree; please report it with the method and facts files)"
            )
