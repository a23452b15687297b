"""Planner states and precondition matching.

A `State` is an immutable set of facts with an index by predicate and by
(predicate, argument position, value), each index entry a set; matching
enumerates candidate facts in one canonical (lexicographic) order, sorting them
when there is more than one, whatever `PYTHONHASHSEED` is. `apply` returns a new state and touches only the
index entries of the facts that changed; the old state stays valid, which is
what lets the search backtrack by simply dropping states.

This module never searches and never reads files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

from kernel.planner.model import Fact, Literal, is_var

Env = dict[str, str]
#: Per predicate: every fact of it and, by (argument position, value), the facts
#: with that value there. Sets, never changed once a state holds them.
PredIndex = tuple[frozenset[Fact], dict[tuple[int, str], frozenset[Fact]]]


_EMPTY: PredIndex = (frozenset(), {})


class State:
    """An immutable set of facts with canonical-order lookups. Membership is a
    set lookup in the predicate's facts; the `facts` frozenset of them all is
    built only when asked for (equality, hashing), so applying a step copies
    just the index entries that changed. Index entries are sets; matching sorts
    an entry only when it has more than one candidate to enumerate."""

    __slots__ = ("_facts", "_hash", "_index")

    def __init__(self, index: dict[str, PredIndex], facts: frozenset[Fact] | None = None) -> None:
        self._index = index
        self._facts = facts
        self._hash: int | None = None

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> State:
        fset = frozenset(tuple(f) for f in facts)
        groups: dict[str, list[Fact]] = {}
        for fact in fset:
            groups.setdefault(fact[0], []).append(fact)
        index: dict[str, PredIndex] = {}
        for pred, group in groups.items():
            by_pos: dict[tuple[int, str], list[Fact]] = {}
            for fact in group:
                for pos in range(1, len(fact)):
                    by_pos.setdefault((pos, fact[pos]), []).append(fact)
            index[pred] = (frozenset(group), {k: frozenset(v) for k, v in by_pos.items()})
        return cls(index, fset)

    @property
    def facts(self) -> frozenset[Fact]:
        if self._facts is None:
            self._facts = frozenset(f for every, _ in self._index.values() for f in every)
        return self._facts

    def has(self, fact: Fact) -> bool:
        found = self._index.get(fact[0])
        return found is not None and fact in found[0]

    def __contains__(self, fact: object) -> bool:
        return isinstance(fact, tuple) and bool(fact) and self.has(fact)

    def __len__(self) -> int:
        return sum(len(every) for every, _ in self._index.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return False
        if other is self:
            return True
        return hash(self) == hash(other) and self.facts == other.facts

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.facts)
        return self._hash

    def sorted(self) -> tuple[Fact, ...]:
        return tuple(f for pred in sorted(self._index) for f in sorted(self._index[pred][0]))

    def candidates(self, pattern: Sequence[str]) -> Collection[Fact]:
        """Facts that may match `pattern` (a predicate then terms, already
        substituted), in sorted order: the smallest index entry among the bound
        positions, or every fact of the predicate."""
        found = self._index.get(pattern[0])
        if found is None:
            return ()
        best, by_pos = found
        for pos in range(1, len(pattern)):
            term = pattern[pos]
            if not term.startswith("?"):
                entry = by_pos.get((pos, term))
                if entry is None:
                    return ()
                if len(entry) < len(best):
                    best = entry
        return sorted(best) if len(best) > 1 else best

    def candidates_at(self, pattern: Sequence[str], fixed: Sequence[int]) -> Collection[Fact]:
        """`candidates(pattern)` when the positions holding constants are known:
        `fixed` (the others hold variables)."""
        found = self._index.get(pattern[0])
        if found is None:
            return ()
        best, by_pos = found
        for pos in fixed:
            entry = by_pos.get((pos, pattern[pos]))
            if entry is None:
                return ()
            if len(entry) < len(best):
                best = entry
        return sorted(best) if len(best) > 1 else best

    def apply(self, add: Iterable[Fact], delete: Iterable[Fact]) -> State:
        """A new state: `delete` removed, then `add` added (a fact in both stays).
        Only the index entries of predicates that changed are copied."""
        adds = add if isinstance(add, tuple) else tuple(add)
        current = self._index
        # Per changed predicate: its facts (a working copy) and its position index
        # (a copy whose changed entries are new sets; the old ones stay shared).
        changed: dict[str, tuple[set[Fact], dict[tuple[int, str], frozenset[Fact]]]] = {}
        for fact in delete:
            if fact in adds:
                continue
            pred = fact[0]
            work = changed.get(pred)
            if work is None:
                found = current.get(pred)
                if found is None or fact not in found[0]:
                    continue
                work = changed[pred] = (set(found[0]), found[1].copy())
            every, by_pos = work
            if fact not in every:
                continue
            every.remove(fact)
            for pos in range(1, len(fact)):
                key = (pos, fact[pos])
                entry = by_pos[key]
                if len(entry) == 1:
                    del by_pos[key]
                else:
                    by_pos[key] = entry.difference((fact,))
        for fact in adds:
            pred = fact[0]
            work = changed.get(pred)
            if work is None:
                found = current.get(pred)
                if found is None:
                    work = changed[pred] = (set(), {})
                elif fact in found[0]:
                    continue
                else:
                    work = changed[pred] = (set(found[0]), found[1].copy())
            every, by_pos = work
            if fact in every:
                continue
            every.add(fact)
            for pos in range(1, len(fact)):
                key = (pos, fact[pos])
                old = by_pos.get(key)
                by_pos[key] = frozenset((fact,)) if old is None else old.union((fact,))
        if not changed:
            return self
        index = current.copy()
        for pred, (facts, entries) in changed.items():
            if facts:
                index[pred] = (frozenset(facts), entries)
            else:
                del index[pred]
        return State(index)


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


def satisfy(lits: Sequence[Literal], state: State, env: Env) -> Iterator[Env]:
    """Every extension of `env` that makes the (scheduled) conjunction `lits` true
    in `state`, in canonical order: by the sorted order of the facts matched by
    the first literal, then the second, and so on."""
    return _satisfy(lits, 0, state, env)


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
        free = [(j, pattern[j]) for j in lit.var_positions if pattern[j].startswith("?")]
        if not free:
            if not state.has(pattern):
                return
            i += 1
            continue
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
        return
    yield env


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
