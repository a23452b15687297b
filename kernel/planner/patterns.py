"""Which regular expressions an `[intent.*]` table may use, so that matching an
intent stays cheap whatever its text.

Python's `re` backtracks: a pattern that can match the same text in many ways
takes exponential or high-polynomial time on text it does not match (`^(a+)+$`
on "aaaa…!" never finishes). Intent text is matched only on its first
`MATCH_PREFIX` characters (`intents.py`); `pattern_problem` refuses, when a
library is loaded, any pattern that could still be slow there:

* longer than `MAX_PATTERN_CHARS`;
* exponentially ambiguous: a repeated part can match the same text in two ways
  (`(a+)+`, `(a*)*`, `(a|aa)*`, `(\\w+\\s?)*`);
* polynomially ambiguous beyond one loop: `re.search` already tries every start
  position, so one repeat that can take any text (`fix.*bug`) makes matching
  quadratic, which is allowed; two that can share the same text one after the
  other (`.*.*x`, `\\w+\\s*\\w+`) make it cubic or worse, which is not;
* more than `MAX_WAYS` ways to match one piece of text without any loop
  (`a?a?a?a?aaaa`, `(?:a?){30}`).

How: the parsed pattern (`sre_parse`) becomes a position automaton (Glushkov's
construction, counting the ways each transition arises, so `(a+)+` keeps its
two loops) plus a state for the search's scan over start positions. Character
sets become bit masks over a probe alphabet (Latin-1, a few other scripts,
every character the pattern names). The ambiguity tests are the classic ones
(Weber and Seidl; Allauzen, Mohri and Rastogi): two runs around one cycle on
the same text is exponential; two loops joined by a text both can repeat is
polynomial. It models the backtracking engine and leans towards refusing:
possessive quantifiers and atomic groups are checked as if they backtracked,
lookarounds on their own, a backreference as any text. Its own work is
bounded; a pattern too large to check within that is refused.

Pure: reads no files and keeps nothing but a cache of verdicts.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

with warnings.catch_warnings():  # the documented names of re's parser; deprecated, still typed
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_compile
    import sre_constants as sre
    import sre_parse

MAX_PATTERN_CHARS = 1000
MAX_WAYS = 16
_EXPAND = 8  # `{m,n}` with n - m above this is checked as `{m,}`
_MAX_STATES = 2000
_MAX_WORK = 400_000
_SCAN = 0  # the state for re.search's scan over start positions
_BASE_PROBES = "".join(map(chr, range(256))) + (
    "\u0131\u0130\u017f\u0391\u03a3\u03c3\u03c2\u0416\u0436\u05d0\u0663\u0e01\u1e9e"
    "\u2003\u2028\u212a\u3000\u4e00\uff10\U0001f600"
)
_CHAR_SETS = (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN)
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_HINT = (
    "; rewrite it so each piece of text can match it one way only (e.g. "
    "'\\bfix\\b.*\\bbug' rather than '(\\w+\\s?)*bug'), or list words in 'keywords'"
)
_TOO_LARGE = "is too large to check; split it into several simpler patterns"

_T = TypeVar("_T", bound=Hashable)


class _Refused(Exception):
    """Why a pattern is refused, as the rest of a sentence naming it."""


@functools.lru_cache(maxsize=512)
def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` may not be an intent pattern (the rest of a sentence that
    starts with the pattern, ending with what to do), or None when it may.
    Raises re.error when it is not a regular expression at all."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return (
            f"is {len(pattern)} characters long; the limit is {MAX_PATTERN_CHARS}: split it "
            "into several patterns, or list words in 'keywords'"
        )
    re.compile(pattern)
    parsed = sre_parse.parse(pattern, re.IGNORECASE)
    try:
        _check(parsed, parsed.state, [0])
    except _Refused as why:
        return str(why)
    return None


@dataclass(frozen=True, slots=True)
class _Part:
    """A piece of the automaton: the ways it matches empty text, and its first
    and last positions, each with the number of ways it is reached."""

    empty: int
    first: Mapping[int, int]
    last: Mapping[int, int]


_EMPTY = _Part(1, {}, {})


def _add(a: Mapping[int, int], b: Mapping[int, int], times: int) -> dict[int, int]:
    out = dict(a)
    if times:
        for k, v in b.items():
            out[k] = out.get(k, 0) + v * times
    return out


def _alt(parts: Iterable[_Part]) -> _Part:
    out = _Part(0, {}, {})
    for p in parts:
        out = _Part(out.empty + p.empty, _add(out.first, p.first, 1), _add(out.last, p.last, 1))
    return out


class _Automaton:
    """Positions of one pattern (state 0 is the scan, which reads anything),
    the character set each reads, transitions with their multiplicity, and the
    lookaround bodies left to check on their own."""

    def __init__(self, work: list[int]) -> None:
        self.nodes: list[Any] = [None]
        self.succ: list[dict[int, int]] = [{}]
        self.lookarounds: list[sre_parse.SubPattern] = []
        self.work = work

    def spend(self, amount: int) -> None:
        self.work[0] += amount
        if self.work[0] > _MAX_WORK:
            raise _Refused(_TOO_LARGE)

    def link(self, last: Mapping[int, int], first: Mapping[int, int]) -> None:
        self.spend(len(last) * len(first))
        for p, m in last.items():
            row = self.succ[p]
            for q, n in first.items():
                row[q] = row.get(q, 0) + m * n

    def concat(self, a: _Part, b: _Part) -> _Part:
        self.link(a.last, b.first)
        return _Part(a.empty * b.empty, _add(a.first, b.first, a.empty),
                     _add(b.last, a.last, b.empty))

    def star(self, a: _Part) -> _Part:
        self.link(a.last, a.first)
        return _Part(1, a.first, a.last)

    def position(self, node: Any) -> _Part:
        if len(self.nodes) >= _MAX_STATES:
            raise _Refused(_TOO_LARGE)
        self.nodes.append(node)
        self.succ.append({})
        i = len(self.nodes) - 1
        return _Part(0, {i: 1}, {i: 1})

    def walk(self, items: Iterable[Any]) -> _Part:
        out = _EMPTY
        for op, av in items:
            out = self.concat(out, self.node(op, av))
        return out

    def node(self, op: Any, av: Any) -> _Part:
        if op in _CHAR_SETS:
            return self.position((op, av))
        if op in _REPEATS:
            return self.repeat(av[0], av[1], av[2])
        if op is sre.SUBPATTERN:
            return self.walk(av[-1])
        if op is sre.ATOMIC_GROUP:
            return self.walk(av)
        if op is sre.BRANCH:
            return _alt(self.walk(b) for b in av[1])
        if op is sre.GROUPREF_EXISTS:
            return _alt([self.walk(av[1]), self.walk(av[2]) if av[2] else _EMPTY])
        if op is sre.GROUPREF:  # the text a group matched: any text, as far as this check knows
            return self.star(self.position(None))
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            self.lookarounds.append(av[1])
            return _EMPTY
        if op is sre.AT:
            return _EMPTY
        raise _Refused(f"uses {op}, which this check does not know")

    def repeat(self, low: int, high: int, body: Any) -> _Part:
        parts = [self.walk(body) for _ in range(low)]
        if high == sre.MAXREPEAT or high - low > _EXPAND:
            parts.append(self.star(self.walk(body)))
        else:
            tail = _EMPTY
            for _ in range(high - low):
                tail = _alt([self.concat(self.walk(body), tail), _EMPTY])
            parts.append(tail)
        out = _EMPTY
        for part in parts:
            out = self.concat(out, part)
        return out


def _check(parsed: sre_parse.SubPattern, state: sre_parse.State, work: list[int]) -> None:
    """Raise _Refused if `parsed`, searched for, could be slow; then check its
    lookarounds the same way."""
    auto = _Automaton(work)
    whole = auto.walk(parsed.data)
    auto.link({_SCAN: 1}, {_SCAN: 1, **whole.first})
    labels = _labels(auto.nodes, state)
    loops = _Loops(auto)
    _exponential(auto, labels, loops)
    _polynomial(auto, labels, loops)
    _ways(auto, labels, loops)
    for body in auto.lookarounds:
        _check(body, state, work)


def _labels(nodes: list[Any], state: sre_parse.State) -> list[int]:
    """Each position's character set as a bit mask over the probe alphabet."""
    named: set[str] = set()
    for node in nodes[1:]:
        if node is not None:
            named.update(_named(node))
    probes = "".join(sorted(set(_BASE_PROBES) | named))
    anything = (1 << len(probes)) - 1
    masks: dict[str, int] = {}
    labels = []
    for node in nodes:
        if node is None:
            labels.append(anything)
            continue
        key = repr(node)
        if key not in masks:
            rx = sre_compile.compile(sre_parse.SubPattern(state, [node]), state.flags)
            masks[key] = sum(1 << m.start() for m in rx.finditer(probes))
        labels.append(masks[key])
    return labels


def _named(node: tuple[Any, Any]) -> set[str]:
    """The characters a character set names, in both cases."""
    op, av = node
    codes: list[int] = []
    if op in (sre.LITERAL, sre.NOT_LITERAL):
        codes.append(av)
    elif op is sre.IN:
        for item, value in av:
            if item is sre.LITERAL:
                codes.append(value)
            elif item is sre.RANGE:
                codes.extend(value)
    chars = {chr(c) for c in codes}
    return chars | {c.lower()[0] for c in chars} | {c.upper()[0] for c in chars}


def _components(graph: Mapping[_T, list[_T]]) -> dict[_T, int]:
    """Strongly connected components (Tarjan, iterative), numbered so that a
    component comes after every component it reaches."""
    index: dict[_T, int] = {}
    low: dict[_T, int] = {}
    comp: dict[_T, int] = {}
    stack: list[_T] = []
    count = 0
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        work = [(root, iter(graph[root]))]
        while work:
            v, edges = work[-1]
            for w in edges:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    work.append((w, iter(graph[w])))
                    break
                if w not in comp:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    while True:
                        w = stack.pop()
                        comp[w] = count
                        if w == v:
                            break
                    count += 1
    return comp


class _Loops:
    """The automaton's strongly connected components: which component each
    state is in, their members, the states on a cycle, and what each state
    reaches and is reached from."""

    def __init__(self, auto: _Automaton) -> None:
        self.auto = auto
        states = range(len(auto.nodes))
        self.comp = _components({p: list(auto.succ[p]) for p in states})
        self.members: dict[int, list[int]] = {}
        for p in states:
            self.members.setdefault(self.comp[p], []).append(p)
        self.cyclic = [
            p for p in states if len(self.members[self.comp[p]]) > 1 or p in auto.succ[p]
        ]
        self.pred: list[list[int]] = [[] for _ in states]
        for p in states:
            for q in auto.succ[p]:
                self.pred[q].append(p)

    def closure(self, start: int, edges: Callable[[int], Iterable[int]]) -> set[int]:
        seen = {start}
        todo = [start]
        while todo:
            row = list(edges(todo.pop()))
            self.auto.spend(len(row))
            for q in row:
                if q not in seen:
                    seen.add(q)
                    todo.append(q)
        return seen

    def reach(self, p: int) -> set[int]:
        return self.closure(p, lambda s: self.auto.succ[s])

    def reached_from(self, p: int) -> set[int]:
        return self.closure(p, lambda s: self.pred[s])


def _exponential(auto: _Automaton, labels: list[int], loops: _Loops) -> None:
    """Two different runs from one state back to it on the same text: a
    transition on a cycle that arises two ways, or a cycle of the pair
    automaton through both equal and different states (such a cycle stays in
    one component of the automaton, so only pairs inside one are explored)."""
    refused = _Refused(
        "can take exponential time: a repeated part can match the same text in more "
        "than one way, as in (a+)+ or (a|aa)*" + _HINT
    )
    comp = loops.comp
    for p, row in enumerate(auto.succ):
        if any(m > 1 and comp[q] == comp[p] for q, m in row.items()):
            raise refused
    pairs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    todo = [(p, p) for p in loops.cyclic]
    while todo:
        p, q = pair = todo.pop()
        if pair in pairs:
            continue
        auto.spend(len(auto.succ[p]) * len(auto.succ[q]))
        c = comp[p]
        pairs[pair] = [
            (a, b) for a in auto.succ[p] if comp[a] == c
            for b in auto.succ[q] if comp[b] == c and labels[a] & labels[b]
        ]
        todo.extend(n for n in pairs[pair] if n not in pairs)
    pair_comp = _components(pairs)
    equal = {c for (p, q), c in pair_comp.items() if p == q}
    if any(p != q and c in equal for (p, q), c in pair_comp.items()):
        raise refused


def _polynomial(auto: _Automaton, labels: list[int], loops: _Loops) -> None:
    """Refuse a chain of three loops p, q, r where each of p→q and q→r has a
    text that both ends of it can repeat and that leads from one to the other
    (the scan is the first loop of any chain)."""
    comp = loops.comp
    joined: dict[int, set[int]] = {}  # component of p → components of q that p joins
    for p in loops.cyclic:
        ahead = loops.reach(p)
        for q in loops.cyclic:
            if q not in ahead or comp[q] == comp[p] or comp[q] in joined.get(comp[p], ()):
                continue
            between = ahead & loops.reached_from(q)
            if _joined(auto, labels, (p, q), comp, between):
                joined.setdefault(comp[p], set()).add(comp[q])
    for targets in joined.values():
        if any(t in joined for t in targets):
            raise _Refused(
                "can take cubic time or worse: repeats in a row can take the same text, "
                "as in .*.*x or \\w+\\s*\\w+" + _HINT
            )


def _joined(
    auto: _Automaton, labels: list[int], ends: tuple[int, int], comp: dict[int, int],
    between: set[int],
) -> bool:
    """Is there one text on which p loops to p, p leads to q, and q loops to q?
    (A run from p back to p stays in p's component, one from p to q in
    `between`, one from q back to q in q's component.)"""
    p, q = ends
    seen: set[tuple[int, int, int]] = set()
    todo = [(p, p, q)]
    while todo:
        a, b, c = todo.pop()
        firsts = [a2 for a2 in auto.succ[a] if comp[a2] == comp[p]]
        seconds = [b2 for b2 in auto.succ[b] if b2 in between]
        thirds = [c2 for c2 in auto.succ[c] if comp[c2] == comp[q]]
        auto.spend(len(firsts) * len(seconds) + len(thirds))
        for a2 in firsts:
            for b2 in seconds:
                both = labels[a2] & labels[b2]
                if not both:
                    continue
                auto.spend(len(thirds))
                for c2 in thirds:
                    step = (a2, b2, c2)
                    if both & labels[c2] and step not in seen:
                        if step == (p, q, q):
                            return True
                        seen.add(step)
                        todo.append(step)
    return False


def _ways(auto: _Automaton, labels: list[int], loops: _Loops) -> None:
    """Refuse more than MAX_WAYS runs that one text can take from the scan
    through the loop-free part of the automaton (each loop counts as one state;
    its own ambiguity is the other checks' business)."""
    atoms = _atoms(labels)
    comp = loops.comp
    ways: dict[int, int] = {}
    for c in sorted(loops.members):  # every component after those it reaches
        per_atom = [0] * len(atoms)
        for p in loops.members[c]:
            for q, m in auto.succ[p].items():
                if comp[q] != c:
                    auto.spend(len(atoms))
                    for i, atom in enumerate(atoms):
                        if labels[q] & atom:
                            per_atom[i] += m * ways[comp[q]]
        ways[c] = max([1, *per_atom])
    if ways[comp[_SCAN]] > MAX_WAYS:
        raise _Refused(
            f"can match one text in more than {MAX_WAYS} ways, as in a?a?a?a?aaaa or "
            f"(?:a?){{30}}{_HINT}"
        )


def _atoms(labels: list[int]) -> list[int]:
    """A representative probe (one bit) of each class of probes that no label
    tells apart."""
    blocks = [labels[_SCAN]]
    for label in set(labels):
        blocks = [part for b in blocks for part in (b & label, b & ~label) if part]
    return [b & -b for b in blocks]
