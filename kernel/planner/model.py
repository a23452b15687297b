"""The planner's data model: a domain (tasks, primitives, methods, intents) and the
plans the search returns. Every value is a frozen dataclass or a tuple; nothing
here does I/O, search or rendering.

Conventions shared by every planner module:

* A **term** is a string. A term starting with `?` is a variable (`?x`), anything
  else is a constant. Values that come from users (intent text, `--task` args) are
  always constants.
* A **fact** is a tuple of strings `(predicate, arg, ...)`, e.g. `("on", "a", "b")`.
* A **literal** is a predicate applied to terms, positive or negated; the predicate
  `=` is equality (`negated=True` makes it `!=`).
* A **state** is a set of facts (`kernel.planner.state.State`); applying a primitive
  returns a new state, the old one is never changed.

The search entry point lives in `kernel.planner.search`:

    plan(domain: Domain, task: TaskCall, facts: Iterable[Fact] = (), *,
         config: Mapping[str, object] | None = None, max_plans: int = 1,
         depth_limit: int = DEFAULT_DEPTH_LIMIT,
         node_budget: int = DEFAULT_NODE_BUDGET) -> PlanResult

It never raises for "no plan": `PlanResult.plans` is empty and `PlanResult.failure`
says which task could not be decomposed and why. `PlanResult.stats.nodes` counts
search nodes expanded (one per task taken off the agenda), for benchmarking.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

Term = str
Fact = tuple[str, ...]

#: Worker kinds a primitive may name. `none` is a bookkeeping step: it changes
#: planner facts only and the scheduler runs nothing for it.
WORKER_KINDS = ("shell", "agent", "human", "snapshot", "collapse", "none")
EXPECT_VALUES = ("pass", "fail")


def is_var(term: Term) -> bool:
    """True for a variable term (`?x`)."""
    return term.startswith("?")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a definition comes from: a display path (never absolute in plans),
    the layer (`shipped`, `repo`, `file` or `code`) and the TOML table (`method.fix`)."""

    file: str
    layer: str
    table: str

    def __str__(self) -> str:
        return f"{self.file} [{self.table}]"


@dataclass(frozen=True, slots=True)
class Literal:
    """`predicate(args…)`, or its negation. Predicate `=` compares two terms."""

    predicate: str
    args: tuple[Term, ...]
    negated: bool = False
    #: `(predicate, *args)`, and the positions in it that hold variables;
    #: derived, for fast grounding.
    pattern: tuple[str, ...] = field(init=False, repr=False, compare=False)
    var_positions: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", (self.predicate, *self.args))
        positions = tuple(i for i, a in enumerate(self.args, start=1) if a.startswith("?"))
        object.__setattr__(self, "var_positions", positions)

    def variables(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if is_var(a))

    def __str__(self) -> str:
        if self.predicate == "=":
            return f"{self.args[0]} {'!=' if self.negated else '='} {self.args[1]}"
        body = " ".join((self.predicate, *self.args))
        return f"not {body}" if self.negated else body


@dataclass(frozen=True, slots=True)
class TaskDef:
    """A compound task: a name and its parameter variables (`?bug`)."""

    name: str
    params: tuple[str, ...]
    doc: str = ""
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """How jitos runs a primitive step. Templates (`argv`, `prompt`) may refer to
    a parameter `?bug` as `{bug}` and to configuration as `{config.gate.command}`;
    an argv element that is exactly a list-valued `{config…}` splices the list."""

    worker: str = "none"
    argv: tuple[str, ...] = ()
    prompt: str = ""
    capabilities: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    retries: int = 0
    idempotent: bool = False
    expect: str = "pass"


@dataclass(frozen=True, slots=True)
class Operator:
    """A primitive task: preconditions over the current state (variables not
    passed in are bound against it), add and delete effects, and execution data."""

    name: str
    params: tuple[str, ...]
    pre: tuple[Literal, ...] = ()
    add: tuple[Literal, ...] = ()
    delete: tuple[Literal, ...] = ()
    execution: Execution = Execution()
    doc: str = ""
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Subtask:
    """One subtask of a method: a local id (unique in the method), a task name
    (compound or primitive) and argument terms."""

    id: str
    task: str
    args: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Method:
    """One way to decompose `task(args…)`. `args` are the head terms (usually the
    task's parameter variables); `ordering` lists `(before, after)` subtask-id pairs.
    A totally ordered method has the chain of consecutive pairs. Higher
    `preference` is tried first; ties keep declaration order."""

    name: str
    task: str
    args: tuple[Term, ...]
    pre: tuple[Literal, ...] = ()
    subtasks: tuple[Subtask, ...] = ()
    ordering: tuple[tuple[str, str], ...] = ()
    preference: int = 0
    doc: str = ""
    origin: Origin | None = None

    @staticmethod
    def chain(subtasks: tuple[Subtask, ...]) -> tuple[tuple[str, str], ...]:
        """The ordering of a totally ordered method: each subtask after the previous."""
        return tuple((a.id, b.id) for a, b in itertools.pairwise(subtasks))


@dataclass(frozen=True, slots=True)
class Intent:
    """Maps intent text to a task call. `patterns` are regular expressions (searched
    case-insensitively; named groups are captures), `keywords` must all occur as
    words. `args` are templates over the captures and `{text}` (the whole intent)."""

    name: str
    task: str
    patterns: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    preference: int = 0
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    """A checked method library. `methods` maps a task name to its methods in the
    order the search tries them (preference, then declaration order). Build one with
    `kernel.planner.check.build_domain`, which validates names, arities and orderings."""

    tasks: Mapping[str, TaskDef]
    operators: Mapping[str, Operator]
    methods: Mapping[str, tuple[Method, ...]]
    intents: tuple[Intent, ...] = ()
    shadowed: tuple[Origin, ...] = field(default=())

    def arity(self, name: str) -> int | None:
        if name in self.operators:
            return len(self.operators[name].params)
        if name in self.tasks:
            return len(self.tasks[name].params)
        return None


@dataclass(frozen=True, slots=True)
class TaskCall:
    """A task to plan for: a task or primitive name and constant arguments."""

    name: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}({', '.join(repr(a) for a in self.args)})"


# ---------------------------------------------------------------------------
# plans


@dataclass(frozen=True, slots=True)
class Step:
    """One primitive step of a plan. `id` is the decomposition path of subtask ids
    joined by `.` (runs of one id written `id*N`); `after` lists the ids this step
    directly depends on (transitively reduced), in plan order. `missing` names
    configuration keys its templates referred to but the configuration lacks."""

    id: str
    name: str
    args: tuple[str, ...]
    after: tuple[str, ...]
    execution: Execution
    method: str
    parent: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decomposition:
    """A node of the decomposition tree: compound task `task(args)` at path `id`
    (the root is `""`) decomposed by `method`; `children` are the ids of its
    subtasks' nodes (decompositions or steps) in the method's subtask order."""

    id: str
    task: str
    args: tuple[str, ...]
    method: str
    parent: str | None
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A DAG of primitive steps in a topological order, plus the tree that made it.
    `method` is the root task's method (`""` when the root task is a primitive)."""

    task: str
    args: tuple[str, ...]
    method: str
    steps: tuple[Step, ...]
    tree: tuple[Decomposition, ...]


@dataclass(frozen=True, slots=True)
class Failure:
    """The deepest reason the search failed: the task it could not decompose or
    apply, why, its decomposition depth and how many steps were applied before it."""

    task: str
    args: tuple[str, ...]
    reason: str
    depth: int
    steps_done: int

    def __str__(self) -> str:
        call = f"{self.task}({', '.join(self.args)})"
        return f"{call} at depth {self.depth} after {self.steps_done} step(s): {self.reason}"


@dataclass(frozen=True, slots=True)
class SearchStats:
    """`nodes`: tasks taken off the agenda; `stopped`: `complete` (search space
    exhausted), `max-plans` (found as many as asked) or `budget` (node budget spent)."""

    nodes: int
    stopped: str
    max_depth: int


@dataclass(frozen=True, slots=True)
class PlanResult:
    task: TaskCall
    plans: tuple[Plan, ...]
    stats: SearchStats
    failure: Failure | None
