"""Methods and heads prepared for the search: subtasks linearised once, each
argument's kind precomputed, and head unification against call arguments.

Pure functions over the domain model; nothing here searches or reads files.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from kernel.planner.model import Literal, Method, Operator, Subtask, is_var
from kernel.planner.state import Env, State, deref, schedule

Getter = Callable[[tuple[str, ...]], Any]


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
    fast: FastMethod | None = None


#: A precondition step of a `FastMethod`: a test (`getter`, 0 present, 1 absent,
#: 2 equal, 3 different) or an enumeration (`getter` of the pattern with "?" at
#: the positions it binds, the pattern's length, the positions to compare with
#: the pattern, the positions whose values are appended to the slots, and
#: (position, first position) pairs for a variable repeated in the literal).
FastTest = tuple[int, "Getter"]
FastScan = tuple[int, "Getter", int, tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]


class FastMethod(NamedTuple):
    """A method with a head of distinct variables, prepared for a call whose
    arguments are all constants: values live in slots (`consts + args`, then each
    variable in the order the preconditions bind it), so that grounding a literal
    or a subtask is indexing. `tests_only`: no precondition binds anything.
    `subtasks`: (task, getter of the arguments, subtask id), last first."""

    consts: tuple[str, ...]
    steps: tuple[FastTest | FastScan, ...]
    tests_only: bool
    subtasks: tuple[tuple[str, Getter, str], ...]


def _tuple_getter(indices: Sequence[int]) -> Getter:
    """`src` → the tuple of `src[i]` for `indices` (itemgetter, but a tuple always)."""
    if len(indices) >= 2:
        return operator.itemgetter(*indices)
    if len(indices) == 1:
        only = indices[0]
        return lambda src: (src[only],)
    return lambda _src: ()


def compile_fast(method: Method, pre: Sequence[Literal]) -> FastMethod | None:
    """The slot form of a simple-head method whose preconditions `pre` (in
    evaluation order for bound head variables) only test or bind by positive
    literals and whose subtask arguments are constants or bound variables; else None."""
    consts: list[str] = ["?"]
    slot: dict[str, int] = {}

    def const(term: str) -> int:
        if term not in consts:
            consts.append(term)
        return consts.index(term)

    for lit in pre:
        for term in lit.pattern:
            if not is_var(term):
                const(term)
    for sub in method.subtasks:
        for term in sub.args:
            if "{" in term or "}" in term:
                return None
            if not is_var(term):
                const(term)
    base = len(consts)
    for i, var in enumerate(method.args):
        slot[var] = base + i
    size = base + len(method.args)
    steps: list[FastTest | FastScan] = []
    tests_only = True
    for lit in pre:
        unbound = [v for v in lit.variables() if v not in slot]
        if not unbound:
            where = [slot[t] if is_var(t) else consts.index(t) for t in lit.pattern]
            if lit.predicate == "=":
                steps.append((3 if lit.negated else 2, operator.itemgetter(where[1], where[2])))
            else:
                steps.append((int(lit.negated), _tuple_getter(where)))
            continue
        if lit.negated or lit.predicate == "=":
            return None
        tests_only = False
        pattern = [consts.index(lit.predicate)]
        fixed: list[int] = []
        binds: list[int] = []
        same: list[tuple[int, int]] = []
        first: dict[str, int] = {}
        for pos, term in enumerate(lit.args, start=1):
            if not is_var(term):
                pattern.append(consts.index(term))
                fixed.append(pos)
            elif term in first:
                pattern.append(0)
                same.append((pos, first[term]))
            elif term in slot:
                pattern.append(slot[term])
                fixed.append(pos)
            else:
                pattern.append(0)
                first[term] = pos
                slot[term] = size + len(binds)
                binds.append(pos)
        size += len(binds)
        steps.append((4, _tuple_getter(pattern), len(pattern), tuple(fixed), tuple(binds),
                      tuple(same)))
    subtasks = []
    for sub in reversed(linearise(method)):
        where = []
        for term in sub.args:
            if is_var(term):
                if term not in slot:
                    return None
                where.append(slot[term])
            else:
                where.append(consts.index(term))
        subtasks.append((sub.task, _tuple_getter(where), sub.id))
    return FastMethod(tuple(consts), tuple(steps), tests_only, tuple(subtasks))


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
    pre = schedule(method.pre, names)
    fast = compile_fast(method, pre) if simple else None
    return CompiledMethod(method, simple, closed, tuple(subtasks), pre, fast)


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


def solve_fast(
    steps: Sequence[FastTest | FastScan], i: int, state: State, src: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    """The slots of every way `steps` (from step `i`) hold in `state`, in the
    order `satisfy` would give them: candidates in sorted order, literal by literal."""
    has = state.has
    n = len(steps)
    while i < n:
        step = steps[i]
        kind = step[0]
        if kind == 4:
            _, get, arity, fixed, binds, same = step  # type: ignore[misc]
            pattern = get(src)
            last = i + 1 == n
            for fact in state.candidates_at(pattern, fixed):
                if len(fact) != arity:
                    continue
                for j in fixed:
                    if fact[j] != pattern[j]:
                        break
                else:
                    for j, k in same:
                        if fact[j] != fact[k]:
                            break
                    else:
                        bound = src + tuple([fact[j] for j in binds])
                        if last:
                            yield bound
                        else:
                            yield from solve_fast(steps, i + 1, state, bound)
            return
        value = step[1](src)
        if kind >= 2:
            if (value[0] == value[1]) != (kind == 2):
                return
        elif has(value) == kind:
            return
        i += 1
    yield src


def holds_fast(steps: Sequence[FastTest | FastScan], state: State, src: tuple[str, ...]) -> bool:
    """For steps that only test: whether they all hold."""
    has = state.has
    for kind, get in steps:  # type: ignore[misc]
        value = get(src)
        if kind >= 2:
            if (value[0] == value[1]) != (kind == 2):
                return False
        elif has(value) == kind:
            return False
    return True


#: `solve_once`'s answer when a literal has more than one candidate fact.
MANY: tuple[str, ...] = ()


def solve_once(
    steps: Sequence[FastTest | FastScan], state: State, src: tuple[str, ...]
) -> tuple[str, ...] | None:
    """`solve_fast`'s only solution when every literal has at most one candidate
    fact (the slots, or None for no solution), without a generator; `MANY` as
    soon as a literal has more, for the caller to enumerate with `solve_fast`."""
    has = state.has
    for step in steps:
        kind = step[0]
        if kind == 4:
            _, get, arity, fixed, binds, same = step  # type: ignore[misc]
            pattern = get(src)
            found = state.candidates_at(pattern, fixed)
            if len(found) != 1:
                return MANY if found else None
            for fact in found:
                if len(fact) != arity:
                    return None
                for j in fixed:
                    if fact[j] != pattern[j]:
                        return None
                for j, k in same:
                    if fact[j] != fact[k]:
                        return None
                src = src + tuple([fact[j] for j in binds])
            continue
        value = step[1](src)
        if kind >= 2:
            if (value[0] == value[1]) != (kind == 2):
                return None
        elif has(value) == kind:
            return None
    return src
