"""Build a `Domain` from definitions and check it: every error names where the
definition came from (file and table), the offending name and what to do.

Checks: one namespace for tasks and primitives; every method's task exists and
is compound; arities of tasks, primitives and predicates agree everywhere;
subtask ids are unique and well formed; orderings name known subtasks and have
no cycle; effects use only bound variables; worker data is valid; intents point
at real tasks with the right number of arguments, and their patterns compile and
match in bounded time (`patterns.py`).

This module never searches and never reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from kernel.errors import BadInput
from kernel.planner.model import (
    EXPECT_VALUES,
    WORKER_KINDS,
    Domain,
    Execution,
    Intent,
    Literal,
    Method,
    Operator,
    Origin,
    Subtask,
    TaskDef,
)
from kernel.planner.patterns import pattern_problem
from kernel.planner.templates import placeholders

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*\Z")
VAR_RE = re.compile(r"^\?[A-Za-z_][A-Za-z0-9_\-]*\Z")


def _where(origin: Origin | None, kind: str, name: str) -> str:
    return str(origin) if origin else f"{kind} {name!r}"


def _shown(pattern: str, limit: int = 80) -> str:
    """A pattern quoted for a one-line message, cut short when long."""
    return repr(pattern) if len(pattern) <= limit else f"{pattern[:limit]!r}…"


def build_domain(
    tasks: Iterable[TaskDef],
    operators: Iterable[Operator],
    methods: Iterable[Method],
    intents: Iterable[Intent] = (),
    shadowed: Sequence[Origin] = (),
) -> Domain:
    """Check the definitions and return the domain. Methods keep their given
    (declaration) order within equal preference; higher preference first."""
    task_map: dict[str, TaskDef] = {}
    op_map: dict[str, Operator] = {}
    for task in tasks:
        _check_name(task.name, task.origin, "task")
        if task.name in task_map:
            raise BadInput(f"{_where(task.origin, 'task', task.name)} is defined twice; rename one")
        _check_params(task.params, task.origin, "task", task.name)
        task_map[task.name] = task
    for op in operators:
        _check_name(op.name, op.origin, "primitive")
        if op.name in op_map:
            raise BadInput(f"{_where(op.origin, 'primitive', op.name)} is defined twice; rename one")
        if op.name in task_map:
            raise BadInput(
                f"{_where(op.origin, 'primitive', op.name)} has the name of a compound task "
                f"({task_map[op.name].origin or 'elsewhere'}); rename one"
            )
        _check_params(op.params, op.origin, "primitive", op.name)
        _check_operator(op)
        op_map[op.name] = op
    preds: dict[str, tuple[int, str]] = {}
    for op in op_map.values():
        for lit in (*op.pre, *op.add, *op.delete):
            _check_predicate(lit, preds, _where(op.origin, "primitive", op.name))
    by_task: dict[str, list[Method]] = {}
    seen: dict[str, Method] = {}
    method_list = list(methods)
    for method in method_list:
        where = _where(method.origin, "method", method.name)
        _check_name(method.name, method.origin, "method")
        if method.name in seen:
            raise BadInput(f"{where} is defined twice; rename one")
        seen[method.name] = method
        _check_method(method, task_map, op_map, where)
        for lit in method.pre:
            _check_predicate(lit, preds, where)
        by_task.setdefault(method.task, []).append(method)
    ordered = {
        name: tuple(sorted(ms, key=lambda m: -m.preference)) for name, ms in sorted(by_task.items())
    }
    intent_list = list(intents)
    names: set[str] = set()
    for intent in intent_list:
        _check_intent(intent, task_map, op_map, names)
    indexed = sorted(enumerate(intent_list), key=lambda p: (-p[1].preference, p[0]))
    return Domain(
        tasks=task_map,
        operators=op_map,
        methods=ordered,
        intents=tuple(i for _, i in indexed),
        shadowed=tuple(shadowed),
    )


def _check_name(name: str, origin: Origin | None, kind: str) -> None:
    if not NAME_RE.match(name):
        raise BadInput(
            f"{_where(origin, kind, name)}: names use letters, digits, '_' and '-' "
            "and start with a letter"
        )


def _check_params(params: Sequence[str], origin: Origin | None, kind: str, name: str) -> None:
    for p in params:
        if not VAR_RE.match(p):
            raise BadInput(
                f"{_where(origin, kind, name)}: parameter {p!r} must be a variable like '?name'"
            )
    dup = {p for p in params if list(params).count(p) > 1}
    if dup:
        raise BadInput(
            f"{_where(origin, kind, name)}: parameter {min(dup)} is repeated; rename one"
        )


def _check_predicate(lit: Literal, preds: dict[str, tuple[int, str]], where: str) -> None:
    if lit.predicate == "=":
        if len(lit.args) != 2:
            raise BadInput(f"{where}: '=' compares exactly two terms, got {lit}; write '?a = ?b'")
        return
    if not NAME_RE.match(lit.predicate):
        raise BadInput(
            f"{where}: {lit.predicate!r} is not a valid predicate name in '{lit}'; "
            "use letters, digits, '_' and '-'"
        )
    known = preds.setdefault(lit.predicate, (len(lit.args), where))
    if known[0] != len(lit.args):
        raise BadInput(
            f"{where}: predicate {lit.predicate!r} takes {known[0]} argument(s) "
            f"(as used in {known[1]}) but '{lit}' gives {len(lit.args)}; use one arity everywhere"
        )


def _bound_by(params: Sequence[str], pre: Sequence[Literal]) -> set[str]:
    bound = set(params)
    for lit in pre:
        if not lit.negated and lit.predicate != "=":
            bound.update(lit.variables())
    changed = True
    while changed:
        changed = False
        for lit in pre:
            if lit.predicate == "=" and not lit.negated:
                a, b = lit.args
                if (a in bound) != (b in bound):
                    bound.update(v for v in (a, b) if v.startswith("?"))
                    changed = True
    return bound


def _check_operator(op: Operator) -> None:
    where = _where(op.origin, "primitive", op.name)
    bound = _bound_by(op.params, op.pre)
    for lit in (*op.add, *op.delete):
        if lit.negated or lit.predicate == "=":
            raise BadInput(f"{where}: effect '{lit}' must be a plain fact (use 'del' to remove)")
        for var in lit.variables():
            if var not in bound:
                raise BadInput(
                    f"{where}: effect '{lit}' uses unbound variable {var}; "
                    "make it a parameter or bind it in 'pre'"
                )
    _check_execution(op.execution, where, {p[1:] for p in bound})


def _check_execution(ex: Execution, where: str, names: set[str]) -> None:
    """Worker data is valid and templates refer to bound parameters (`names`,
    without their `?`) or config keys."""
    if ex.worker not in WORKER_KINDS:
        raise BadInput(f"{where}: worker {ex.worker!r} is not one of {', '.join(WORKER_KINDS)}")
    if ex.expect not in EXPECT_VALUES:
        raise BadInput(f"{where}: expect must be \"pass\" or \"fail\", not {ex.expect!r}")
    if ex.retries < 0:
        raise BadInput(f"{where}: retries must be 0 or more, not {ex.retries}")
    if ex.worker in ("shell", "agent") and not ex.argv:
        raise BadInput(f"{where}: a {ex.worker} worker needs an 'argv' template")
    _check_no_shell_injection(ex.argv, where)
    for template in (*ex.argv, ex.prompt, *ex.artifacts):
        for ref in placeholders(template, where):
            if not ref.startswith("config.") and ref not in names:
                raise BadInput(
                    f"{where}: template '{template}' refers to {{{ref}}}, which is neither a "
                    "parameter nor a config key ({config.section.key})"
                )


CODE_RUNNERS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "pwsh", "python", "python3", "perl",
                          "ruby", "node"})
CODE_FLAGS = frozenset({"-c", "-e", "-lc", "-ec", "--command", "--eval"})


def _check_no_shell_injection(argv: tuple[str, ...], where: str) -> None:
    """Values can come from intent text, so they must never be read as code: when
    an argv runs a shell or interpreter on inline code (`sh -c …`, `python -c …`),
    a parameter may be neither the code nor part of any item; pass it as a whole
    argument after the code instead (`["sh", "-c", "echo \"$1\"", "sh", "{x}"]`)."""
    runner = next((i for i, item in enumerate(argv) if item.rsplit("/", 1)[-1] in CODE_RUNNERS), None)
    if runner is None:
        return
    flag = next((i for i in range(runner + 1, len(argv)) if argv[i] in CODE_FLAGS), None)
    if flag is None:
        return
    for index, item in enumerate(argv):
        params = [r for r in placeholders(item, where) if not r.startswith("config.")]
        if params and (index == flag + 1 or item != f"{{{params[0]}}}"):
            raise BadInput(
                f"{where}: argv item '{item}' puts {{{params[0]}}} into code run by "
                f"{argv[runner]} {argv[flag]}; pass it as its own argument after the code, e.g. "
                f"[\"sh\", \"-c\", \"echo \\\"$1\\\"\", \"sh\", \"{{{params[0]}}}\"]"
            )


def _check_method(
    method: Method, tasks: dict[str, TaskDef], ops: dict[str, Operator], where: str
) -> None:
    if method.task not in tasks:
        hint = " (it is a primitive; methods decompose compound tasks)" if method.task in ops else ""
        raise BadInput(f"{where}: unknown task {method.task!r}{hint}; declare [task.{method.task}]")
    arity = len(tasks[method.task].params)
    if len(method.args) != arity:
        raise BadInput(
            f"{where}: task {method.task!r} takes {arity} argument(s), the method head gives "
            f"{len(method.args)}"
        )
    ids: set[str] = set()
    for sub in method.subtasks:
        _check_subtask(sub, method, ids, tasks, ops, where)
        ids.add(sub.id)
    _check_ordering(method.ordering, ids, where)


def _check_subtask(
    sub: Subtask, method: Method, ids: set[str], tasks: dict[str, TaskDef],
    ops: dict[str, Operator], where: str,
) -> None:
    """A subtask's id is a fresh name (`ids`: those before it), its task exists
    and takes its arguments, and its templates refer to variables the method
    binds."""
    if not NAME_RE.match(sub.id):
        raise BadInput(f"{where}: subtask id {sub.id!r} must be a name (letters, digits, _ -)")
    if sub.id in ids:
        raise BadInput(f"{where}: subtask id {sub.id!r} is used twice; give each an 'id'")
    want = _arity(sub.task, tasks, ops)
    if want is None:
        raise BadInput(
            f"{where}: subtask {sub.id!r} names unknown task {sub.task!r}; declare "
            f"[task.{sub.task}] or [primitive.{sub.task}], or fix the name"
        )
    bound = _bound_by(method.args, method.pre)
    for arg in sub.args:
        if arg.startswith("?"):
            continue
        for ref in placeholders(arg, f"{where}: subtask {sub.id!r}"):
            if f"?{ref}" not in bound:
                raise BadInput(
                    f"{where}: subtask {sub.id!r} argument '{arg}' refers to {{{ref}}}, "
                    f"but ?{ref} is not a parameter or bound by 'pre'"
                )
    if len(sub.args) != want:
        raise BadInput(
            f"{where}: subtask {sub.id!r} calls {sub.task!r} with {len(sub.args)} "
            f"argument(s); it takes {want}"
        )


def _check_ordering(ordering: Sequence[tuple[str, str]], ids: set[str], where: str) -> None:
    """Orderings name subtask `ids` and have no cycle."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for before, after in ordering:
        for ref in (before, after):
            if ref not in ids:
                raise BadInput(
                    f"{where}: ordering names unknown subtask id {ref!r}; use the ids in 'subtasks'"
                )
        succ[before].append(after)
    cycle = _find_cycle(succ)
    if cycle:
        raise BadInput(f"{where}: ordering has a cycle: {' < '.join(cycle)}; drop one constraint")


def _find_cycle(succ: dict[str, list[str]]) -> list[str]:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for nxt in succ[node]:
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        colour[node] = 2
        stack.pop()
        return []

    for node in sorted(succ):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return []


def _arity(name: str, tasks: dict[str, TaskDef], ops: dict[str, Operator]) -> int | None:
    """How many arguments task or primitive `name` takes (None if neither exists)."""
    if name in tasks:
        return len(tasks[name].params)
    if name in ops:
        return len(ops[name].params)
    return None


def _check_intent(
    intent: Intent, tasks: dict[str, TaskDef], ops: dict[str, Operator], names: set[str]
) -> None:
    where = _where(intent.origin, "intent", intent.name)
    if intent.name in names:
        raise BadInput(f"{where} is defined twice; rename one")
    names.add(intent.name)
    arity = _arity(intent.task, tasks, ops)
    if arity is None:
        raise BadInput(f"{where}: unknown task {intent.task!r}; see `jitos methods list`")
    if len(intent.args) != arity:
        raise BadInput(
            f"{where}: task {intent.task!r} takes {arity} argument(s), 'args' gives "
            f"{len(intent.args)}"
        )
    if not intent.patterns and not intent.keywords:
        raise BadInput(f"{where}: give 'patterns' or 'keywords' to match intent text")
    groups: set[str] = {"text"}
    for pattern in intent.patterns:
        try:
            problem = pattern_problem(pattern)
        except re.error as err:
            raise BadInput(f"{where}: pattern {_shown(pattern)} is not a valid regex: {err}") from None
        if problem:
            raise BadInput(f"{where}: pattern {_shown(pattern)} {problem}")
        groups.update(re.compile(pattern).groupindex)
    for template in intent.args:
        for ref in placeholders(template, where):
            if ref not in groups:
                raise BadInput(
                    f"{where}: args template '{template}' refers to {{{ref}}}, which no pattern "
                    "captures; use a named group (?P<name>…) or {text}"
                )
