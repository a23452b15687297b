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
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import call
from typing import Any, NamedTuple, TypeVar

from kernel.errors import BadInput
from kernel.planner.build import DecompRecord, StepRecord, build_plan
from kernel.planner.compiled import CompiledMethod, bind_head, compile_method
from kernel.planner.limits import DEFAULT_DEPTH_LIMIT, DEFAULT_NODE_BUDGET
from kernel.planner.match import (
    MANY,
    CompiledOperator,
    Env,
    FastMethod,
    check_ground,
    compile_operator,
    deref,
    first_unmet,
    ground,
    operator_reads,
    satisfy,
    schedule,
    solve_fast,
    solve_once,
)
from kernel.planner.model import (
    Domain,
    Fact,
    Failure,
    Literal,
    Method,
    Operator,
    PlanResult,
    SearchStats,
    TaskCall,
    is_var,
)
from kernel.planner.state import State
from kernel.planner.templates import render

log = logging.getLogger(__name__)
_UNSEEN: Any = object()
# Building the search's named tuples through `tuple.__new__` skips the Python-level
# constructor namedtuple generates; it was an eighth of the search time.
_new = tuple.__new__
T = TypeVar("T")


class _Guard(NamedTuple):
    """A compound ancestor and the state it was decomposed in (cycle detection).
    `seen` has a bit set for each (task, arguments) on the chain from the root to
    here, by hash: a clear bit means no ancestor can match, with no walk."""

    name: str
    args: tuple[str, ...]
    state: State
    up: _Guard | None
    seen: int


class _Item(NamedTuple):
    """A task on the agenda, created by decomposition record `parent` as subtask
    `sub`; `open` when an argument is a variable still to be bound."""

    name: str
    args: tuple[str, ...]
    parent: int
    sub: str
    depth: int
    guard: _Guard | None
    open: bool


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
        self.fresh_counter = 0
        # The deepest failure so far: its key (steps done, depth) and what is
        # needed to explain it; the message is only written if no plan is found.
        self.failure_key = (-1, -1)
        self._failure: tuple[_Node, _Item, Any] | None = None
        self._schedules: dict[tuple[str, str, frozenset[str]], tuple[Literal, ...]] = {}
        self._simple: dict[tuple[str, str], tuple[Literal, ...]] = {}
        self._methods: dict[str, tuple[CompiledMethod, ...]] = {}
        self._all_fast: dict[str, bool] = {}
        self._operators: dict[str, CompiledOperator | None] = {}

    def run(
        self, task: TaskCall, state: State, config: Mapping[str, object], max_plans: int
    ) -> PlanResult:
        root = _Item(task.name, task.args, -1, task.name, 0, None, False)
        start = _Node(state, (root, None), None, 0, None, 0, {})
        # Choice points still to resume, newest last. A primitive whose arguments
        # are all bound, or a task with one way to decompose it, has exactly one
        # outcome: the search goes on from it directly.
        stack: list[Iterator[_Node]] = []
        plans = []
        stopped = "complete"
        operators = self.domain.operators
        apply, decompose, push, pop = self._apply, self._decompose, stack.append, stack.pop
        budget = self.node_budget
        nodes = max_depth = 0
        node: _Node | None = start
        while True:
            if node is None:
                while stack:
                    node = next(stack[-1], None)
                    if node is not None:
                        break
                    pop()
                if node is None:
                    break
            if node.agenda is None:
                plans.append(build_plan(task, _unwind(node.steps), _unwind(node.records),
                                        node.fresh, config))
                log.debug("plan %d found after %d nodes", len(plans), nodes)
                if max_plans and len(plans) >= max_plans:
                    stopped = "max-plans"
                    break
                node = None
                continue
            if nodes >= budget:
                stopped = "budget"
                break
            nodes += 1
            item, rest = node.agenda
            if item.depth > max_depth:  # noqa: PLR1730 - max() costs a call per node
                max_depth = item.depth
            op = operators.get(item.name)
            outcome = decompose(node, item, rest) if op is None else apply(node, item, rest, op)
            if outcome is None or isinstance(outcome, _Node):
                node = outcome
            else:
                push(outcome)
                node = None
        stats = SearchStats(nodes=nodes, stopped=stopped, max_depth=max_depth)
        return PlanResult(task=task, plans=tuple(plans), stats=stats,
                          failure=None if plans else self._explain())

    # -- failure bookkeeping ------------------------------------------------

    def _fail(self, node: _Node, item: _Item, why: Any) -> None:
        """Remember a failure if it is the deepest yet. `why` is a message, or
        `(state, [(method name or "", pre, env), …])` to explain lazily."""
        key = (node.nsteps, item.depth)
        if key > self.failure_key:
            self.failure_key = key
            self._failure = (node, item, why)

    def _explain(self) -> Failure | None:
        if self._failure is None:
            return None
        node, item, why = self._failure
        if not isinstance(why, str):
            state, tried = why
            parts = []
            for name, pre, env in tried:
                lit = first_unmet(pre, state, env)
                if lit is None:
                    text = "preconditions hold but no binding completes them"
                else:
                    shown = Literal(lit.predicate, tuple(deref(a, env) for a in lit.args),
                                    lit.negated)
                    text = f"precondition '{shown}' does not hold"
                parts.append(f"{name}: {text}" if name else text)
            why = parts[0] if len(tried) == 1 and not tried[0][0] else (
                "no method applies: " + "; ".join(parts))
        args = tuple(deref(a, node.fresh) for a in item.args)
        return Failure(item.name, args, why, item.depth, node.nsteps)

    # -- expansion ----------------------------------------------------------

    def _schedule(
        self, kind: str, name: str, pre: tuple[Literal, ...], env: Env, ground_call: bool
    ) -> tuple[Literal, ...]:
        if ground_call:
            found = self._simple.get((kind, name))
            if found is None:
                found = self._simple[(kind, name)] = schedule(pre, env)
            return found
        bound = frozenset(k for k, v in env.items() if not is_var(deref(v, env)))
        key = (kind, name, bound)
        found = self._schedules.get(key)
        if found is None:
            found = self._schedules[key] = schedule(pre, bound)
        return found

    def _apply(
        self, node: _Node, item: _Item, rest: Agenda, op: Operator
    ) -> _Node | Iterator[_Node] | None:
        """The one next node when the primitive's arguments are all bound (None if
        it does not apply), else the nodes of each way its preconditions bind."""
        compiled = self._operators.get(op.name, _UNSEEN)
        if compiled is _UNSEEN:
            compiled = self._operators[op.name] = compile_operator(op)
        if item.open or compiled is None:
            return self._apply_bindings(node, item, rest, op)
        # Every variable is a parameter and every parameter is bound: a test, not a search.
        src = compiled.consts + item.args
        state = node.state
        reads = operator_reads(compiled, state, src)
        if reads is None:
            env = dict(zip(op.params, item.args, strict=True))
            self._fail(node, item, (state, [("", op.pre, env)]))
            return None
        adds = tuple(map(call, compiled.add, repeat(src)))
        dels = tuple(map(call, compiled.delete, repeat(src)))
        record = _new(StepRecord, (op, item.args, item.parent, item.sub, reads, (), adds, dels))
        return _new(_Node, (state.apply(adds, dels), rest, (record, node.steps),
                            node.nsteps + 1, node.records, node.nrecords, node.fresh))

    def _apply_bindings(
        self, node: _Node, item: _Item, rest: Agenda, op: Operator
    ) -> Iterator[_Node]:
        if item.open:
            bound = bind_head(op.params, item.args, node.fresh)
            if bound is None:
                self._fail(node, item, "arguments do not match the primitive's parameters")
                return
            env = bound
        else:
            env = dict(zip(op.params, item.args, strict=True))
        pre = self._schedule("o", op.name, op.pre, env, not item.open)
        state = node.state
        applied = False
        for found in satisfy(pre, state, env):
            if item.open:
                values = tuple(deref(p, found) for p in op.params)
                if any(v.startswith("?") for v in values):
                    free = [p for p, v in zip(op.params, values, strict=True) if is_var(v)]
                    self._fail(node, item, f"parameter {free[0]} is not bound by any precondition")
                    continue
            else:
                values = item.args
            applied = True
            adds = tuple([ground(lit, found) for lit in op.add])
            dels = tuple([ground(lit, found) for lit in op.delete])
            reads, absent = _reads(pre, found)
            fresh, rest2 = (
                _propagate(item.args, found, node.fresh, rest) if item.open
                else (node.fresh, rest)
            )
            record = StepRecord(op, values, item.parent, item.sub, reads, absent, adds, dels)
            yield _Node(state.apply(adds, dels), rest2, (record, node.steps), node.nsteps + 1,
                        node.records, node.nrecords, fresh)
        if not applied:
            self._fail(node, item, (state, [("", pre, env)]))

    def _decompose(
        self, node: _Node, item: _Item, rest: Agenda
    ) -> _Node | Iterator[_Node] | None:
        """The node of each way to decompose the task: the one node directly when
        there is exactly one (None when there is none), else an iterator."""
        if item.depth >= self.depth_limit:
            self._fail(node, item, f"depth limit {self.depth_limit} reached; raise --depth")
            return None
        below = self._guard(node, item)
        if below is None:
            return None
        state = node.state
        methods = self._methods.get(item.name)
        if methods is None:
            methods = self._compiled(item.name)
        if item.open or not self._all_fast[item.name]:
            return self._alternatives(node, item, rest, methods, below)
        # Every argument is a constant and every method has a slot form: while each
        # literal has at most one candidate fact, find every method's match at once.
        tried: list[tuple[str, tuple[Literal, ...], Env | tuple[str, ...]]] = []
        found: list[tuple[FastMethod, tuple[str, ...], Method]] = []
        for cm in methods:
            fast = cm.fast
            assert fast is not None
            slots = solve_once(fast, state, item.args)
            if slots is None:
                tried.append((cm.method.name, cm.explain, cm.method.args))
            elif slots is MANY:
                return self._alternatives(node, item, rest, methods, below)
            else:
                found.append((fast, slots, cm.method))
        if len(found) == 1:
            fast, slots, method = found[0]
            return self._push_fast(node, item, rest, fast, slots, method, below)
        if found:
            return (self._push_fast(node, item, rest, fast, slots, method, below)
                    for fast, slots, method in found)
        self._no_method(node, item, methods, tried)
        return None

    def _guard(self, node: _Node, item: _Item) -> _Guard | None:
        """The cycle guard for the task's subtasks; None, with the failure
        recorded, when an ancestor is the same task decomposed in an equal state."""
        guard = item.guard
        bit = 1 << (hash((item.name, item.args)) & 255)
        seen = bit
        if guard is not None:
            seen |= guard.seen
            if guard.seen & bit:
                while guard is not None:
                    if (guard.name == item.name and guard.args == item.args
                            and guard.state == node.state):
                        self._fail(node, item, "cycle: the task recurs on itself in the same state")
                        return None
                    guard = guard.up
        return _new(_Guard, (item.name, item.args, node.state, item.guard, seen))

    def _alternatives(
        self, node: _Node, item: _Item, rest: Agenda, methods: tuple[CompiledMethod, ...],
        below: _Guard,
    ) -> Iterator[_Node]:
        """Each way to decompose the task, method by method, binding by binding."""
        # Methods that did not apply, for the failure message: (name, preconditions,
        # environment, or the head to bind to the arguments if it comes to that).
        tried: list[tuple[str, tuple[Literal, ...], Env | tuple[str, ...]]] = []
        produced = False
        for cm in methods:
            method = cm.method
            fast = cm.fast
            ways: Iterator[_Node]
            if fast is not None and not item.open:
                # Every argument is a constant: match and build subtasks over slots.
                ways = (self._push_fast(node, item, rest, fast, slots, method, below)
                        for slots in solve_fast(fast, node.state, item.args))
                why: tuple[str, tuple[Literal, ...], Env | tuple[str, ...]] = (
                    method.name, cm.explain, method.args)
            else:
                found = self._bindings(cm, item, node)
                if found is None:
                    continue
                envs, pre, env = found
                ways = (self._push(node, item, rest, cm, e, below) for e in envs)
                why = (method.name, pre, env)
            matched = False
            for way in ways:
                matched = produced = True
                yield way
            if not matched:
                tried.append(why)
        if not produced:
            self._no_method(node, item, methods, tried)

    def _bindings(
        self, cm: CompiledMethod, item: _Item, node: _Node
    ) -> tuple[Iterable[Env], tuple[Literal, ...], Env] | None:
        """The general matcher's answer for one method: the bindings under which
        its preconditions hold (lazily), and the preconditions and head binding
        that explain a failure; None when its head does not match the call."""
        method = cm.method
        ground_call = cm.simple_head and not item.open
        if ground_call:
            env: Env | None = dict(zip(method.args, item.args, strict=True))
        else:
            env = bind_head(method.args, item.args, node.fresh)
        if env is None:
            return None
        if cm.closed and not item.open:
            holds = check_ground(method.pre, node.state, env) is not None
            return ((env,) if holds else ()), cm.explain, env
        if ground_call:
            pre = cm.pre
        else:
            pre = self._schedule("m", method.name, method.pre, env, False)
        return satisfy(pre, node.state, env), pre, env

    def _no_method(
        self, node: _Node, item: _Item, methods: tuple[CompiledMethod, ...],
        tried: list[tuple[str, tuple[Literal, ...], Env | tuple[str, ...]]],
    ) -> None:
        """Record why no method decomposed the task."""
        if not methods:
            self._fail(node, item, "the task has no methods")
        elif tried:
            self._fail(node, item, (node.state, [
                (name, pre, env if isinstance(env, dict)
                 else dict(zip(env, item.args, strict=True)))
                for name, pre, env in tried
            ]))
        else:
            self._fail(node, item, "no method's head matches the arguments")

    def _push(
        self, node: _Node, item: _Item, rest: Agenda, cm: CompiledMethod, env: Env,
        below: _Guard,
    ) -> _Node:
        if item.open:
            fresh, agenda = _propagate(item.args, env, node.fresh, rest)
        else:
            fresh, agenda = node.fresh, rest
        number = node.nrecords
        depth = item.depth + 1
        renames: dict[str, str] | None = None
        for sub, kinds in cm.subtasks:
            args = sub.args
            is_open = False
            if any(kinds):
                out = []
                for term, kind in zip(args, kinds, strict=True):
                    if kind == 1:
                        value = env.get(term, term)
                        while value in env:
                            value = env[value]
                        if value.startswith("?"):
                            is_open = True
                            if value == term:
                                if renames is None:
                                    renames = {}
                                    self.fresh_counter += 1
                                value = renames.setdefault(term, f"{term}#{self.fresh_counter}")
                        term = value
                    elif kind == 2:
                        values = {k[1:]: deref(k, env) for k in env if k.startswith("?")}
                        term = render(term, values, {}, [])
                    out.append(term)
                args = tuple(out)
            agenda = (_new(_Item, (sub.task, args, number, sub.id, depth, below, is_open)), agenda)
        record = _new(DecompRecord, (number, item.parent, item.sub, item.name, item.args,
                                     cm.method))
        return _new(_Node, (node.state, agenda, node.steps, node.nsteps,
                            (record, node.records), number + 1, fresh))

    def _push_fast(
        self, node: _Node, item: _Item, rest: Agenda, fast: FastMethod, src: tuple[str, ...],
        method: Method, below: _Guard,
    ) -> _Node:
        number = node.nrecords
        depth = item.depth + 1
        agenda = rest
        for task, get, sid in fast.subtasks:
            agenda = (_new(_Item, (task, get(src), number, sid, depth, below, False)), agenda)
        record = _new(DecompRecord, (number, item.parent, item.sub, item.name, item.args, method))
        return _new(_Node, (node.state, agenda, node.steps, node.nsteps,
                            (record, node.records), number + 1, node.fresh))

    def _compiled(self, task: str) -> tuple[CompiledMethod, ...]:
        found = self._methods.get(task)
        if found is None:
            found = self._methods[task] = tuple(
                compile_method(m) for m in self.domain.methods.get(task, ())
            )
            self._all_fast[task] = all(cm.fast is not None for cm in found)
        return found


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
