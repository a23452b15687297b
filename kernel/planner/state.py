"""Planner states and precondition matching.

A `State` is an immutable set of facts with an index by predicate and by
(predicate, argument position, value), each index entry a sorted tuple, so that
matching enumerates candidate facts in one canonical (lexicographic) order
whatever `PYTHONHASHSEED` is. `apply` returns a new state and touches only the
index entries of the facts that changed; the old state stays valid, which is
what lets the search backtrack by simply dropping states.

This module never searches and never reads files.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence

from kernel.planner.model import Fact, Literal, is_var

Env = dict[str, str]
IndexKey = tuple[str, ...] | tuple[str, int, str]


def _keys(fact: Fact) -> Iterator[IndexKey]:
    pred = fact[0]
    yield (pred,)
    for pos in range(1, len(fact)):
        yield (pred, pos, fact[pos])


class State:
    """An immutable set of facts with canonical-order lookups."""

    __slots__ = ("_index", "facts")

    def __init__(self, facts: frozenset[Fact], index: dict[IndexKey, tuple[Fact, ...]]) -> None:
        self.facts = facts
        self._index = index

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> State:
        fset = frozenset(tuple(f) for f in facts)
        groups: dict[IndexKey, list[Fact]] = {}
        for fact in sorted(fset):
            for key in _keys(fact):
                groups.setdefault(key, []).append(fact)
        return cls(fset, {k: tuple(v) for k, v in groups.items()})

    def __contains__(self, fact: object) -> bool:
        return fact in self.facts

    def __len__(self) -> int:
        return len(self.facts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and other.facts == self.facts

    def __hash__(self) -> int:
        return hash(self.facts)

    def sorted(self) -> tuple[Fact, ...]:
        return tuple(sorted(self.facts))

    def candidates(self, pattern: Sequence[str]) -> tuple[Fact, ...]:
        """Facts that may match `pattern` (a predicate then terms, already
        substituted), in sorted order: the smallest index entry among the bound
        positions, or every fact of the predicate."""
        index = self._index
        best = index.get((pattern[0],), ())
        for pos in range(1, len(pattern)):
            term = pattern[pos]
            if not is_var(term):
                entry = index.get((pattern[0], pos, term), ())
                if len(entry) < len(best):
                    best = entry
                    if not best:
                        break
        return best

    def apply(self, add: Iterable[Fact], delete: Iterable[Fact]) -> State:
        """A new state: `delete` removed, then `add` added (a fact in both stays)."""
        adds = frozenset(add)
        removed = [f for f in set(delete) if f in self.facts and f not in adds]
        added = [f for f in adds if f not in self.facts]
        if not removed and not added:
            return self
        index = dict(self._index)
        for fact in removed:
            for key in _keys(fact):
                entry = list(index[key])
                del entry[bisect.bisect_left(entry, fact)]
                if entry:
                    index[key] = tuple(entry)
                else:
                    del index[key]
        for fact in added:
            for key in _keys(fact):
                entry = list(index.get(key, ()))
                bisect.insort(entry, fact)
                index[key] = tuple(entry)
        return State((self.facts - frozenset(removed)) | frozenset(added), index)


def deref(term: str, env: Mapping[str, str]) -> str:
    """Follow variable bindings until a constant or an unbound variable."""
    while term in env:
        term = env[term]
    return term


def ground(lit: Literal, env: Mapping[str, str]) -> Fact:
    out = [lit.predicate]
    for a in lit.args:
        if a.startswith("?"):
            while a in env:
                a = env[a]
        out.append(a)
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


def _unify_fact(pattern: Fact, fact: Fact, env: Env) -> Env | None:
    new: Env | None = None
    for term, value in zip(pattern, fact, strict=True):
        if is_var(term):
            cur = (new or env).get(term)
            if cur is None:
                if new is None:
                    new = dict(env)
                new[term] = value
            elif cur != value:
                return None
        elif term != value:
            return None
    return new if new is not None else env


def _exists(pattern: Fact, state: State) -> bool:
    if not any(is_var(t) for t in pattern):
        return pattern in state.facts
    arity = len(pattern)
    return any(
        len(f) == arity and _unify_fact(pattern, f, {}) is not None
        for f in state.candidates(pattern)
    )


def satisfy(lits: Sequence[Literal], state: State, env: Env) -> Iterator[Env]:
    """Every extension of `env` that makes the (scheduled) conjunction `lits` true
    in `state`, in canonical order: by the sorted order of the facts matched by
    the first literal, then the second, and so on."""
    if not lits:
        yield env
        return
    yield from _satisfy(lits, 0, state, env)


def _satisfy(lits: Sequence[Literal], i: int, state: State, env: Env) -> Iterator[Env]:
    n = len(lits)
    while i < n:
        lit = lits[i]
        pattern = ground(lit, env)
        if lit.predicate == "=":
            left, right = pattern[1], pattern[2]
            if is_var(left) or is_var(right):
                if lit.negated or (is_var(left) and is_var(right)):
                    return
                env = dict(env)
                if is_var(left):
                    env[left] = right
                else:
                    env[right] = left
            elif (left == right) == lit.negated:
                return
            i += 1
            continue
        if lit.negated:
            if _exists(pattern, state):
                return
            i += 1
            continue
        if not any(is_var(t) for t in pattern[1:]):
            if pattern not in state.facts:
                return
            i += 1
            continue
        arity = len(pattern)
        for fact in state.candidates(pattern):
            if len(fact) != arity:
                continue
            bound = _unify_fact(pattern, fact, env)
            if bound is not None:
                yield from _satisfy(lits, i + 1, state, bound)
        return
    yield env


def first_unmet(lits: Sequence[Literal], state: State, env: Env) -> Literal | None:
    """The first literal (in evaluation order) at which `lits` stops being
    satisfiable, for "why did this fail" messages; None if satisfiable."""
    for k in range(1, len(lits) + 1):
        if next(satisfy(lits[:k], state, env), None) is None:
            return lits[k - 1]
    return None
