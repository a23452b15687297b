"""Translate an HDDL domain (and optionally a problem) into jitos planner
definitions: compound tasks, primitives, methods, the problem's initial facts
and the task to plan for.

* HDDL actions become primitives run by no worker (`worker = "none"`): they only
  change planner facts. Negative effects become deletes.
* Types become facts: an object `b1 - block` where `block - object` gives the
  facts `(block b1)` and `(object b1)`. A typed variable gets a precondition
  `(type ?var)` unless every caller is already known to pass that type (the
  check would be wasted work); variables bound by nothing else are enumerated
  through it, which is how HDDL's existential method parameters behave.
* The problem's `:htn` becomes one compound task `solve-<problem>` with one
  method whose subtasks and ordering are the network; a `:goal` becomes a final
  bookkeeping primitive `goal-<problem>` whose precondition is the goal, so a
  plan is only found if it also reaches the goal.

This module never reads or writes files, plans or prints; `hddl_import` writes
the result as method files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kernel.errors import BadInput
from kernel.planner.check import build_domain
from kernel.planner.hddl import parse as hddl
from kernel.planner.model import (
    Domain,
    Execution,
    Fact,
    Literal,
    Method,
    Operator,
    Origin,
    Subtask,
    TaskCall,
    TaskDef,
)

ROOT_TYPE = "object"


@dataclass(frozen=True, slots=True)
class Imported:
    """The translated definitions. `facts`, `root` and `goal` are empty/None
    when no problem was given."""

    domain: str
    problem: str
    tasks: tuple[TaskDef, ...]
    operators: tuple[Operator, ...]
    methods: tuple[Method, ...]
    facts: tuple[Fact, ...]
    root: TaskCall | None
    goal: tuple[Literal, ...]
    notes: tuple[str, ...] = ()


class _Types:
    """The type hierarchy: each type's ancestors, itself and `object` included."""

    def __init__(self, d: hddl.Domain) -> None:
        self.parent: dict[str, str] = {}
        for t, p in d.types:
            if t == ROOT_TYPE:
                continue
            if self.parent.get(t, p) != p:
                raise BadInput(f"{d.source}: type {t} is declared with two parents; keep one")
            self.parent[t] = p
        self.source = d.source

    def known(self, t: str) -> bool:
        return t == ROOT_TYPE or t in self.parent or t in self.parent.values()

    def ancestors(self, t: str) -> tuple[str, ...]:
        out = [t]
        while out[-1] != ROOT_TYPE:
            nxt = self.parent.get(out[-1], ROOT_TYPE)
            if nxt in out:
                raise BadInput(f"{self.source}: type {t} is its own ancestor; fix :types")
            out.append(nxt)
        return tuple(out)

    def subtype(self, t: str, of: str) -> bool:
        return of in self.ancestors(t)

    def check(self, t: str, where: str) -> None:
        if not self.known(t):
            raise BadInput(f"{where}: unknown type '{t}'; declare it under :types")


def _lit(lit: hddl.Literal) -> Literal:
    return Literal(lit.predicate, lit.args, negated=not lit.positive)


def _origin(source: str, kind: str, name: str) -> Origin:
    return Origin(source, "file", f"{kind}.{name}")


class _Translator:
    def __init__(self, d: hddl.Domain, p: hddl.Problem | None) -> None:
        self.d, self.p = d, p
        self.types = _Types(d)
        self.task_params: dict[str, tuple[hddl.Param, ...]] = {t.name: t.params for t in d.tasks}
        self.action_params: dict[str, tuple[hddl.Param, ...]] = {a.name: a.params for a in d.actions}
        self.const_type: dict[str, str] = {c.name: c.type for c in d.constants}
        if p is not None:
            self.const_type.update({o.name: o.type for o in p.objects})
        predicates = {pr.name: len(pr.params) for pr in d.predicates}
        self.pred_types = {pr.name: tuple(prm.type for prm in pr.params) for pr in d.predicates}
        for t in {*self.types.parent, *self.types.parent.values(), ROOT_TYPE}:
            if predicates.get(t, 1) != 1:
                raise BadInput(
                    f"{d.source}: type '{t}' and predicate '{t}' (of {predicates[t]} arguments) "
                    "share a name, and jitos writes types as facts; rename one"
                )
        for params in (*self.task_params.values(), *self.action_params.values()):
            for prm in params:
                self.types.check(prm.type, d.source)
        self.guaranteed = self._guaranteed_params()

    # -- which parameters every caller already passes with the right type

    def _call_sites(self) -> Iterable[tuple[str, tuple[str, ...]]]:
        """(callee, static argument types) for every subtask in the domain's methods."""
        for m in self.d.methods:
            var_type = {prm.name: prm.type for prm in m.params}
            for sub in m.network.subtasks:
                yield sub.task, tuple(self._term_type(a, var_type) for a in sub.args)

    def _term_type(self, term: str, var_type: Mapping[str, str]) -> str:
        if term.startswith("?"):
            return var_type.get(term, ROOT_TYPE)
        return self.const_type.get(term, ROOT_TYPE)

    def _guaranteed_params(self) -> set[tuple[str, int]]:
        declared = {**self.task_params, **self.action_params}
        ok = {(name, i) for name, params in declared.items() for i in range(len(params))}
        for callee, arg_types in self._call_sites():
            params = declared.get(callee, ())
            for i, prm in enumerate(params):
                if i < len(arg_types) and not self.types.subtype(arg_types[i], prm.type):
                    ok.discard((callee, i))
        return ok

    # -- definitions

    def type_checks(
        self, params: tuple[hddl.Param, ...], skip: set[str], bound: set[str], where: str
    ) -> tuple[Literal, ...]:
        out: list[Literal] = []
        for prm in params:
            self.types.check(prm.type, where)
            if prm.name in skip:
                continue
            if prm.name in bound:
                continue
            out.append(Literal(prm.type, (prm.name,)))
        return tuple(out)

    def typed_by_predicates(
        self, pre: tuple[hddl.Literal, ...], var_type: Mapping[str, str]
    ) -> set[str]:
        """Variables that a positive precondition binds to a fact whose predicate
        declares that argument with the variable's type or a subtype of it."""
        out: set[str] = set()
        for lit in pre:
            if not lit.positive or lit.predicate == "=":
                continue
            declared = self.pred_types.get(lit.predicate, ())
            for i, arg in enumerate(lit.args):
                t = declared[i] if i < len(declared) else ROOT_TYPE
                if arg in var_type and self.types.subtype(t, var_type[arg]):
                    out.add(arg)
        return out

    def task(self, t: hddl.TaskDef) -> TaskDef:
        return TaskDef(
            t.name, tuple(prm.name for prm in t.params), origin=_origin(self.d.source, "task", t.name)
        )

    def operator(self, a: hddl.ActionDef) -> Operator:
        where = f"{self.d.source}: action '{a.name}'"
        skip = {prm.name for i, prm in enumerate(a.params) if (a.name, i) in self.guaranteed}
        pre = tuple(_lit(x) for x in a.precondition)
        return Operator(
            name=a.name,
            params=tuple(prm.name for prm in a.params),
            pre=pre + self.type_checks(a.params, skip, set(), where),
            add=tuple(_lit(x) for x in a.effect if x.positive),
            delete=tuple(Literal(x.predicate, x.args) for x in a.effect if not x.positive),
            execution=Execution(worker="none"),
            origin=_origin(self.d.source, "primitive", a.name),
        )

    def method(self, m: hddl.MethodDef) -> Method:
        where = f"{self.d.source}:{m.pos.line}:{m.pos.col}: method '{m.name}'"
        declared = self.method_task(m, where)
        var_type = {prm.name: prm.type for prm in m.params}
        skip = self.typed_by_task(m, declared, var_type, where)
        used = self.used_terms(m, var_type, where)
        bound = self.typed_by_predicates(m.precondition, var_type)
        # A parameter used nowhere would only repeat the same decomposition once
        # per object of its type; leave it out.
        unused = set(var_type) - used - set(m.task_args)
        pre = tuple(_lit(x) for x in (*m.precondition, *m.network.constraints))
        checks = self.type_checks(m.params, skip | unused, bound, where)
        return Method(
            name=m.name,
            task=m.task,
            args=m.task_args,
            pre=pre + checks,
            subtasks=tuple(Subtask(s.id, s.task, s.args) for s in m.network.subtasks),
            ordering=m.network.ordering,
            origin=_origin(self.d.source, "method", m.name),
        )

    def method_task(self, m: hddl.MethodDef, where: str) -> tuple[hddl.Param, ...]:
        """The declared parameters of the task a method decomposes, checked against its call."""
        declared = self.task_params.get(m.task)
        if declared is None:
            raise BadInput(f"{where}: its :task '{m.task}' is not declared with (:task …)")
        if len(declared) != len(m.task_args):
            raise BadInput(f"{where}: task '{m.task}' takes {len(declared)} argument(s)")
        return declared

    def typed_by_task(
        self,
        m: hddl.MethodDef,
        declared: tuple[hddl.Param, ...],
        var_type: Mapping[str, str],
        where: str,
    ) -> set[str]:
        """Method parameters whose type every caller of the method's task already guarantees."""
        skip: set[str] = set()
        for i, arg in enumerate(m.task_args):
            if arg.startswith("?") and arg not in var_type:
                raise BadInput(f"{where}: {arg} is not among its :parameters")
            if (
                arg in var_type
                and (m.task, i) in self.guaranteed
                and self.types.subtype(declared[i].type, var_type[arg])
            ):
                skip.add(arg)
        return skip

    def used_terms(self, m: hddl.MethodDef, var_type: Mapping[str, str], where: str) -> set[str]:
        """Terms a method's subtasks, precondition and constraints use, all variables declared."""
        used = {a for sub in m.network.subtasks for a in sub.args} | {
            a for lit in (*m.precondition, *m.network.constraints) for a in lit.args
        }
        for term in used:
            if term.startswith("?") and term not in var_type:
                raise BadInput(f"{where}: {term} is not among its :parameters")
        return used

    # -- problem

    def facts(self, p: hddl.Problem) -> tuple[Fact, ...]:
        out: set[Fact] = set(p.init)
        for name, t in self.const_type.items():
            self.types.check(t, f"{p.source}: object '{name}'")
            out.update((a, name) for a in self.types.ancestors(t))
        return tuple(sorted(out))

    def root(self, p: hddl.Problem) -> tuple[TaskDef, Method, Operator | None]:
        name = f"solve-{p.name}"
        where = f"{p.source}: the problem's :htn"
        goal_name = f"goal-{p.name}"
        self.check_root_names((name, goal_name), where)
        checks = self.htn_object_checks(p)
        checks.extend(self.type_checks(p.htn_params, set(), set(), where))
        checks.extend(_lit(x) for x in p.htn.constraints)
        subtasks = [Subtask(s.id, s.task, s.args) for s in p.htn.subtasks]
        ordering = list(p.htn.ordering)
        goal_op: Operator | None = None
        if p.goal:
            goal_op = self.goal_operator(p, goal_name)
            subtasks, ordering = self.with_goal_step(subtasks, ordering, goal_name)
        task = TaskDef(name, (), doc=f"the task network of problem {p.name}",
                       origin=_origin(p.source, "task", name))
        method = Method(
            name=name,
            task=name,
            args=(),
            pre=tuple(dict.fromkeys(checks)),
            subtasks=tuple(subtasks),
            ordering=tuple(ordering),
            origin=_origin(p.source, "method", name),
        )
        return task, method, goal_op

    def check_root_names(self, names: tuple[str, ...], where: str) -> None:
        """Refuse a problem whose generated task names the domain already uses."""
        taken = {t.name for t in self.d.tasks} | {a.name for a in self.d.actions}
        for n in names:
            if n in taken:
                raise BadInput(f"{where}: jitos names the problem's task '{n}', which the "
                               "domain already uses; rename the problem")

    def htn_object_checks(self, p: hddl.Problem) -> list[Literal]:
        """Type facts for the objects the problem's :htn passes to typed task parameters."""
        checks: list[Literal] = []
        for sub in p.htn.subtasks:
            params = self.task_params.get(sub.task, self.action_params.get(sub.task))
            if params is None:
                raise BadInput(f"{p.source}:{sub.pos.line}:{sub.pos.col}: unknown task '{sub.task}'")
            for prm, arg in zip(params, sub.args, strict=False):
                if not arg.startswith("?") and prm.type != ROOT_TYPE:
                    checks.append(Literal(prm.type, (arg,)))
        return checks

    def goal_operator(self, p: hddl.Problem, goal_name: str) -> Operator:
        """The bookkeeping primitive whose precondition is the problem's :goal."""
        return Operator(
            name=goal_name,
            params=(),
            pre=tuple(_lit(x) for x in p.goal),
            execution=Execution(worker="none"),
            doc=f"the goal of problem {p.name}",
            origin=_origin(p.source, "primitive", goal_name),
        )

    def with_goal_step(
        self, subtasks: list[Subtask], ordering: list[tuple[str, str]], goal_name: str
    ) -> tuple[list[Subtask], list[tuple[str, str]]]:
        """The network with the goal primitive last, after every step that has no successor."""
        gid = "goal"
        while any(s.id == gid for s in subtasks):
            gid += "_"
        has_successor = {a for a, _ in ordering}
        after = [(s.id, gid) for s in subtasks if s.id not in has_successor]
        return [*subtasks, Subtask(gid, goal_name, ())], [*ordering, *after]


def translate(domain: hddl.Domain, problem: hddl.Problem | None = None) -> Imported:
    """Translate an HDDL domain (and problem) into jitos definitions."""
    notes: list[str] = []
    if problem is not None and problem.domain and problem.domain != domain.name:
        # IPC files disagree on this more often than not (problems for BLOCKS say
        # "blocksworld"); a problem for another domain fails on its tasks or types.
        notes.append(
            f"{problem.source} names domain '{problem.domain}', {domain.source} defines "
            f"'{domain.name}'; imported anyway"
        )
    tr = _Translator(domain, problem)
    tasks = [tr.task(t) for t in domain.tasks]
    operators = [tr.operator(a) for a in domain.actions]
    methods = [tr.method(m) for m in domain.methods]
    facts: tuple[Fact, ...] = ()
    root: TaskCall | None = None
    goal: tuple[Literal, ...] = ()
    if problem is not None:
        task, method, goal_op = tr.root(problem)
        tasks.append(task)
        methods.append(method)
        if goal_op is not None:
            operators.append(goal_op)
            goal = goal_op.pre
        facts = tr.facts(problem)
        root = TaskCall(task.name, ())
    return Imported(
        domain=domain.name,
        problem=problem.name if problem else "",
        tasks=tuple(tasks),
        operators=tuple(operators),
        methods=tuple(methods),
        facts=facts,
        root=root,
        goal=goal,
        notes=tuple(notes),
    )


def build(imported: Imported) -> Domain:
    """A checked jitos domain from the translated definitions."""
    return build_domain(imported.tasks, imported.operators, imported.methods)
