"""Planner states: immutable sets of facts.

A `State` is an immutable set of facts with an index by predicate and by
(predicate, argument position, value), each index entry a set; `candidates`
gives the facts that may match a pattern in one canonical (lexicographic)
order, sorting them when there is more than one, whatever `PYTHONHASHSEED` is.
`apply` returns a new state and touches only the index entries of the facts
that changed; the old state stays valid, which is what lets the search
backtrack by simply dropping states. Matching preconditions against a state is
`kernel.planner.match`'s job.

This module never matches literals, searches or reads files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from kernel.planner.model import Fact

#: Per predicate: every fact of it and, by (argument position, value), the facts
#: with that value there. Sets, never changed once a state holds them.
PredIndex = tuple[frozenset[Fact], dict[tuple[int, str], frozenset[Fact]]]


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
        changed: dict[str, _Work] = {}
        _discard(current, changed, delete, adds)
        _insert(current, changed, adds)
        if not changed:
            return self
        index = current.copy()
        for pred, (facts, entries) in changed.items():
            if facts:
                index[pred] = (frozenset(facts), entries)
            else:
                del index[pred]
        return State(index)


#: A changed predicate's entry while `State.apply` works on it: its facts (a
#: working copy) and its position index (a copy whose changed entries are new
#: sets; the unchanged ones stay shared with the old state).
_Work = tuple[set[Fact], dict[tuple[int, str], frozenset[Fact]]]


def _discard(
    current: dict[str, PredIndex], changed: dict[str, _Work], facts: Iterable[Fact],
    keep: tuple[Fact, ...],
) -> None:
    """Remove `facts` (but those in `keep`) from the working copies in `changed`,
    copying a predicate's entry from `current` on its first change."""
    for fact in facts:
        if fact in keep:
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


def _insert(
    current: dict[str, PredIndex], changed: dict[str, _Work], facts: tuple[Fact, ...]
) -> None:
    """Add `facts` to the working copies in `changed`, copying a predicate's
    entry from `current` on its first change."""
    for fact in facts:
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
