"""Read HDDL, the language of the International Planning Competition's HTN track,
into a plain syntax tree: a domain (types, predicates, tasks, methods, actions)
and a problem (objects, initial network, initial facts).

This module only parses and checks shape (the s-expressions come from `sexpr`).
It never plans and never writes files; `hddl_translate` turns the tree into jitos
definitions and `hddl_import` writes them as method files. Every error names
`file:line:col` and, for constructs jitos does not plan with, says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from kernel.errors import BadInput
from kernel.planner.hddl.sexpr import Pos, SExpr, SList, Source, Sym, parse_sexprs

# ---------------------------------------------------------------------------
# the HDDL tree


@dataclass(frozen=True, slots=True)
class Param:
    """A typed variable or object: `?x - block` → Param("?x", "block")."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Literal:
    """A possibly negated atom; `=` is the equality predicate."""

    predicate: str
    args: tuple[str, ...]
    positive: bool = True


@dataclass(frozen=True, slots=True)
class Subtask:
    """One entry of a task network: an id (given or generated) and a task call."""

    id: str
    task: str
    args: tuple[str, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Network:
    """Subtasks, ordering pairs `(before_id, after_id)` and variable constraints
    (`=` literals, possibly negated)."""

    subtasks: tuple[Subtask, ...]
    ordering: tuple[tuple[str, str], ...]
    constraints: tuple[Literal, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskDef:
    name: str
    params: tuple[Param, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class MethodDef:
    name: str
    params: tuple[Param, ...]
    task: str
    task_args: tuple[str, ...]
    precondition: tuple[Literal, ...]
    network: Network
    pos: Pos


@dataclass(frozen=True, slots=True)
class ActionDef:
    name: str
    params: tuple[Param, ...]
    precondition: tuple[Literal, ...]
    effect: tuple[Literal, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    requirements: tuple[str, ...]
    types: tuple[tuple[str, str], ...]  # (type, parent); "object" is the root
    constants: tuple[Param, ...]
    predicates: tuple[TaskDef, ...]
    tasks: tuple[TaskDef, ...]
    methods: tuple[MethodDef, ...]
    actions: tuple[ActionDef, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Problem:
    name: str
    domain: str
    objects: tuple[Param, ...]
    htn_params: tuple[Param, ...]
    htn: Network
    init: tuple[tuple[str, ...], ...]
    goal: tuple[Literal, ...]
    source: str


# ---------------------------------------------------------------------------
# the parser


_UNSUPPORTED_FORMULA = {
    "or": "split the method into one method per disjunct",
    "imply": "rewrite (imply A B) as one method for (not A) and one for B",
    "forall": "list the instances explicitly, or add a predicate that an action maintains",
    "exists": "bind the variable as a method parameter instead (parameters are existential)",
    "when": "conditional effects: split the action into one action per case",
}


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = Source(source)

    # -- helpers

    def sym(self, e: SExpr, what: str) -> str:
        if not isinstance(e, Sym):
            raise self.src.error(e.pos, f"expected {what}, found a list")
        return e.text

    def lst(self, e: SExpr, what: str) -> tuple[SExpr, ...]:
        if not isinstance(e, SList):
            raise self.src.error(e.pos, f"expected {what}, found '{e.text}'")
        return e.items

    def head(self, e: SExpr) -> str:
        if isinstance(e, SList) and e.items and isinstance(e.items[0], Sym):
            return e.items[0].text
        return ""

    def define(self, e: SExpr, kind: str, other: str) -> tuple[tuple[SExpr, ...], str]:
        """The items of a `(define (KIND NAME) …)` form and its NAME."""
        items = self.lst(e, f"(define ({kind} …) …)")
        if self.head(e) != "define" or len(items) < 2 or self.head(items[1]) != kind:
            hint = ""
            if len(items) > 1 and self.head(items[1]) == other:
                hint = f": this file is a {other}; give the domain file first, then the problem"
            raise self.src.error(e.pos, f"expected (define ({kind} NAME) …){hint}")
        name = self.sym(self.lst(items[1], f"({kind} NAME)")[-1], f"a {kind} name")
        return items, name

    def keyword_pairs(self, items: tuple[SExpr, ...], what: str) -> list[tuple[str, SExpr, Pos]]:
        """`:key value :key value …` → [(key, value, pos)]."""
        pairs: list[tuple[str, SExpr, Pos]] = []
        i = 0
        while i < len(items):
            key = items[i]
            if not isinstance(key, Sym) or not key.text.startswith(":"):
                raise self.src.error(key.pos, f"expected a keyword such as :parameters in {what}")
            if i + 1 >= len(items):
                raise self.src.error(key.pos, f"{key.text} in {what} has no value")
            pairs.append((key.text, items[i + 1], key.pos))
            i += 2
        return pairs

    def typed_list(self, items: tuple[SExpr, ...], what: str) -> tuple[Param, ...]:
        """`?a ?b - t ?c` → a:t, b:t, c:object."""
        out: list[Param] = []
        pending: list[str] = []
        i = 0
        while i < len(items):
            e = items[i]
            name = self.sym(e, f"a name in {what}")
            if name == "-":
                if i + 1 >= len(items):
                    raise self.src.error(e.pos, f"'-' without a type in {what}")
                t = items[i + 1]
                if isinstance(t, SList):
                    raise self.src.error(
                        t.pos, "(either …) types are not supported: declare a common supertype"
                    )
                if not pending:
                    raise self.src.error(e.pos, f"'- {t.text}' names no variable in {what}")
                out.extend(Param(p, t.text) for p in pending)
                pending = []
                i += 2
                continue
            pending.append(name)
            i += 1
        out.extend(Param(p, "object") for p in pending)
        return tuple(out)

    def atom(self, e: SExpr, what: str) -> tuple[str, tuple[str, ...]]:
        items = self.lst(e, what)
        if not items:
            raise self.src.error(e.pos, f"empty {what}")
        name = self.sym(items[0], f"a predicate name in {what}")
        return name, tuple(self.sym(a, f"an argument in {what}") for a in items[1:])

    def literals(self, e: SExpr, what: str) -> tuple[Literal, ...]:
        """A conjunction of (possibly negated) atoms; `()` is the empty conjunction."""
        if not isinstance(e, SList):
            raise self.src.error(e.pos, f"expected a {what} formula, found '{e.text}'")
        h = self.head(e)
        if not e.items:
            return ()
        if h == "and":
            return tuple(lit for sub in e.items[1:] for lit in self.literals(sub, what))
        if h == "not":
            if len(e.items) != 2:
                raise self.src.error(e.pos, "(not …) takes exactly one atom")
            inner = e.items[1]
            if self.head(inner) in ("and", "not", *_UNSUPPORTED_FORMULA):
                raise self.src.error(
                    inner.pos, f"(not ({self.head(inner)} …)) is not supported: negate atoms only"
                )
            name, args = self.atom(inner, what)
            return (Literal(name, args, positive=False),)
        if h in _UNSUPPORTED_FORMULA:
            raise self.src.error(
                e.pos, f"({h} …) in the {what} is not supported by jitos: {_UNSUPPORTED_FORMULA[h]}"
            )
        name, args = self.atom(e, what)
        return (Literal(name, args),)

    def network(
        self, subtasks: SExpr | None, ordered: bool, ordering: SExpr | None, what: str
    ) -> Network:
        entries: list[SExpr] = []
        if subtasks is not None:
            items = self.lst(subtasks, f"the subtasks of {what}")
            if self.head(subtasks) == "and":
                entries = list(items[1:])
            elif items:
                entries = [subtasks]
        subs: list[Subtask] = []
        used = set()
        for idx, entry in enumerate(entries):
            items = self.lst(entry, f"a subtask of {what}")
            if len(items) == 2 and isinstance(items[0], Sym) and isinstance(items[1], SList):
                sid = items[0].text
                name, args = self.atom(items[1], f"a subtask of {what}")
            else:
                sid = ""
                name, args = self.atom(entry, f"a subtask of {what}")
            if sid in used:
                raise self.src.error(entry.pos, f"subtask id '{sid}' is used twice in {what}")
            if not sid:
                sid = f"task{idx}"
                while sid in used:
                    sid += "_"
            used.add(sid)
            subs.append(Subtask(sid, name, args, entry.pos))
        pairs: list[tuple[str, str]] = []
        if ordered:
            pairs = [(a.id, b.id) for a, b in pairwise(subs)]
        if ordering is not None:
            pairs.extend(self.ordering(ordering, used, what))
        return Network(tuple(subs), tuple(pairs))

    def ordering(self, e: SExpr, ids: set[str], what: str) -> list[tuple[str, str]]:
        items = self.lst(e, f"the :ordering of {what}")
        if not items:
            return []
        constraints = items[1:] if self.head(e) == "and" else (e,)
        out: list[tuple[str, str]] = []
        for c in constraints:
            parts = self.lst(c, f"an ordering constraint of {what}")
            words = [p.text if isinstance(p, Sym) else "" for p in parts]
            if len(parts) == 3 and words[0] in ("<", ">"):
                op, left, right = words[0], parts[1], parts[2]  # (< t1 t2)
            elif len(parts) == 3 and words[1] in ("<", ">"):
                op, left, right = words[1], parts[0], parts[2]  # (t1 < t2)
            else:
                raise self.src.error(c.pos, "an ordering constraint must read (< before after)")
            a = self.sym(left, "a subtask id")
            b = self.sym(right, "a subtask id")
            for sid, part in ((a, left), (b, right)):
                if sid not in ids:
                    raise self.src.error(part.pos, f"ordering names unknown subtask '{sid}' in {what}")
            out.append((a, b) if op == "<" else (b, a))
        return out

    def task_network(self, pairs: list[tuple[str, SExpr, Pos]], what: str) -> Network:
        subtasks: SExpr | None = None
        ordering: SExpr | None = None
        ordered = False
        constraints: tuple[Literal, ...] = ()
        for key, value, pos in pairs:
            if key in (":subtasks", ":tasks", ":ordered-subtasks", ":ordered-tasks"):
                if subtasks is not None:
                    raise self.src.error(pos, f"{what} has two subtask lists; keep one")
                subtasks, ordered = value, key.startswith(":ordered")
            elif key == ":ordering":
                ordering = value
            elif key == ":constraints":
                constraints = self.literals(value, f"the :constraints of {what}")
                for lit in constraints:
                    if lit.predicate != "=":
                        raise self.src.error(
                            value.pos,
                            f"({lit.predicate} …) in the :constraints of {what} is not "
                            "supported by jitos: constraints may only (in)equate variables; "
                            "move it into the :precondition",
                        )
        network = self.network(subtasks, ordered, ordering, what)
        return Network(network.subtasks, network.ordering, constraints)

    # -- domain

    def domain(self, e: SExpr) -> Domain:
        items, name = self.define(e, "domain", "problem")
        reqs: list[str] = []
        types: list[tuple[str, str]] = []
        constants: list[Param] = []
        preds: list[TaskDef] = []
        tasks: list[TaskDef] = []
        methods: list[MethodDef] = []
        actions: list[ActionDef] = []
        for sec in items[2:]:
            h = self.head(sec)
            body = self.lst(sec, "a domain section")[1:]
            if h == ":requirements":
                reqs.extend(self.sym(r, "a requirement") for r in body)
            elif h == ":types":
                types.extend((p.name, p.type) for p in self.typed_list(body, ":types"))
            elif h == ":constants":
                constants.extend(self.typed_list(body, ":constants"))
            elif h == ":predicates":
                preds.extend(self.predicates(body))
            elif h == ":task":
                tasks.append(self.task(sec))
            elif h == ":method":
                methods.append(self.method(sec))
            elif h in (":action", ":primitive"):
                actions.append(self.action(sec))
            elif h == ":functions":
                raise self.src.error(
                    sec.pos, ":functions (numeric fluents) are not supported by jitos: "
                    "encode quantities as objects and facts"
                )
            else:
                raise self.src.error(sec.pos, f"unknown domain section '{h or '(…)'}'")
        return Domain(
            name, tuple(reqs), tuple(types), tuple(constants), tuple(preds),
            tuple(tasks), tuple(methods), tuple(actions), self.src.name,
        )

    def predicates(self, body: tuple[SExpr, ...]) -> list[TaskDef]:
        """The predicate declarations of a domain's :predicates section."""
        preds: list[TaskDef] = []
        for p in body:
            pitems = self.lst(p, "a predicate declaration")
            pname = self.sym(pitems[0], "a predicate name")
            preds.append(TaskDef(pname, self.typed_list(pitems[1:], pname), p.pos))
        return preds

    def named(self, sec: SExpr, kind: str) -> tuple[str, list[tuple[str, SExpr, Pos]]]:
        items = self.lst(sec, kind)
        if len(items) < 2:
            raise self.src.error(sec.pos, f"({kind} …) needs a name")
        name = self.sym(items[1], f"a {kind[1:]} name")
        return name, self.keyword_pairs(items[2:], f"{kind[1:]} '{name}'")

    def params(self, pairs: list[tuple[str, SExpr, Pos]], what: str) -> tuple[Param, ...]:
        for key, value, _ in pairs:
            if key == ":parameters":
                return self.typed_list(self.lst(value, ":parameters"), what)
        return ()

    def task(self, sec: SExpr) -> TaskDef:
        name, pairs = self.named(sec, ":task")
        for key, value, pos in pairs:
            if key in (":precondition", ":effect") and not (isinstance(value, SList) and not value.items):
                raise self.src.error(
                    pos, f"{key} on compound task '{name}' is not supported by jitos: move it "
                    "into each of its methods (preconditions) or into an action (effects)"
                )
            if key not in (":parameters", ":precondition", ":effect"):
                raise self.src.error(pos, f"unknown key {key} in task '{name}'")
        return TaskDef(name, self.params(pairs, f"task '{name}'"), sec.pos)

    def method(self, sec: SExpr) -> MethodDef:
        name, pairs = self.named(sec, ":method")
        what = f"method '{name}'"
        task: tuple[str, tuple[str, ...]] | None = None
        pre: tuple[Literal, ...] = ()
        for key, value, pos in pairs:
            if key == ":task":
                task = self.atom(value, f"the :task of {what}")
            elif key == ":precondition":
                pre = self.literals(value, f"precondition of {what}")
            elif key not in (
                ":parameters", ":subtasks", ":tasks", ":ordered-subtasks",
                ":ordered-tasks", ":ordering", ":constraints",
            ):
                raise self.src.error(pos, f"unknown key {key} in {what}")
        if task is None:
            raise self.src.error(sec.pos, f"{what} has no :task")
        network = self.task_network(pairs, what)
        return MethodDef(name, self.params(pairs, what), task[0], task[1], pre, network, sec.pos)

    def action(self, sec: SExpr) -> ActionDef:
        name, pairs = self.named(sec, ":action")
        what = f"action '{name}'"
        pre: tuple[Literal, ...] = ()
        eff: tuple[Literal, ...] = ()
        for key, value, pos in pairs:
            if key == ":precondition":
                pre = self.literals(value, f"precondition of {what}")
            elif key == ":effect":
                eff = self.literals(value, f"effect of {what}")
                for lit in eff:
                    if lit.predicate == "=":
                        raise self.src.error(value.pos, f"{what} cannot have an equality effect")
            elif key != ":parameters":
                raise self.src.error(pos, f"unknown key {key} in {what}")
        return ActionDef(name, self.params(pairs, what), pre, eff, sec.pos)

    # -- problem

    def problem(self, e: SExpr) -> Problem:
        items, name = self.define(e, "problem", "domain")
        domain = ""
        objects: list[Param] = []
        htn_params: tuple[Param, ...] = ()
        htn = Network((), ())
        init: list[tuple[str, ...]] = []
        goal: tuple[Literal, ...] = ()
        for sec in items[2:]:
            h = self.head(sec)
            body = self.lst(sec, "a problem section")[1:]
            if h == ":domain":
                domain = self.sym(body[0], "a domain name") if body else ""
            elif h == ":requirements":
                continue
            elif h == ":objects":
                objects.extend(self.typed_list(body, ":objects"))
            elif h == ":htn":
                pairs = self.keyword_pairs(body, ":htn")
                htn_params = self.params(pairs, ":htn")
                htn = self.task_network(pairs, "the problem's :htn")
            elif h == ":init":
                init.extend(self.init_facts(body))
            elif h == ":goal":
                goal = self.literals(body[0], ":goal") if body else ()
            elif h in (":constraints", ":metric"):
                raise self.src.error(
                    sec.pos, f"({h} …) in a problem is not supported by jitos: remove it"
                )
            else:
                raise self.src.error(sec.pos, f"unknown problem section '{h or '(…)'}'")
        return Problem(
            name, domain, tuple(objects), htn_params, htn, tuple(init), goal, self.src.name
        )

    def init_facts(self, body: tuple[SExpr, ...]) -> list[tuple[str, ...]]:
        """The ground facts of a problem's :init section, in file order."""
        init: list[tuple[str, ...]] = []
        for fact in body:
            if self.head(fact) == "=":
                raise self.src.error(
                    fact.pos, "numeric (= …) facts are not supported by jitos: "
                    "encode quantities as objects and facts"
                )
            pred, args = self.atom(fact, "an :init fact")
            if any(a.startswith("?") for a in args):
                raise self.src.error(fact.pos, ":init facts must be ground")
            init.append((pred, *args))
        return init


def _single(text: str, source: str) -> SExpr:
    exprs = parse_sexprs(text, source)
    if len(exprs) != 1:
        pos = exprs[1].pos if exprs else Pos(1, 1)
        raise Source(source).error(pos, "expected exactly one (define …) form in the file")
    return exprs[0]


def parse_domain(text: str, source: str = "<domain>") -> Domain:
    """Parse an HDDL domain file's text."""
    return _Parser(source).domain(_single(text, source))


def parse_problem(text: str, source: str = "<problem>") -> Problem:
    """Parse an HDDL problem file's text."""
    return _Parser(source).problem(_single(text, source))


def read_text(path: Path) -> str:
    """Read an HDDL file, turning a missing or unreadable file into a BadInput."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise BadInput(f"{path}: no such file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: cannot read: {err}") from err
