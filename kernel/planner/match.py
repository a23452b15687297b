"""Precondition matching: whether, and under which bindings, a conjunction of
literals holds in a state. Every planner module that asks goes through here.

Two forms, one answer. The **fast** form is a method's or a primitive's
preconditions compiled once into a small program over *slots* (a tuple of the
constants, then the call's arguments, then each variable in the order the
preconditions bind it), so grounding a literal is indexing; the search uses it
whenever a call's arguments are all constants. The **general** form works
literal by literal over variable bindings (`Env`) and is the fallback: for
calls with variables still open, for methods the fast form cannot express, for
the validator and for "why did this fail" messages. Both give their solutions in
one canonical order: by the sorted order of the facts the first literal
matches, then the second, and so on, whatever `PYTHONHASHSEED` is.

This module never searches, reads files or changes a state.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from kernel.planner.model import Fact, Literal, Method, Operator, Subtask, is_var
from kernel.planner.state import State

Env = dict[str, str]

# ---------------------------------------------------------------------------
# bindings


def deref(term: str, env: Mapping[str, str]) -> str:
    """Follow variable bindings until a constant or an unbound variable."""
    while term in env:
        term = env[term]
    return term


def ground(lit: Literal, env: Mapping[str, str]) -> Fact:
    """The literal's fact with bound variables replaced (free ones stay)."""
    positions = lit.var_positions
    if not positions:
        return lit.pattern
    out = list(lit.pattern)
    for i in positions:
        a = out[i]
        while a in env:
            a = env[a]
        out[i] = a
    return tuple(out)


def schedule(lits: Sequence[Literal], bound: Iterable[str]) -> tuple[Literal, ...]:
    """Evaluation order for a conjunction: positive literals in written order; each
    test (negation, `=`/`!=`) right after the literal that binds its last variable.
    A positive `=` with one side bound binds the other. Tests whose variables are
    never bound come last (a negation then means "no fact matches")."""
    known = set(bound)
    out: list[Literal] = []
    tests = [lit for lit in lits if lit.negated or lit.predicate == "="]
    positives = [lit for lit in lits if not (lit.negated or lit.predicate == "=")]

    def flush() -> None:
        progress = True
        while progress:
            progress = False
            for lit in list(tests):
                unbound = [v for v in lit.variables() if v not in known]
                binder = lit.predicate == "=" and not lit.negated and len(set(unbound)) == 1
                if not unbound or (binder and len(unbound) == 1):
                    out.append(lit)
                    tests.remove(lit)
                    known.update(unbound)
                    progress = True

    flush()
    for lit in positives:
        out.append(lit)
        known.update(lit.variables())
        flush()
    out.extend(tests)
    return tuple(out)


# ---------------------------------------------------------------------------
# the general form: literal by literal over bindings


def satisfy(lits: Sequence[Literal], state: State, env: Env) -> Iterator[Env]:
    """Every extension of `env` that makes the (scheduled) conjunction `lits` true
    in `state`, in canonical order."""
    return _satisfy(lits, 0, state, env)


def _satisfy(lits: Sequence[Literal], i: int, state: State, env: Env) -> Iterator[Env]:
    """`satisfy` from literal `i` on: tests in a loop, a recursion per binding."""
    n = len(lits)
    while i < n:
        lit = lits[i]
        pattern = ground(lit, env)
        if lit.predicate == "=":
            equated = _equate(lit, pattern, env)
            if equated is None:
                return
            env = equated
        elif lit.negated:
            if _exists(pattern, state):
                return
        else:
            free = [(j, pattern[j]) for j in lit.var_positions if pattern[j].startswith("?")]
            if free:
                yield from _bind(lits, i, state, env, pattern, free)
                return
            if not state.has(pattern):
                return
        i += 1
    yield env


def _equate(lit: Literal, pattern: Fact, env: Env) -> Env | None:
    """For an `=` literal grounded as `pattern`: `env` if it holds, `env`
    extended if a positive `=` binds a free side to the other, else None (it
    fails, or it has no side bound)."""
    left, right = pattern[1], pattern[2]
    if not (is_var(left) or is_var(right)):
        return None if (left == right) == lit.negated else env
    if lit.negated or (is_var(left) and is_var(right)):
        return None
    env = dict(env)
    if is_var(left):
        env[left] = right
    else:
        env[right] = left
    return env


def _bind(
    lits: Sequence[Literal], i: int, state: State, env: Env, pattern: Fact,
    free: list[tuple[int, str]],
) -> Iterator[Env]:
    """Each way positive literal `i`, grounded as `pattern` with variables left
    at positions `free`, matches a fact, each followed by the rest of `lits`."""
    # Positions to compare: the constants; positions to bind: the variables
    # (a variable repeated in the literal must get the same value each time).
    arity = len(pattern)
    fixed = [j for j in range(1, arity) if not pattern[j].startswith("?")]
    distinct = len(free) == 1 or len({v for _, v in free}) == len(free)
    for fact in state.candidates(pattern):
        if len(fact) != arity:
            continue
        for j in fixed:
            if fact[j] != pattern[j]:
                break
        else:
            if distinct:
                bound = env.copy()
                for j, var in free:
                    bound[var] = fact[j]
                yield from _satisfy(lits, i + 1, state, bound)
            else:
                unified = _unify_fact(pattern, fact, env)
                if unified is not None:
                    yield from _satisfy(lits, i + 1, state, unified)


def _unify_fact(pattern: Fact, fact: Fact, env: Env) -> Env | None:
    new: Env | None = None
    for i in range(1, len(pattern)):
        term = pattern[i]
        value = fact[i]
        if term == value:
            continue
        if not term.startswith("?"):
            return None
        cur = (env if new is None else new).get(term)
        if cur is None:
            if new is None:
                new = dict(env)
            new[term] = value
        elif cur != value:
            return None
    return env if new is None else new


def _exists(pattern: Fact, state: State) -> bool:
    if not any(is_var(t) for t in pattern):
        return state.has(pattern)
    arity = len(pattern)
    return any(
        len(f) == arity and _unify_fact(pattern, f, {}) is not None
        for f in state.candidates(pattern)
    )


def holds(lits: Sequence[Literal], state: State, env: Mapping[str, str]) -> bool:
    """Whether the (unscheduled) conjunction `lits` holds in `state` under some
    extension of `env`."""
    start = dict(env)
    return next(satisfy(schedule(lits, start), state, start), None) is not None


def check_ground(lits: Sequence[Literal], state: State, env: Env) -> tuple[Fact, ...] | None:
    """For a conjunction whose variables `env` all binds: the facts it reads
    (tested present or absent) if it holds, else None. No search needed."""
    has = state.has
    reads: list[Fact] = []
    for lit in lits:
        fact = ground(lit, env)
        if lit.predicate == "=":
            if (fact[1] == fact[2]) == lit.negated:
                return None
            continue
        if has(fact) == lit.negated:
            return None
        reads.append(fact)
    return tuple(reads)


def first_unmet(lits: Sequence[Literal], state: State, env: Env) -> Literal | None:
    """The first literal (in evaluation order) at which `lits` stops being
    satisfiable, for "why did this fail" messages; None if satisfiable."""
    for k in range(1, len(lits) + 1):
        if next(satisfy(lits[:k], state, env), None) is None:
            return lits[k - 1]
    return None


# ---------------------------------------------------------------------------
# the fast form: programs over slots

Getter = Callable[[tuple[str, ...]], Any]

#: What a compiled literal does: test that its fact is present or absent (so
#: `state.has(fact) == kind` means the test fails), that two terms are equal or
#: different; or `SCAN` the facts that match it to bind variables.
PRESENT, ABSENT, EQUAL, DIFFERENT, SCAN = 0, 1, 2, 3, 4

#: A precondition step of a `FastMethod`: a test (`getter`, test kind) or a scan
#: (`SCAN`, `getter` of the pattern with "?" at the positions it binds, the
#: pattern's length, the positions to compare with the pattern, the positions
#: whose values are appended to the slots, and (position, first position) pairs
#: for a variable repeated in the literal).
FastTest = tuple[int, "Getter"]
FastScan = tuple[int, "Getter", int, tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]


class FastMethod(NamedTuple):
    """A method with a head of distinct variables, prepared for a call whose
    arguments are all constants: values live in slots (`consts + args`, then each
    variable in the order the preconditions bind it), so that grounding a literal
    or a subtask is indexing. `subtasks`: (task, getter of the arguments, subtask
    id), last first."""

    consts: tuple[str, ...]
    steps: tuple[FastTest | FastScan, ...]
    subtasks: tuple[tuple[str, Getter, str], ...]


def _tuple_getter(indices: Sequence[int]) -> Getter:
    """`src` → the tuple of `src[i]` for `indices` (itemgetter, but a tuple always)."""
    if len(indices) >= 2:
        return operator.itemgetter(*indices)
    if len(indices) == 1:
        only = indices[0]
        return lambda src: (src[only],)
    return lambda _src: ()


def compile_fast(
    method: Method, pre: Sequence[Literal], linear: Sequence[Subtask]
) -> FastMethod | None:
    """The slot form of a simple-head method whose preconditions `pre` (in
    evaluation order for bound head variables) only test or bind by positive
    literals and whose subtask arguments are constants or bound variables; else
    None. `linear`: the method's subtasks in the order the search pushes them."""
    if any(_is_template(term) for sub in method.subtasks for term in sub.args):
        return None
    # Slots: "?" (the placeholder a scan's pattern holds where it binds), the
    # constants, the head variables, then each variable in the order it is bound.
    consts = _constants([*(lit.pattern for lit in pre), *(sub.args for sub in method.subtasks)])
    slot = {var: len(consts) + i for i, var in enumerate(method.args)}
    steps: list[FastTest | FastScan] = []
    for lit in pre:
        if all(v in slot for v in lit.variables()):
            steps.append(_compile_test(lit, consts, slot))
        elif lit.negated or lit.predicate == "=":
            return None
        else:
            steps.append(_compile_scan(lit, consts, slot))
    subtasks = _compile_subtasks(linear, consts, slot)
    if subtasks is None:
        return None
    return FastMethod(tuple(consts), tuple(steps), subtasks)


def _is_template(term: str) -> bool:
    return "{" in term or "}" in term


def _constants(term_lists: Iterable[Sequence[str]]) -> list[str]:
    """"?", then every constant of `term_lists` once, in order of appearance."""
    consts = ["?"]
    for terms in term_lists:
        for term in terms:
            if not is_var(term) and term not in consts:
                consts.append(term)
    return consts


def _where(term: str, consts: list[str], slot: Mapping[str, int]) -> int:
    """The slot of a constant or a bound variable."""
    return slot[term] if is_var(term) else consts.index(term)


def _compile_subtasks(
    linear: Sequence[Subtask], consts: list[str], slot: Mapping[str, int]
) -> tuple[tuple[str, Getter, str], ...] | None:
    """(task, getter of the arguments, id) per subtask, last first; None when an
    argument is a variable the preconditions leave unbound."""
    out = []
    for sub in reversed(linear):
        if any(is_var(term) and term not in slot for term in sub.args):
            return None
        out.append((sub.task, _tuple_getter([_where(t, consts, slot) for t in sub.args]), sub.id))
    return tuple(out)


def _compile_test(lit: Literal, consts: list[str], slot: Mapping[str, int]) -> FastTest:
    """A literal whose variables are all in slots: a test of its fact or its terms."""
    where = [_where(t, consts, slot) for t in lit.pattern]
    if lit.predicate == "=":
        return (DIFFERENT if lit.negated else EQUAL, operator.itemgetter(where[1], where[2]))
    return (ABSENT if lit.negated else PRESENT, _tuple_getter(where))


def _compile_scan(lit: Literal, consts: list[str], slot: dict[str, int]) -> FastScan:
    """A positive literal with unbound variables: a scan of the facts that match
    it, giving each variable it binds the next slot (added to `slot`)."""
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
            slot[term] = len(consts) + len(slot)
            binds.append(pos)
    return (SCAN, _tuple_getter(pattern), len(pattern), tuple(fixed), tuple(binds), tuple(same))


def solve_fast(fast: FastMethod, state: State, args: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The slots of every way the method's preconditions hold for a call with
    constant `args`, in the order `satisfy` would give them."""
    return _solve(fast.steps, 0, state, fast.consts + args)


def _solve(
    steps: Sequence[FastTest | FastScan], i: int, state: State, src: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    """`solve_fast` from step `i` on, the slots so far `src`: tests in a loop, a
    recursion per fact a scan matches."""
    has = state.has
    n = len(steps)
    while i < n:
        step = steps[i]
        kind = step[0]
        if kind == SCAN:
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
                            yield from _solve(steps, i + 1, state, bound)
            return
        if _fails(step, src, has):  # type: ignore[arg-type]
            return
        i += 1
    yield src


def _fails(step: FastTest, src: tuple[str, ...], has: Callable[[Fact], bool]) -> bool:
    """Whether test `step` fails for the slots `src` (`has`: the state's)."""
    kind, get = step
    value = get(src)
    if kind >= EQUAL:
        return bool(value[0] == value[1]) != (kind == EQUAL)
    return has(value) == kind


#: `solve_once`'s answer when a literal has more than one candidate fact.
MANY: tuple[str, ...] = ()


def solve_once(
    fast: FastMethod, state: State, args: tuple[str, ...]
) -> tuple[str, ...] | None:
    """`solve_fast`'s only solution when every literal has at most one candidate
    fact (the slots, or None for no solution), without a generator; `MANY` as
    soon as a literal has more, for the caller to enumerate with `solve_fast`."""
    has = state.has
    src = fast.consts + args
    for step in fast.steps:
        kind = step[0]
        if kind == SCAN:
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
        # The test `_fails` makes, inline: this runs for every decomposition.
        value = step[1](src)
        if kind >= EQUAL:
            if (value[0] == value[1]) != (kind == EQUAL):
                return None
        elif has(value) == kind:
            return None
    return src


class CompiledOperator(NamedTuple):
    """A primitive whose precondition variables are all parameters, prepared so
    that grounding is indexing: every literal becomes a getter over
    `consts + args`. `pre` pairs each getter with its test kind."""

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

    def kind(lit: Literal) -> int:
        if lit.predicate == "=":
            return DIFFERENT if lit.negated else EQUAL
        return ABSENT if lit.negated else PRESENT

    pre = tuple((getter(lit), kind(lit)) for lit in op.pre)
    return CompiledOperator(
        tuple(consts), pre, tuple(getter(a) for a in op.add), tuple(getter(d) for d in op.delete)
    )


def operator_reads(
    compiled: CompiledOperator, state: State, src: tuple[str, ...]
) -> tuple[Fact, ...] | None:
    """For a call with slots `src` (`consts + args`): the facts the primitive's
    preconditions read (tested present or absent) if they hold, else None."""
    has = state.has
    reads = []
    # The test `_fails` makes (an `=` getter gives the whole literal), inline:
    # this runs for every step the search applies.
    for get, test in compiled.pre:
        fact = get(src)
        if test >= EQUAL:
            if (fact[1] == fact[2]) != (test == EQUAL):
                return None
        elif has(fact) == test:
            return None
        else:
            reads.append(fact)
    return tuple(reads)
