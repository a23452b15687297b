"""Check a plan against its domain, independently of the search that made it.

Two things are checked. **Execution**: replaying the steps in plan order from the
initial facts, every primitive's preconditions hold and its effects are applied
(deletes, then adds). **Decomposition**: the tree is rooted at the plan's task,
every compound node is decomposed by a method of its task whose head and subtasks
match the node and its children under one consistent binding, the method's
preconditions hold at some point after everything ordered before the node and
before its first step, every step belongs to exactly one node, and every ordering
pair of every method is respected by the plan's dependency edges.

The validator never raises for an invalid plan: it returns the problems found.
It never changes the plan or the domain, and never reads files (the request
module's `verify_request` reads what a `jitos plan` run used, then calls it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from kernel.planner.build import child_id
from kernel.planner.match import ground, holds, satisfy, schedule
from kernel.planner.model import (
    Decomposition,
    Domain,
    Fact,
    Literal,
    Method,
    Operator,
    Plan,
    Step,
    Subtask,
    is_var,
)
from kernel.planner.state import State
from kernel.planner.templates import render

Binding = Mapping[str, str]
# (child id, templated subtask argument, the child's value for it, the child's call)
_Filled = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """`ok` when `problems` is empty; `steps` replayed; `final` the facts after the
    last step (sorted) — useful to check a goal."""

    ok: bool
    problems: tuple[str, ...]
    steps: int
    final: tuple[Fact, ...]


def _match(terms: tuple[str, ...], values: tuple[str, ...], theta: dict[str, str]) -> dict[str, str] | None:
    out = dict(theta)
    for t, v in zip(terms, values, strict=True):
        if is_var(t):
            if out.setdefault(t, v) != v:
                return None
        elif t != v:
            return None
    return out


def unify(terms: tuple[str, ...], values: tuple[str, ...], theta: dict[str, str]) -> dict[str, str] | None:
    """Extend `theta` so that `terms` equal the constants `values`, or None."""
    if len(terms) != len(values):
        return None
    return _match(terms, values, theta)


class _Checker:
    def __init__(self, domain: Domain, plan: Plan, facts: Iterable[Fact]) -> None:
        self.domain = domain
        self.plan = plan
        self.problems: list[str] = []
        self.index = {s.id: i for i, s in enumerate(plan.steps)}
        self.steps = {s.id: s for s in plan.steps}
        self.nodes = {d.id: d for d in plan.tree}
        self.parent_of = {c: d for d in plan.tree for c in d.children}
        self.states = [State.of(facts)]
        self._spans: dict[str, tuple[int, int] | None] = {}
        self._masks: dict[str, int] = {}
        self._closures: dict[tuple[str, str, bool], frozenset[str]] = {}
        self._edges: dict[tuple[str, bool], dict[str, list[str]]] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self.touched: list[list[tuple[Fact, bool]]] = [[] for _ in plan.steps]
        self._schedules: dict[tuple[str, str, frozenset[str]], tuple[Literal, ...]] = {}
        self._methods = {(m.task, m.name): m for ms in domain.methods.values() for m in ms}
        self.order = self.postorder()
        self.summarise()

    def problem(self, text: str) -> None:
        self.problems.append(text)

    # -- execution

    def replay(self) -> None:
        state = self.states[0]
        for i, step in enumerate(self.plan.steps):
            state = self.apply(i, step, state)
            self.states.append(state)

    def apply(self, i: int, step: Step, state: State) -> State:
        """Apply plan step `i` to `state`, reporting an unknown primitive, a wrong arity
        or failed preconditions, and record the facts it reads and writes."""
        op = self.domain.operators.get(step.name)
        if op is None:
            self.problem(f"step {step.id}: {step.name} is not a primitive of the domain")
            return state
        theta = unify(op.params, step.args, {})
        if theta is None:
            self.problem(f"step {step.id}: {step.name} takes {len(op.params)} argument(s)")
            return state
        binding = next(satisfy(self.primitive_pre(op, theta), state, theta), None)
        if binding is None:
            self.report_failed_pre(i, step, op, state, theta)
            binding = theta
        self.record_reads(i, op, binding)
        adds = [ground(lit, binding) for lit in op.add]
        dels = [ground(lit, binding) for lit in op.delete]
        self.record_writes(i, (*adds, *dels))
        return state.apply(adds, dels)

    def primitive_pre(self, op: Operator, theta: Binding) -> tuple[Literal, ...]:
        """The preconditions of `op` scheduled for the variables `theta` binds (cached)."""
        key = ("primitive", op.name, frozenset(theta))
        pre = self._schedules.get(key)
        if pre is None:
            pre = self._schedules[key] = schedule(op.pre, theta)
        return pre

    def report_failed_pre(self, i: int, step: Step, op: Operator, state: State, theta: Binding) -> None:
        """Report plan step `i`, naming the preconditions of `op` that do not hold in `state`."""
        failed = [
            str(Literal(lit.predicate, ground(lit, theta)[1:], lit.negated))
            for lit in op.pre
            if not holds((lit,), state, theta)
        ]
        self.problem(
            f"step {i + 1} ({step.id}) {step.name}({', '.join(step.args)}): "
            f"precondition does not hold: {'; '.join(failed) or 'no common binding'}"
        )

    def record_reads(self, i: int, op: Operator, binding: Binding) -> None:
        """Record the facts plan step `i` reads: its preconditions (a predicate, for a
        negation with free variables)."""
        touched = self.touched[i]
        for lit in op.pre:
            if lit.predicate == "=":
                continue
            fact = ground(lit, binding)
            if lit.negated and any(is_var(t) for t in fact[1:]):
                touched.append((("", lit.predicate), False))
            else:
                touched.append((fact, False))

    def record_writes(self, i: int, facts: Iterable[Fact]) -> None:
        """Record the facts plan step `i` writes, and their predicates."""
        touched = self.touched[i]
        for fact in facts:
            touched.append((fact, True))
            touched.append((("", fact[0]), True))

    # -- decomposition

    def tree(self) -> None:
        """Check the decomposition tree: its root, who owns each child, every node and the orderings."""
        if not self.check_root():
            return
        owner = self.owners()
        for node in self.plan.tree:
            self.check_node(node)
        self.check_parents(owner)
        self.check_ordering()

    def check_root(self) -> bool:
        """Whether the tree is rooted at the plan's task and method (a plan without a
        tree must be that single primitive); a mismatch is a problem."""
        plan = self.plan
        if not plan.tree:
            if len(plan.steps) != 1 or plan.steps[0].name != plan.task:
                self.problem("the plan has no decomposition tree but is not a single primitive")
            return False
        root = self.nodes.get("")
        if root is None or (root.task, root.args, root.method) != (plan.task, plan.args, plan.method):
            call = f"{plan.task}({', '.join(plan.args)})"
            self.problem(f"the tree's root is not {call} decomposed by {plan.method}")
            return False
        return True

    def owners(self) -> dict[str, str]:
        """The node that lists each child (the last one); a child listed twice is a problem."""
        owner: dict[str, str] = {}
        for node in self.plan.tree:
            for child in node.children:
                if child in owner:
                    self.problem(f"{child} is a child of both {owner[child] or '(root)'} and {node.id}")
                owner[child] = node.id
        return owner

    def check_parents(self, owner: Mapping[str, str]) -> None:
        """Every step names the node that owns it, and every node but the root has one."""
        for step in self.plan.steps:
            if step.id not in owner:
                self.problem(f"step {step.id} is not produced by any method")
            elif step.parent != owner[step.id]:
                self.problem(f"step {step.id} names parent {step.parent!r}, the tree {owner[step.id]!r}")
        for node in self.plan.tree:
            if node.id and node.id not in owner:
                self.problem(f"node {node.id} hangs from no parent")

    def method_of(self, node: Decomposition) -> Method | None:
        return self._methods.get((node.task, node.method))

    def check_node(self, node: Decomposition) -> None:
        """Check that a method of its task decomposes `node` into its children, then its preconditions."""
        where = f"node {node.id or '(root)'} {node.task}({', '.join(node.args)})"
        head = self.match_head(node, where)
        if head is None:
            return
        method, theta = head
        matched = self.match_children(node, method, theta, where)
        if matched is None:
            return
        theta, templates = matched
        self.check_templates(where, templates, theta)
        if method.pre and not self.pre_holds(node, method.pre, theta):
            self.problem(
                f"{where}: the preconditions of {method.name} hold at no point between "
                "the steps ordered before it and its first step"
            )

    def match_head(self, node: Decomposition, where: str) -> tuple[Method, dict[str, str]] | None:
        """The node's method and the binding of its head to the node's arguments, or None."""
        method = self.method_of(node)
        if method is None:
            self.problem(f"{where}: {node.method} is not a method of {node.task}")
            return None
        theta = unify(method.args, node.args, {})
        if theta is None:
            self.problem(f"{where}: its arguments do not match the head of {method.name}")
            return None
        return method, theta

    def match_children(
        self, node: Decomposition, method: Method, theta: dict[str, str], where: str
    ) -> tuple[dict[str, str], list[_Filled]] | None:
        """Extend `theta` over the method's subtasks matched to the node's children, in
        order, collecting the templated arguments to check; None at the first mismatch."""
        if len(node.children) != len(method.subtasks):
            self.problem(
                f"{where}: {method.name} has {len(method.subtasks)} subtask(s), "
                f"the tree {len(node.children)}"
            )
            return None
        templates: list[_Filled] = []
        for sub, cid in zip(method.subtasks, node.children, strict=True):
            extended = self.match_child(node, method, sub, cid, theta, where, templates)
            if extended is None:
                return None
            theta = extended
        return theta, templates

    def match_child(
        self,
        node: Decomposition,
        method: Method,
        sub: Subtask,
        cid: str,
        theta: dict[str, str],
        where: str,
        templates: list[_Filled],
    ) -> dict[str, str] | None:
        """Extend `theta` so that child `cid` matches subtask `sub`, or None if it cannot."""
        if cid != child_id(node.id, sub.id):
            self.problem(f"{where}: child {cid} should be {child_id(node.id, sub.id)}")
        name, args = self.call(cid)
        if name is None:
            self.problem(f"{where}: child {cid} is neither a step nor a node")
            return None
        if name != sub.task:
            self.problem(f"{where}: child {cid} is {name}, {method.name} says {sub.task}")
            return None
        # A constant argument with {placeholders} is filled from the binding (the
        # search renders it); compare it once every variable is bound.
        keep = [i for i, t in enumerate(sub.args) if not _is_template(t)]
        extended = (
            unify(tuple(sub.args[i] for i in keep), tuple(args[i] for i in keep), theta)
            if len(args) == len(sub.args) else None
        )
        if extended is None:
            self.problem(
                f"{where}: child {cid} {name}({', '.join(args)}) does not match "
                f"{sub.task}({', '.join(sub.args)}) under the method's binding"
            )
            return None
        call = f"{name}({', '.join(args)})"
        templates.extend(
            (cid, t, a, call) for t, a in zip(sub.args, args, strict=True) if _is_template(t)
        )
        if cid in self.steps and self.steps[cid].method != method.name:
            self.problem(f"step {cid} names method {self.steps[cid].method}, its node {method.name}")
        return extended

    def check_templates(self, where: str, templates: Sequence[_Filled], theta: Binding) -> None:
        """Every templated child argument is the template rendered with the method's binding."""
        values = {k[1:]: v for k, v in theta.items()}
        for cid, template, value, call in templates:
            if render(template, values, {}, []) != value:
                self.problem(
                    f"{where}: child {cid} {call} does not fill the template {template!r} "
                    "with the method's binding"
                )

    def call(self, cid: str) -> tuple[str | None, tuple[str, ...]]:
        if cid in self.steps:
            return self.steps[cid].name, self.steps[cid].args
        if cid in self.nodes:
            return self.nodes[cid].task, self.nodes[cid].args
        return None, ()

    def postorder(self) -> list[str]:
        """Every node id, children before parents, without recursion (plans from
        tail-recursive methods are thousands of levels deep); cycles are cut."""
        order: list[str] = []
        seen: set[str] = set()
        for start in self.nodes:
            if start in seen:
                continue
            seen.add(start)
            stack = [(start, iter(self.nodes[start].children))]
            while stack:
                nid, children = stack[-1]
                for cid in children:
                    if cid in self.nodes and cid not in seen:
                        seen.add(cid)
                        stack.append((cid, iter(self.nodes[cid].children)))
                        break
                else:
                    stack.pop()
                    order.append(nid)
        return order

    def summarise(self) -> None:
        """Fill `_spans` and `_masks` for every node and step."""
        for sid, i in self.index.items():
            self._spans[sid] = (i, i)
            self._masks[sid] = 1 << i
        for nid in self.order:
            span: tuple[int, int] | None = None
            mask = 0
            for cid in self.nodes[nid].children:
                sub = self._spans.get(cid)
                if sub is not None:
                    span = sub if span is None else (min(span[0], sub[0]), max(span[1], sub[1]))
                mask |= self._masks.get(cid, 0)
            self._spans[nid] = span
            self._masks[nid] = mask

    def span(self, nid: str) -> tuple[int, int] | None:
        """(first, last) plan index of the steps below `nid`, or None if it has none."""
        return self._spans.get(nid)

    def mask(self, nid: str) -> int:
        """Bit i set when plan step i is below `nid`."""
        return self._masks.get(nid, 0)

    def pre_holds(self, node: Decomposition, pre: tuple[Literal, ...], theta: Binding) -> bool:
        lo, hi = self.window(node.id)
        own = self.span(node.id)
        if own is not None:
            hi = min(hi, own[0])
        env = dict(theta)
        key = ("method", node.method, frozenset(env))
        lits = self._schedules.get(key)
        if lits is None:
            lits = self._schedules[key] = schedule(pre, env)
        return any(
            next(satisfy(lits, self.states[i], env), None) is not None
            for i in range(lo, max(lo, hi) + 1)
        )

    def window(self, nid: str) -> tuple[int, int]:
        """(lo, hi): node `nid` comes after plan index lo - 1 and before index hi,
        by the orderings of every method above it."""
        if not self._windows:
            for node_id in reversed(self.order):  # parents before children
                self._windows[node_id] = self._window(node_id)
        return self._windows.get(nid) or self._window(nid)

    def _window(self, nid: str) -> tuple[int, int]:
        lo, hi = 0, len(self.plan.steps)
        parent = self.parent_of.get(nid)
        method = self.method_of(parent) if parent is not None else None
        if parent is None or method is None:
            return lo, hi
        lo, hi = self._windows.get(parent.id, (lo, hi))
        ids = {s.id: c for s, c in zip(method.subtasks, parent.children, strict=False)}
        sid = next((s for s, c in ids.items() if c == nid), "")
        for a in self.closure(method, sid, forward=False):
            sp = self.span(ids[a]) if a in ids else None
            if sp is not None:
                lo = max(lo, sp[1] + 1)
        for b in self.closure(method, sid, forward=True):
            sp = self.span(ids[b]) if b in ids else None
            if sp is not None:
                hi = min(hi, sp[0])
        return lo, hi

    def closure(self, method: Method, sid: str, *, forward: bool) -> frozenset[str]:
        """Subtask ids ordered after (`forward`) or before `sid` in `method`, transitively."""
        key = (method.name, sid, forward)
        found = self._closures.get(key)
        if found is None:
            edges = self._edges.get((method.name, forward))
            if edges is None:
                built: dict[str, list[str]] = {}
                for a, b in method.ordering:
                    src, dst = (a, b) if forward else (b, a)
                    built.setdefault(src, []).append(dst)
                edges = self._edges[(method.name, forward)] = built
            found = self._closures[key] = frozenset(_closure(edges, sid))
        return found

    def check_ordering(self) -> None:
        """For every method ordering pair (a, b), every step under b depends,
        through `after` edges, on every step under a."""
        reach = self.dependencies()
        common = self.common_dependencies(reach)
        for node in self.plan.tree:
            self.check_node_ordering(node, reach, common)
        self.check_interference(reach)

    def dependencies(self) -> list[int]:
        """Bit mask per plan step of the steps it depends on, transitively; bad edges are problems."""
        reach: list[int] = []
        for i, step in enumerate(self.plan.steps):
            m = 0
            for dep in step.after:
                j = self.index.get(dep)
                if j is None:
                    self.problem(f"step {step.id} depends on unknown step {dep}")
                elif j >= i:
                    self.problem(f"step {step.id} depends on {dep}, which comes later in the plan")
                else:
                    m |= reach[j] | (1 << j)
            reach.append(m)
        return reach

    def common_dependencies(self, reach: Sequence[int]) -> dict[str, int]:
        """The steps every step below a node or step depends on (-1, all, when it has none)."""
        common: dict[str, int] = {step.id: reach[i] for i, step in enumerate(self.plan.steps)}
        for nid in self.order:
            both = -1
            for cid in self.nodes[nid].children:
                both &= common.get(cid, -1)
            common[nid] = both
        return common

    def check_node_ordering(
        self, node: Decomposition, reach: Sequence[int], common: Mapping[str, int]
    ) -> None:
        """The steps under `node` respect every ordering pair of its method."""
        method = self.method_of(node)
        if method is None:
            return
        ids = {s.id: c for s, c in zip(method.subtasks, node.children, strict=False)}
        for a, b in method.ordering:
            if a not in ids or b not in ids:
                continue
            first = self.mask(ids[a])
            if first & ~common.get(ids[b], -1):
                later = self.mask(ids[b])
                i = next(i for i in _bits(later) if reach[i] & first != first)
                self.problem(
                    f"node {node.id or '(root)'}: step {self.plan.steps[i].id} (under {b}) "
                    f"does not come after every step under {a}"
                )

    def check_interference(self, reach: list[int]) -> None:
        """Steps that touch one fact, at least one of them writing it, must be
        ordered by `after` edges; otherwise an order of the steps that respects
        the plan could reach other facts than the replay did. A predicate a step
        needs absent (a negation with free variables) counts as read by it and
        written by every step that writes a fact of that predicate."""
        writers: dict[Fact, int] = {}
        readers: dict[Fact, int] = {}
        absent_read = {f for t in self.touched for f, w in t if not w and f and f[0] == ""}
        for j, touched in enumerate(self.touched):
            for fact, writes in dict.fromkeys(touched):
                if fact[0] == "" and fact not in absent_read:
                    continue
                earlier = _conflicting(j, fact, writes, writers, readers)
                if reach[j] & earlier != earlier:
                    self.report_unordered((earlier & ~reach[j]).bit_length() - 1, j, fact)
                seen = writers if writes else readers
                seen[fact] = seen.get(fact, 0) | (1 << j)

    def report_unordered(self, i: int, j: int, fact: Fact) -> None:
        """Report that plan steps `i` and `j` both touch `fact` but are not ordered."""
        what = f"predicate {fact[1]}" if fact[0] == "" else f"fact ({' '.join(fact)})"
        self.problem(
            f"steps {self.plan.steps[i].id} and {self.plan.steps[j].id} both touch "
            f"{what}, one writing it, but the plan does not order them"
        )


def _conflicting(
    j: int, fact: Fact, writes: bool, writers: Mapping[Fact, int], readers: Mapping[Fact, int]
) -> int:
    """The steps before step `j` that touch `fact` in a way step `j`'s access conflicts
    with: its readers when `j` writes it (and its writers, for a real fact), else its writers."""
    earlier = readers.get(fact, 0) if writes else writers.get(fact, 0)
    if writes and fact[0] != "":
        earlier |= writers.get(fact, 0)
    return earlier & ~(1 << j)


def _bits(mask: int) -> Iterator[int]:
    """The positions of the set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _is_template(term: str) -> bool:
    return not is_var(term) and ("{" in term or "}" in term)


def _closure(edges: Mapping[str, Sequence[str]], sid: str) -> set[str]:
    """Everything reachable from `sid` along `edges`."""
    out: set[str] = set()
    frontier = [sid]
    while frontier:
        for nxt in edges.get(frontier.pop(), ()):
            if nxt not in out:
                out.add(nxt)
                frontier.append(nxt)
    return out


def validate(domain: Domain, facts: Iterable[Fact], plan: Plan) -> Verdict:
    """Replay `plan` from `facts` and check its decomposition against `domain`."""
    checker = _Checker(domain, plan, facts)
    checker.replay()
    checker.tree()
    return Verdict(
        ok=not checker.problems,
        problems=tuple(checker.problems),
        steps=len(plan.steps),
        final=checker.states[-1].sorted(),
    )
