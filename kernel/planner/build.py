"""Turn the search's trail (applied primitives and decompositions, in order) into
a `Plan`: stable step ids from decomposition paths, a dependency DAG, resolved
execution data and the decomposition tree.

Step ids: the path of subtask ids from the root task down to the step, joined by
`.`; a run of one id repeated k > 1 times (tail recursion) is written `id*k`.
A root task that is itself a primitive gets its own name as id.

Dependencies (`after`): step j depends on step i < j when
  * a method orders a subtask containing i before a subtask containing j, or
  * i wrote (added or deleted) a fact j reads or writes, or i read a fact j
    writes, or the two touch a predicate j needs absent,
then the DAG is transitively reduced. Any order of the steps that respects the
DAG reaches the same facts as the linear plan. Method preconditions only choose
the decomposition; they do not add dependencies.

This module never searches, reads files or prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from kernel.planner.match import deref
from kernel.planner.model import (
    Decomposition,
    Execution,
    Fact,
    Method,
    Operator,
    Plan,
    Step,
    TaskCall,
)
from kernel.planner.templates import render, render_argv


class StepRecord(NamedTuple):
    """An applied primitive, with the facts it read and wrote."""

    op: Operator
    args: tuple[str, ...]
    parent: int
    sub: str
    reads: tuple[Fact, ...]
    absent: tuple[str, ...]
    adds: tuple[Fact, ...]
    dels: tuple[Fact, ...]


class DecompRecord(NamedTuple):
    """A compound task decomposed by a method; `index` is its creation number."""

    number: int
    parent: int
    sub: str
    task: str
    args: tuple[str, ...]
    method: Method


def child_id(parent: str, sub: str) -> str:
    """The id of subtask `sub` of the node with id `parent` (the root's is ""):
    `child_id("a.rest*2", "rest")` is `"a.rest*3"`, `child_id("a", "b")` is
    `"a.b"`. The one step-id rule, for the plans built here and for the
    validator that checks them. Subtask ids hold no `.` or `*` (`check.py`)."""
    if not parent:
        return sub
    head, _, last = parent.rpartition(".")
    if last == sub:  # a run of two
        return f"{parent}*2"
    if "*" in last:  # a run of k, perhaps of `sub`
        seg, _, count = last.partition("*")
        if seg == sub:
            last = f"{sub}*{int(count) + 1}"
            return f"{head}.{last}" if head else last
    return f"{parent}.{sub}"


def build_plan(
    task: TaskCall,
    steps: Sequence[StepRecord],
    records: Sequence[DecompRecord],
    fresh: Mapping[str, str],
    config: Mapping[str, object],
) -> Plan:
    """The plan for `task` that the search's trail describes: its applied
    `steps` and decomposition `records` in order, the bindings of the fresh
    variables it introduced and the `config` that fills execution templates."""
    ids = _path_ids(steps, records)
    preds = _dependencies(steps, records)
    out: list[Step] = []
    for i, srec in enumerate(steps):
        op = srec.op
        ex = op.execution
        if ex.argv or ex.prompt or ex.artifacts:
            execution, missing = _execution(op, srec.args, config)
        else:
            execution, missing = ex, ()
        before = preds[i]
        if len(before) == 1:
            after: tuple[str, ...] = (ids.steps[before[0]],)
        else:
            after = tuple([ids.steps[p] for p in before])
        if srec.parent >= 0:
            method, parent_id = records[srec.parent].method.name, ids.nodes[srec.parent]
        else:
            method = parent_id = ""
        out.append(Step(ids.steps[i], op.name, srec.args, after, execution, method, parent_id,
                        missing))
    root_method = records[0].method.name if records and records[0].parent < 0 else ""
    return Plan(task=task.name, args=task.args, method=root_method, steps=tuple(out),
                tree=_tree(records, ids, fresh))


class _Ids(NamedTuple):
    """Path ids: `nodes[n]` of decomposition record n, `steps[i]` of step i, and
    `children[(n, sub)]` of what record n's subtask `sub` became."""

    nodes: list[str]
    steps: list[str]
    children: dict[tuple[int, str], str]


def _path_ids(steps: Sequence[StepRecord], records: Sequence[DecompRecord]) -> _Ids:
    """Every node's and step's id; a root primitive is its own name."""
    nodes: list[str] = []
    children: dict[tuple[int, str], str] = {}
    for rec in records:
        name = "" if rec.parent < 0 else child_id(nodes[rec.parent], rec.sub)
        nodes.append(name)
        children[(rec.parent, rec.sub)] = name
    ids: list[str] = []
    for s in steps:
        name = s.op.name if s.parent < 0 else child_id(nodes[s.parent], s.sub)
        ids.append(name)
        children[(s.parent, s.sub)] = name
    return _Ids(nodes, ids, children)


def _tree(
    records: Sequence[DecompRecord], ids: _Ids, fresh: Mapping[str, str]
) -> tuple[Decomposition, ...]:
    """The decomposition tree, a node per record, fresh variables resolved."""
    nodes, children = ids.nodes, ids.children
    return tuple([
        Decomposition(
            nodes[r.number],
            r.task,
            tuple([deref(a, fresh) for a in r.args]) if fresh else r.args,
            r.method.name,
            None if r.parent < 0 else nodes[r.parent],
            tuple([children[(r.number, s.id)] for s in r.method.subtasks]),
        )
        for r in records
    ])


def _execution(
    op: Operator, args: tuple[str, ...], config: Mapping[str, object]
) -> tuple[Execution, tuple[str, ...]]:
    ex = op.execution
    if not (ex.argv or ex.prompt or ex.artifacts):
        return ex, ()
    values = {p[1:]: v for p, v in zip(op.params, args, strict=True)}
    argv, missing = render_argv(ex.argv, values, config)
    more: list[str] = []
    prompt = render(ex.prompt, values, config, more)
    artifacts = tuple(render(a, values, config, more) for a in ex.artifacts)
    filled = Execution(
        worker=ex.worker,
        argv=argv,
        prompt=prompt,
        capabilities=ex.capabilities,
        artifacts=artifacts,
        retries=ex.retries,
        idempotent=ex.idempotent,
        expect=ex.expect,
    )
    return filled, tuple(sorted(set(missing) | set(more)))


def _dependencies(
    steps: Sequence[StepRecord], records: Sequence[DecompRecord]
) -> list[list[int]]:
    """Direct predecessors of each step, transitively reduced, ascending."""
    if _all_totally_ordered(records):
        # Every method orders all its subtasks, so every two steps are ordered
        # by the method that decomposed their common ancestor: a chain.
        return [[i - 1] if i else [] for i in range(len(steps))]
    succ = _Touches(steps).edges()
    _method_edges(steps, records, succ)
    return _reduce(succ)


def _all_totally_ordered(records: Sequence[DecompRecord]) -> bool:
    totals: dict[str, bool] = {}
    for rec in records:
        total = totals.get(rec.method.name)
        if total is None:
            total = totals[rec.method.name] = _totally_ordered(rec.method)
        if not total:
            return False
    return True


class _Touches:
    """The edges between steps that touch one fact, at least one writing it
    (a step needing a predicate absent reads all its facts), found by walking
    the steps in plan order: reads, then absences, then writes, per step."""

    def __init__(self, steps: Sequence[StepRecord]) -> None:
        self.steps = steps
        self.succ: list[set[int]] = [set() for _ in steps]
        # Facts no step writes cannot order anything.
        self.written = {f for s in steps for f in (*s.adds, *s.dels)}
        self.track_absent = any(s.absent for s in steps)
        self.last_writer: dict[Fact, int] = {}
        self.readers: dict[Fact, list[int]] = {}  # since the last write
        self.writers_of: dict[str, list[int]] = {}  # by predicate
        self.absent_readers: dict[str, list[int]] = {}

    def edges(self) -> list[set[int]]:
        for j, s in enumerate(self.steps):
            for fact in s.reads:
                if fact in self.written:
                    self.read(j, fact)
            for name in s.absent:
                self.read_absent(j, name)
            for fact in s.adds + s.dels:
                self.write(j, fact)
        return self.succ

    def read(self, j: int, fact: Fact) -> None:
        w = self.last_writer.get(fact)
        if w is not None:
            self.succ[w].add(j)
        self.readers.setdefault(fact, []).append(j)

    def read_absent(self, j: int, name: str) -> None:
        for w in self.writers_of.get(name, ()):
            self.succ[w].add(j)
        self.absent_readers.setdefault(name, []).append(j)

    def write(self, j: int, fact: Fact) -> None:
        succ = self.succ
        w = self.last_writer.get(fact)
        if w is not None and w != j:
            succ[w].add(j)
        for r in self.readers.pop(fact, ()):
            if r != j:
                succ[r].add(j)
        self.last_writer[fact] = j
        if self.track_absent:
            for r in self.absent_readers.get(fact[0], ()):
                if r != j:
                    succ[r].add(j)
            self.writers_of.setdefault(fact[0], []).append(j)


def _totally_ordered(method: Method) -> bool:
    """Whether the method's ordering chains all its subtasks (each directly
    before the next in declaration order, as `ordered = true` gives)."""
    chain = set(Method.chain(method.subtasks))
    return chain <= set(method.ordering)


class _Shape(NamedTuple):
    """For one method and one pattern of empty subtasks: the orderings to draw
    (between nonempty subtasks, transitively reduced), and which subtasks hold
    the first and the last steps of the whole."""

    pairs: tuple[tuple[str, str], ...]
    firsts: tuple[str, ...]
    lasts: tuple[str, ...]


def _shape(method: Method, nonempty: frozenset[str]) -> _Shape:
    ids, rank, reach = _reachability(method)
    pos = {sid: i for i, sid in enumerate(ids)}
    mask = sum(1 << pos[i] for i in nonempty)
    live = sorted((pos[i] for i in nonempty), key=rank.__getitem__)
    pairs: list[tuple[str, str]] = []
    reached = 0
    for u in live:
        below = reach[u] & mask
        reached |= below
        covered = 0
        for v in live:
            if (below >> v) & 1 and not (covered >> v) & 1:
                pairs.append((ids[u], ids[v]))
                covered |= reach[v]
    firsts = tuple(ids[u] for u in sorted(live) if not (reached >> u) & 1)
    lasts = tuple(ids[u] for u in sorted(live) if not reach[u] & mask)
    return _Shape(tuple(pairs), firsts, lasts)


def _reachability(method: Method) -> tuple[list[str], dict[int, int], list[int]]:
    """The method's subtask ids, each subtask's rank in a topological order of
    its orderings, and the subtasks ordered after each (a bit mask by position)."""
    ids = [s.id for s in method.subtasks]
    pos = {sid: i for i, sid in enumerate(ids)}
    succ: list[set[int]] = [set() for _ in ids]
    indegree = [0] * len(ids)
    for a, b in set(method.ordering):
        succ[pos[a]].add(pos[b])
        indegree[pos[b]] += 1
    topo: list[int] = []
    ready = [i for i, d in enumerate(indegree) if d == 0]
    while ready:
        u = ready.pop()
        topo.append(u)
        for v in succ[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    rank = {u: r for r, u in enumerate(topo)}
    reach = [0] * len(ids)
    for u in reversed(topo):
        for v in succ[u]:
            reach[u] |= reach[v] | (1 << v)
    return ids, rank, reach


def _method_edges(
    steps: Sequence[StepRecord], records: Sequence[DecompRecord], succ: list[set[int]]
) -> None:
    """For each `a < b` in a method, order the last steps of a's subtree before
    the first steps of b's. "Last" and "first" are structural (from the methods'
    orderings), a superset of the true sinks and sources; the surplus edges
    are implied by others and vanish in the transitive reduction."""
    ends: dict[tuple[int, str], tuple[tuple[int, ...], tuple[int, ...]]] = {}
    for i, s in enumerate(steps):
        if s.parent >= 0:
            ends[(s.parent, s.sub)] = ((i,), (i,))
    shapes: dict[tuple[str, frozenset[str]], _Shape] = {}
    for rec in reversed(records):
        number = rec.number
        mine = {sub.id: ends[(number, sub.id)] for sub in rec.method.subtasks
                if (number, sub.id) in ends}
        key = (rec.method.name, frozenset(mine))
        shape = shapes.get(key)
        if shape is None:
            shape = shapes[key] = _shape(rec.method, key[1])
        for a, b in shape.pairs:
            sources = mine[b][0]
            for i in mine[a][1]:
                succ[i].update(sources)
        if mine and rec.parent >= 0:
            firsts = tuple(j for sub in shape.firsts for j in mine[sub][0])
            lasts = tuple(i for sub in shape.lasts for i in mine[sub][1])
            ends[(rec.parent, rec.sub)] = (firsts, lasts)


def _reduce(succ: list[set[int]]) -> list[list[int]]:
    """Transitive reduction of a DAG whose edges all go from lower to higher index."""
    n = len(succ)
    reach = [0] * n
    preds: list[list[int]] = [[] for _ in range(n)]
    for u in range(n - 1, -1, -1):
        covered = 0
        for w in sorted(succ[u]):
            if not (covered >> w) & 1:
                preds[w].append(u)
            covered |= reach[w] | (1 << w)
        reach[u] = covered
    for p in preds:
        p.sort()
    return preds
