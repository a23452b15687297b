"""Methods and heads prepared for the search: subtasks linearised once, each
argument's kind precomputed, and head unification against call arguments.

Pure functions over the domain model; nothing here searches or reads files.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from kernel.planner.model import Literal, Method, Operator, Subtask, is_var
from kernel.planner.state import Env, deref, schedule


class CompiledMethod(NamedTuple):
    """A method prepared for the search (`pre`: the preconditions in evaluation
    order for a call with every argument bound): whether its head is distinct variables
    (then binding is a zip), whether its preconditions use only head variables
    (then they are a test, not a search), and its subtasks in linear order with each
    argument's kind: 0 constant, 1 variable, 2 template."""

    method: Method
    simple_head: bool
    closed: bool
    subtasks: tuple[tuple[Subtask, tuple[int, ...]], ...]
    pre: tuple[Literal, ...]


def compile_method(method: Method) -> CompiledMethod:
    head = method.args
    simple = all(is_var(a) for a in head) and len(set(head)) == len(head)
    subtasks = []
    for sub in reversed(linearise(method)):
        kinds = tuple(
            1 if is_var(a) else 2 if ("{" in a or "}" in a) else 0 for a in sub.args
        )
        subtasks.append((sub, kinds))
    names = set(head)
    closed = simple and all(set(lit.variables()) <= names for lit in method.pre)
    return CompiledMethod(method, simple, closed, tuple(subtasks), schedule(method.pre, names))


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


def bind_head(
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


Getter = Callable[[tuple[str, ...]], Any]


class CompiledOperator(NamedTuple):
    """A primitive whose precondition variables are all parameters, prepared so
    that grounding is indexing: every literal becomes a getter over
    `consts + args`. `pre` pairs each getter with its test: 0 present,
    1 absent, 2 equal, 3 different."""

    consts: tuple[str, ...]
    pre: tuple[tuple[Getter, int], ...]
    add: tuple[Getter, ...]
    delete: tuple[Getter, ...]


def compile_operator(op: Operator) -> CompiledOperator | None:
    """The prepared form of `op`, or None when a precondition has a variable
    that is not a parameter (then matching has to search)."""
    params = set(op.params)
    if any(not set(lit.variables()) <= params for lit in op.pre):
        return None
    consts: list[str] = []
    for lit in (*op.pre, *op.add, *op.delete):
        for term in lit.pattern:
            if not is_var(term) and term not in consts:
                consts.append(term)
    where = {c: i for i, c in enumerate(consts)}
    where.update({p: len(consts) + i for i, p in enumerate(op.params)})

    def getter(lit: Literal) -> Getter:
        if len(lit.pattern) == 1:
            fact = lit.pattern
            return lambda _src: fact
        return operator.itemgetter(*(where[t] for t in lit.pattern))

    pre = tuple(
        (getter(lit), (3 if lit.negated else 2) if lit.predicate == "=" else int(lit.negated))
        for lit in op.pre
    )
    return CompiledOperator(
        tuple(consts), pre, tuple(getter(a) for a in op.add), tuple(getter(d) for d in op.delete)
    )
