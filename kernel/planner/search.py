"""The HTN search: total-order forward decomposition, depth first, with
backtracking over methods and variable bindings.

The agenda is a persistent linked list of tasks; decomposing a task pushes its
method's subtasks, linearised (ordering constraints first, declaration order on
ties), in front of the rest. Primitives are applied to the current state, which
yields a new state. Every choice point is a generator on an explicit stack, so
plans of any length need no Python recursion, and backtracking is just dropping
the newer nodes. Search is bounded by a decomposition depth and a node budget,
never by wall time. A compound task met again, with the same arguments and in
an equal state, below itself is a cycle and is pruned, so left-recursive
methods terminate.

Choice order (the tie-break rules `docs/methods.md` documents): methods by
descending `preference`, then declaration order; bindings in the lexicographic
order of the facts matched by the preconditions, literal by literal.

This module never reads files, prints or touches git; see `plan()`.
"""

from __future__ import annotations

import gc
import heapq
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from kernel.errors import BadInput
from kernel.planner.build import DecompRecord, StepRecord, build_plan
from kernel.planner.model import (
    DEFAULT_DEPTH_LIMIT,
    DEFAULT_NODE_BUDGET,
    Domain,
    Fact,
    Failure,
    Literal,
    Method,
    Operator,
    PlanResult,
    SearchStats,
    Subtask,
    TaskCall,
    is_var,
)
from kernel.planner.state import Env, State, deref, first_unmet, ground, satisfy, schedule
from kernel.planner.templates import render

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Guard(NamedTuple):
    """A compound ancestor and the state it was decomposed in (cycle detection)."""

    name: str
    args: tuple[str, ...]
    facts: frozenset[Fact]
    up: _Guard | None


class _Item(NamedTuple):
    """A task on the agenda, created by decomposition record `parent` as subtask `sub`."""

    name: str
    args: tuple[str, ...]
    parent: int
    sub: str
    depth: int
    guard: _Guard | None


Agenda = tuple[_Item, "Agenda"] | None
Trail = tuple[StepRecord, "Trail"] | None
Records = tuple[DecompRecord, "Records"] | None


class _Node(NamedTuple):
    state: State
    agenda: Agenda
    steps: Trail
    nsteps: int
    records: Records
    nrecords: int
    fresh: Mapping[str, str]


def plan(
    domain: Domain,
    task: TaskCall,
    facts: Iterable[Fact] = (),
    *,
    config: Mapping[str, object] | None = None,
    max_plans: int = 1,
    depth_limit: int = DEFAULT_DEPTH_LIMIT,
    node_budget: int = DEFAULT_NODE_BUDGET,
) -> PlanResult:
    """Plans for `task` from the initial `facts`, first by preference, at most
    `max_plans` of them (0 = as many as the budget allows). `config` fills
    `{config.…}` templates in execution data. Raises BadInput for an unknown task,
    a wrong number of arguments or a variable argument; "no plan" is a result."""
    arity = domain.arity(task.name)
    if arity is None:
        raise BadInput(f"unknown task {task.name!r}; see `jitos methods list`")
    if len(task.args) != arity:
        raise BadInput(f"task {task.name!r} takes {arity} argument(s), got {len(task.args)}")
    for arg in task.args:
        if is_var(arg):
            raise BadInput(f"task argument {arg!r} starts with '?', which marks variables")
    search = _Search(domain, depth_limit, node_budget)
    state = State.of(facts)
    # The search allocates many small acyclic tuples; the cycle collector would
    # rescan them all again and again (it doubled Hanoi's time). Nothing here
    # makes reference cycles, so pause it for the search and restore it after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return search.run(task, state, dict(config or {}), max_plans)
    finally:
        if collecting:
            gc.enable()


class _Search:
    def __init__(self, domain: Domain, depth_limit: int, node_budget: int) -> None:
        self.domain = domain
        self.depth_limit = depth_limit
        self.node_budget = node_budget
        self.nodes = 0
        self.max_depth = 0
        self.fresh_counter = 0
        self.failure: Failure | None = None
        self.failure_key = (-1, -1)
        self._schedules: dict[tuple[str, str, frozenset[str]], tuple[Literal, ...]] = {}
        self._orders: dict[str, tuple[Subtask, ...]] = {}
        self._simple: dict[tuple[str, str], tuple[frozenset[str], tuple[Literal, ...]]] = {}

    def run(
        self, task: TaskCall, state: State, config: Mapping[str, object], max_plans: int
    ) -> PlanResult:
        root = _Item(task.name, task.args, -1, task.name, 0, None)
        start = _Node(state, (root, None), None, 0, None, 0, {})
        stack: list[Iterator[_Node]] = [iter((start,))]
        plans = []
        stopped = "complete"
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                continue
            if node.agenda is None:
                plans.append(build_plan(task, _unwind(node.steps), _unwind(node.records),
                                        node.fresh, config))
                log.debug("plan %d found after %d nodes", len(plans), self.nodes)
                if max_plans and len(plans) >= max_plans:
                    stopped = "max-plans"
                    break
                continue
            if self.nodes >= self.node_budget:
                stopped = "budget"
                break
            self.nodes += 1
            stack.append(self._expand(node))
        stats = SearchStats(nodes=self.nodes, stopped=stopped, max_depth=self.max_depth)
        return PlanResult(task=task, plans=tuple(plans), stats=stats,
                          failure=None if plans else self.failure)

    # -- failure bookkeeping ------------------------------------------------

    def _deeper(self, node: _Node, item: _Item) -> bool:
        return (node.nsteps, item.depth) > self.failure_key

    def _fail(self, node: _Node, item: _Item, reason: str) -> None:
        if self._deeper(node, item):
            self.failure_key = (node.nsteps, item.depth)
            self.failure = Failure(item.name, tuple(deref(a, node.fresh) for a in item.args),
                                   reason, item.depth, node.nsteps)

    def _unmet(self, pre: Sequence[Literal], state: State, env: Env) -> str:
        lit = first_unmet(pre, state, env)
        if lit is None:
            return "preconditions hold but no binding completes them"
        shown = Literal(lit.predicate, tuple(deref(a, env) for a in lit.args), lit.negated)
        return f"precondition '{shown}' does not hold"

    # -- expansion ----------------------------------------------------------

    def _expand(self, node: _Node) -> Iterator[_Node]:
        assert node.agenda is not None
        item, rest = node.agenda
        self.max_depth = max(self.max_depth, item.depth)
        op = self.domain.operators.get(item.name)
        if op is not None:
            return self._apply(node, item, rest, op)
        return self._decompose(node, item, rest)

    def _schedule(self, kind: str, name: str, pre: tuple[Literal, ...], env: Env) -> tuple[
        Literal, ...
    ]:
        if not any(v.startswith("?") for v in env.values()):
            simple = self._simple.get((kind, name))
            if simple is not None and simple[0] == env.keys():
                return simple[1]
            bound = frozenset(env)
            ordered = schedule(pre, bound)
            self._simple[(kind, name)] = (bound, ordered)
            return ordered
        bound = frozenset(k for k, v in env.items() if not is_var(deref(v, env)))
        key = (kind, name, bound)
        found = self._schedules.get(key)
        if found is None:
            found = self._schedules[key] = schedule(pre, bound)
        return found

    def _apply(self, node: _Node, item: _Item, rest: Agenda, op: Operator) -> Iterator[_Node]:
        env = _bind_head(op.params, item.args, node.fresh)
        if env is None:
            self._fail(node, item, "arguments do not match the primitive's parameters")
            return
        pre = self._schedule("o", op.name, op.pre, env)
        applied = False
        for found in satisfy(pre, node.state, env):
            values = tuple(deref(p, found) for p in op.params)
            if any(is_var(v) for v in values):
                free = [p for p, v in zip(op.params, values, strict=True) if is_var(v)]
                self._fail(node, item, f"parameter {free[0]} is not bound by any precondition")
                continue
            applied = True
            adds = tuple(ground(lit, found) for lit in op.add)
            dels = tuple(ground(lit, found) for lit in op.delete)
            reads, absent = _reads(pre, found)
            state = node.state.apply(adds, dels)
            fresh, rest2 = _propagate(item.args, found, node.fresh, rest)
            record = StepRecord(op, values, item.parent, item.sub, reads, absent, adds, dels)
            yield _Node(state, rest2, (record, node.steps), node.nsteps + 1,
                        node.records, node.nrecords, fresh)
        if not applied and self._deeper(node, item):
            self._fail(node, item, self._unmet(pre, node.state, env))

    def _decompose(self, node: _Node, item: _Item, rest: Agenda) -> Iterator[_Node]:
        if item.depth >= self.depth_limit:
            self._fail(node, item, f"depth limit {self.depth_limit} reached; raise --depth")
            return
        facts = node.state.facts
        guard = item.guard
        while guard is not None:
            if (
                guard.name == item.name
                and guard.args == item.args
                and hash(guard.facts) == hash(facts)
                and guard.facts == facts
            ):
                self._fail(node, item, "cycle: the task recurs on itself in the same state")
                return
            guard = guard.up
        below = _Guard(item.name, item.args, facts, item.guard)
        methods = self.domain.methods.get(item.name, ())
        reasons: list[str] = []
        for method in methods:
            env = _bind_head(method.args, item.args, node.fresh)
            if env is None:
                reasons.append(f"{method.name}: head does not match the arguments")
                continue
            pre = self._schedule("m", method.name, method.pre, env)
            matched = False
            for found in satisfy(pre, node.state, env):
                matched = True
                yield self._push(node, item, rest, method, found, below)
            if not matched and self._deeper(node, item):
                reasons.append(f"{method.name}: {self._unmet(pre, node.state, env)}")
        if not methods:
            self._fail(node, item, "the task has no methods")
        elif reasons and len(reasons) == len(methods):
            self._fail(node, item, "no method applies: " + "; ".join(reasons))

    def _push(
        self, node: _Node, item: _Item, rest: Agenda, method: Method, env: Env, below: _Guard
    ) -> _Node:
        fresh, agenda = _propagate(item.args, env, node.fresh, rest)
        self.fresh_counter += 1
        renames: dict[str, str] = {}
        record = DecompRecord(node.nrecords, item.parent, item.sub, item.name, item.args, method)
        for sub in reversed(self._order(method)):
            args = []
            for term in sub.args:
                if is_var(term):
                    value = deref(term, env)
                    if is_var(value) and value == term:
                        value = renames.setdefault(term, f"{term}#{self.fresh_counter}")
                    term = value
                elif "{" in term or "}" in term:
                    values = {k[1:]: deref(k, env) for k in env if k.startswith("?")}
                    term = render(term, values, {}, [])
                args.append(term)
            agenda = (_Item(sub.task, tuple(args), record.number, sub.id, item.depth + 1, below),
                      agenda)
        return _Node(node.state, agenda, node.steps, node.nsteps,
                     (record, node.records), node.nrecords + 1, fresh)

    def _order(self, method: Method) -> tuple[Subtask, ...]:
        found = self._orders.get(method.name)
        if found is None:
            found = self._orders[method.name] = linearise(method)
        return found


def linearise(method: Method) -> tuple[Subtask, ...]:
    """The method's subtasks in a topological order of its ordering constraints,
    taking the earliest-declared available subtask first."""
    position = {s.id: i for i, s in enumerate(method.subtasks)}
    indegree = [0] * len(method.subtasks)
    succ: list[list[int]] = [[] for _ in method.subtasks]
    for before, after in set(method.ordering):
        succ[position[before]].append(position[after])
        indegree[position[after]] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    heapq.heapify(ready)
    out: list[Subtask] = []
    while ready:
        i = heapq.heappop(ready)
        out.append(method.subtasks[i])
        for j in succ[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(ready, j)
    return tuple(out)


def _bind_head(
    params: Sequence[str], args: Sequence[str], fresh: Mapping[str, str]
) -> Env | None:
    """Unify a head (`params`, terms) with call arguments (constants or fresh
    variables, resolved through `fresh`)."""
    env: Env = {}
    for term, arg in zip(params, args, strict=True):
        value = deref(arg, fresh) if arg.startswith("?") else arg
        if term.startswith("?") and term not in env and not value.startswith("?"):
            env[term] = value
        elif is_var(term):
            cur = deref(term, env)
            if not is_var(cur):
                if is_var(value):
                    env[value] = cur
                elif cur != value:
                    return None
            elif cur != value:
                env[cur] = value
        elif is_var(value):
            env[value] = term
        elif term != value:
            return None
    return env


def _propagate(
    args: Sequence[str], env: Env, fresh: Mapping[str, str], rest: Agenda
) -> tuple[Mapping[str, str], Agenda]:
    """Bindings this choice gave to fresh variables in the task's arguments flow
    into the rest of the agenda (the rare lifted case; otherwise nothing to do)."""
    bound: dict[str, str] = {}
    for arg in args:
        if is_var(arg):
            var = deref(arg, fresh)
            if is_var(var):
                value = deref(var, env)
                if value != var:
                    bound[var] = value
    if not bound:
        return fresh, rest
    merged = {**fresh, **bound}
    items: list[_Item] = []
    node = rest
    while node is not None:
        items.append(node[0])
        node = node[1]
    out: Agenda = None
    for it in reversed(items):
        if any(a in bound for a in it.args):
            it = it._replace(args=tuple(deref(a, merged) for a in it.args))
        out = (it, out)
    return merged, out


def _reads(pre: Sequence[Literal], env: Env) -> tuple[tuple[Fact, ...], tuple[str, ...]]:
    """Ground facts a primitive's preconditions read, and predicates it needs
    absent wholesale (negations left with free variables)."""
    reads: list[Fact] = []
    absent: list[str] = []
    for lit in pre:
        if lit.predicate == "=":
            continue
        fact = ground(lit, env)
        if lit.negated and any(is_var(t) for t in fact[1:]):
            absent.append(lit.predicate)
        else:
            reads.append(fact)
    return tuple(reads), tuple(absent)


def _unwind(chain: tuple[T, Any] | None) -> list[T]:
    out: list[T] = []
    while chain is not None:
        out.append(chain[0])
        chain = chain[1]
    out.reverse()
    return out
