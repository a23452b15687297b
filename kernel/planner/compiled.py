"""Methods prepared for the search: subtasks linearised once, each argument's
kind precomputed, preconditions scheduled (and compiled to the fast form where
`kernel.planner.match` can), and head unification against call arguments.

Pure functions over the domain model; nothing here matches preconditions,
searches or reads files.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from kernel.planner.match import Env, FastMethod, compile_fast, deref, schedule
from kernel.planner.model import Literal, Method, Subtask, is_var


class CompiledMethod(NamedTuple):
    """A method prepared for the search (`pre`: the preconditions in evaluation
    order for a call with every argument bound): whether its head is distinct variables
    (then binding is a zip), whether its preconditions use only head variables
    (then they are a test, not a search), and its subtasks in linear order with each
    argument's kind: 0 constant, 1 variable, 2 template. `explain`: the
    preconditions to explain a failed call with constant arguments by."""

    method: Method
    simple_head: bool
    closed: bool
    subtasks: tuple[tuple[Subtask, tuple[int, ...]], ...]
    pre: tuple[Literal, ...]
    explain: tuple[Literal, ...]
    fast: FastMethod | None = None


def compile_method(method: Method) -> CompiledMethod:
    head = method.args
    simple = all(is_var(a) for a in head) and len(set(head)) == len(head)
    linear = linearise(method)
    subtasks = []
    for sub in reversed(linear):
        kinds = tuple(
            1 if is_var(a) else 2 if ("{" in a or "}" in a) else 0 for a in sub.args
        )
        subtasks.append((sub, kinds))
    names = set(head)
    closed = simple and all(set(lit.variables()) <= names for lit in method.pre)
    pre = schedule(method.pre, names)
    fast = compile_fast(method, pre, linear) if simple else None
    return CompiledMethod(
        method, simple, closed, tuple(subtasks), pre, method.pre if closed else pre, fast
    )


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
