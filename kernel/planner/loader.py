"""Method files (TOML) → a checked `Domain`.

A library is a stack of layers, each a list of files read in sorted path order:
the shipped `methods/`, then a repository's `.jitos/methods/`, then any extra
files given on the command line. Inside a layer a name may be defined once; a
later layer's definition of a name replaces the earlier one in place (it
*shadows* it), so a repository can override any shipped task, primitive,
method or intent.

Errors: TOML syntax as `file:line:col: message`; everything else names the file,
the table and the offending key or name. The format is documented in
`docs/methods.md`. This module reads files and never writes, searches or prints.
"""

from __future__ import annotations

import dataclasses
import itertools
import shlex
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.base.config import toml_error_location
from kernel.errors import BadInput, NotFound
from kernel.planner.check import build_domain
from kernel.planner.model import (
    Domain,
    Execution,
    Fact,
    Intent,
    Literal,
    Method,
    Operator,
    Origin,
    Subtask,
    TaskDef,
    is_var,
)

_SECTIONS = ("task", "primitive", "method", "intent")
_KEYS = {
    "task": {"params", "doc"},
    "primitive": {
        "params", "pre", "add", "del", "doc", "worker", "argv", "prompt", "capabilities",
        "artifacts", "retries", "idempotent", "expect",
    },
    "method": {"task", "pre", "subtasks", "order", "ordered", "preference", "doc"},
    "intent": {"task", "patterns", "keywords", "args", "preference"},
}
_SUBTASK_KEYS = {"id", "task"}


@dataclass(frozen=True, slots=True)
class Layer:
    """A named group of method files: `shipped`, `repo` or `file`; `root` is the
    folder display paths are made relative to."""

    name: str
    files: tuple[Path, ...]
    root: Path | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One definition in the library: kind, name, origin, and the origin of the
    definition it shadows (if any)."""

    kind: str
    name: str
    origin: Origin
    shadows: Origin | None = None


@dataclass(frozen=True, slots=True)
class Library:
    domain: Domain
    entries: tuple[Entry, ...]


def read_toml(path: Path, shown: str | None = None) -> dict[str, Any]:
    """Parse a TOML file; syntax errors become `file:line:col: message`."""
    name = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{name}: cannot read: {err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise BadInput(toml_error_location(Path(name), text, err)) from None


def method_files(folder: Path) -> tuple[Path, ...]:
    """The `*.toml` files of a folder, in sorted order (none if it does not exist)."""
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file()))


def expand_paths(paths: Iterable[Path]) -> tuple[Path, ...]:
    """Files as given; folders replaced by their `*.toml` files."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(method_files(path))
        elif path.exists():
            out.append(path)
        else:
            raise NotFound(f"{path}: no such file or folder")
    return tuple(out)


def load_library(layers: Sequence[Layer]) -> Library:
    """Read every layer, apply shadowing, check, and return the library."""
    chosen, entries, hidden = _stack(layers)
    parsed = _definitions(chosen)
    domain = build_domain(
        tasks=[p for p in parsed if isinstance(p, TaskDef)],
        operators=[p for p in parsed if isinstance(p, Operator)],
        methods=[p for p in parsed if isinstance(p, Method)],
        intents=[p for p in parsed if isinstance(p, Intent)],
        shadowed=hidden,
    )
    return Library(domain=domain, entries=tuple(entries[(k, n)] for k, n, _, _ in chosen))


#: A definition as read: kind, name, its TOML table and where it comes from.
_Raw = tuple[str, str, Any, Origin]


def _definitions(chosen: Sequence[_Raw]) -> list[Any]:
    """The parsed definitions; a method without head arguments gets its task's
    parameters."""
    parsed = [_parse(kind, name, value, origin) for kind, name, value, origin in chosen]
    params = {p.name: p.params for p in parsed if isinstance(p, TaskDef)}
    return [
        dataclasses.replace(p, args=params[p.task])
        if isinstance(p, Method) and not p.args and params.get(p.task)
        else p
        for p in parsed
    ]


def _stack(
    layers: Sequence[Layer],
) -> tuple[list[_Raw], dict[tuple[str, str], Entry], list[Origin]]:
    """The definitions the layers give, in first-definition order, a later
    layer's replacing an earlier one's in place; the library entry of each
    (kind, name); and the origins of the shadowed definitions."""
    order: dict[tuple[str, str], int] = {}
    chosen: list[_Raw] = []
    entries: dict[tuple[str, str], Entry] = {}
    hidden: list[Origin] = []
    for layer in layers:
        in_layer: dict[tuple[str, str], Origin] = {}
        for path in layer.files:
            for kind, name, value, origin in _read_file(path, _display(path, layer.root), layer.name):
                key = (kind, name)
                if key in in_layer:
                    raise BadInput(
                        f"{origin}: {kind} {name!r} is already defined in {in_layer[key]}; "
                        "rename one"
                    )
                in_layer[key] = origin
                if key in order:
                    old = entries[key].origin
                    hidden.append(old)
                    chosen[order[key]] = (kind, name, value, origin)
                    entries[key] = Entry(kind, name, origin, shadows=old)
                else:
                    order[key] = len(chosen)
                    chosen.append((kind, name, value, origin))
                    entries[key] = Entry(kind, name, origin)
    return chosen, entries, hidden


def load_domain(paths: Iterable[Path]) -> Domain:
    """A domain from method files alone (one layer, no shipped methods)."""
    return load_library([Layer("file", expand_paths(paths))]).domain


def load_facts(path: Path) -> tuple[Fact, ...]:
    """Initial facts from a TOML file: `facts = ["on a b", ["clear", "a"]]`."""
    data = read_toml(path)
    where = f"{path}"
    unknown = set(data) - {"facts"}
    if unknown:
        raise BadInput(f"{where}: unknown key {min(unknown)!r}; a facts file has 'facts'")
    out: list[Fact] = []
    for raw in _list(data.get("facts", []), f"{where}: facts"):
        lit = parse_literal(raw, f"{where}: facts")
        if lit.negated or lit.predicate == "=" or any(is_var(a) for a in lit.args):
            raise BadInput(f"{where}: facts: '{lit}' must be a plain fact without variables")
        out.append((lit.predicate, *lit.args))
    return tuple(out)


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def _read_file(path: Path, shown: str, layer: str) -> list[tuple[str, str, Any, Origin]]:
    data = read_toml(path, shown)
    out: list[tuple[str, str, Any, Origin]] = []
    for section, tables in data.items():
        if section not in _SECTIONS:
            raise BadInput(
                f"{shown}: unknown table [{section}]; use [task.NAME], [primitive.NAME], "
                "[method.NAME] or [intent.NAME]"
            )
        if not isinstance(tables, dict):
            raise BadInput(f"{shown}: [{section}] must hold named tables like [{section}.NAME]")
        for name, value in tables.items():
            origin = Origin(shown, layer, f"{section}.{name}")
            if not isinstance(value, dict):
                raise BadInput(f"{origin}: must be a table")
            unknown = sorted(set(value) - _KEYS[section])
            if unknown:
                raise BadInput(
                    f"{origin}: unknown key {unknown[0]!r}; allowed: "
                    f"{', '.join(sorted(_KEYS[section]))}"
                )
            out.append((section, name, value, origin))
    return out


def _parse(kind: str, name: str, value: dict[str, Any], origin: Origin) -> Any:
    where = str(origin)
    if kind == "task":
        return TaskDef(name, _params(value, where), _str(value, "doc", where), origin)
    if kind == "primitive":
        return _primitive(name, value, origin, where)
    if kind == "method":
        return _method(name, value, origin, where)
    return _intent(name, value, origin, where)


def _primitive(name: str, value: dict[str, Any], origin: Origin, where: str) -> Operator:
    execution = Execution(
        worker=_str(value, "worker", where, "none"),
        argv=_strs(value, "argv", where),
        prompt=_str(value, "prompt", where),
        capabilities=_strs(value, "capabilities", where),
        artifacts=_strs(value, "artifacts", where),
        retries=_int(value, "retries", where),
        idempotent=_bool(value, "idempotent", where),
        expect=_str(value, "expect", where, "pass"),
    )
    return Operator(
        name=name,
        params=_params(value, where),
        pre=_literals(value, "pre", where),
        add=_literals(value, "add", where),
        delete=_literals(value, "del", where),
        execution=execution,
        doc=_str(value, "doc", where),
        origin=origin,
    )


def _method(name: str, value: dict[str, Any], origin: Origin, where: str) -> Method:
    if "task" not in value:
        raise BadInput(f"{where}: missing 'task' (the task this method decomposes)")
    head = _call(value["task"], f"{where}: task")
    subtasks = _subtasks(value, where)
    ordered = _bool(value, "ordered", where, default="order" not in value)
    if "order" in value and ordered:
        raise BadInput(f"{where}: 'order' lists constraints of a partial order; drop 'ordered'"
                       " or set ordered = false")
    ordering = Method.chain(subtasks) if ordered else _order(value, where)
    return Method(
        name=name,
        task=head[0],
        args=head[1] if head[1] else (),
        pre=_literals(value, "pre", where),
        subtasks=subtasks,
        ordering=ordering,
        preference=_int(value, "preference", where, allow_negative=True),
        doc=_str(value, "doc", where),
        origin=origin,
    )


def _subtasks(value: dict[str, Any], where: str) -> tuple[Subtask, ...]:
    """A method's `subtasks`: task strings or `{ id, task }` tables. A subtask
    without an id is named for its task, numbered `task-N` if the task recurs."""
    calls = []
    for i, raw in enumerate(_list(value.get("subtasks", []), f"{where}: subtasks")):
        swhere = f"{where}: subtasks[{i}]"
        if isinstance(raw, str | list):
            raw = {"task": raw}
        if not isinstance(raw, dict):
            raise BadInput(f"{swhere}: give a task string or a table {{ id = …, task = … }}")
        unknown = sorted(set(raw) - _SUBTASK_KEYS)
        if unknown:
            raise BadInput(f"{swhere}: unknown key {unknown[0]!r}; allowed: id, task")
        if "task" not in raw:
            raise BadInput(f"{swhere}: missing 'task'")
        calls.append((raw.get("id"), _call(raw["task"], f"{swhere}: task"), swhere))
    counts = Counter(task for _, (task, _args), _w in calls)
    seen: dict[str, int] = {}
    subtasks: list[Subtask] = []
    for sub_id, (task, args), swhere in calls:
        if sub_id is None:
            seen[task] = seen.get(task, 0) + 1
            sub_id = task if counts[task] == 1 else f"{task}-{seen[task]}"
        if not isinstance(sub_id, str):
            raise BadInput(f"{swhere}: 'id' must be a string")
        subtasks.append(Subtask(sub_id, task, args))
    return tuple(subtasks)


def _order(value: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """A partial order's `order`: chains of subtask ids, as (before, after) pairs."""
    pairs: list[tuple[str, str]] = []
    for raw in _list(value.get("order", []), f"{where}: order"):
        if not (isinstance(raw, list) and len(raw) >= 2 and all(isinstance(x, str) for x in raw)):
            raise BadInput(f"{where}: order entries are lists of subtask ids like [\"a\", \"b\"]")
        pairs.extend((a, b) for a, b in itertools.pairwise(raw))
    return tuple(pairs)


def _intent(name: str, value: dict[str, Any], origin: Origin, where: str) -> Intent:
    if "task" not in value or not isinstance(value["task"], str):
        raise BadInput(f"{where}: missing 'task' (the task name this intent starts)")
    return Intent(
        name=name,
        task=value["task"],
        patterns=_strs(value, "patterns", where),
        keywords=tuple(k.lower() for k in _strs(value, "keywords", where)),
        args=_strs(value, "args", where),
        preference=_int(value, "preference", where, allow_negative=True),
        origin=origin,
    )


def _tokens(raw: object, where: str) -> list[str]:
    if isinstance(raw, str):
        try:
            return shlex.split(raw)
        except ValueError as err:
            raise BadInput(f"{where}: cannot split {raw!r}: {err}") from None
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return list(raw)
    raise BadInput(f"{where}: expected a string like \"on ?x ?y\" or a list of strings")


def parse_literal(raw: object, where: str) -> Literal:
    """`"on ?x ?y"`, `"not on ?x ?y"`, `"?x = ?y"`, `"?x != ?y"` or the same as a list."""
    tokens = _tokens(raw, where)
    negated = False
    if tokens and tokens[0] == "not":
        negated, tokens = True, tokens[1:]
    if len(tokens) == 3 and tokens[1] in ("=", "!="):
        if negated:
            raise BadInput(f"{where}: write '{tokens[0]} != {tokens[2]}' instead of 'not … = …'")
        return Literal("=", (tokens[0], tokens[2]), tokens[1] == "!=")
    if not tokens:
        raise BadInput(f"{where}: empty literal")
    return Literal(tokens[0], tuple(tokens[1:]), negated)


def _call(raw: object, where: str) -> tuple[str, tuple[str, ...]]:
    tokens = _tokens(raw, where)
    if not tokens:
        raise BadInput(f"{where}: empty task call")
    return tokens[0], tuple(tokens[1:])


def _list(raw: object, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise BadInput(f"{where}: expected a list")
    return raw


def _literals(value: dict[str, Any], key: str, where: str) -> tuple[Literal, ...]:
    return tuple(
        parse_literal(raw, f"{where}: {key}") for raw in _list(value.get(key, []), f"{where}: {key}")
    )


def _params(value: dict[str, Any], where: str) -> tuple[str, ...]:
    return _strs(value, "params", where)


def _str(value: dict[str, Any], key: str, where: str, default: str = "") -> str:
    raw = value.get(key, default)
    if not isinstance(raw, str):
        raise BadInput(f"{where}: {key!r} must be a string")
    return raw


def _strs(value: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    raw = value.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise BadInput(f"{where}: {key!r} must be a list of strings")
    return tuple(raw)


def _int(
    value: dict[str, Any], key: str, where: str, *, allow_negative: bool = False
) -> int:
    raw = value.get(key, 0)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadInput(f"{where}: {key!r} must be an integer")
    if raw < 0 and not allow_negative:
        raise BadInput(f"{where}: {key!r} must be 0 or more")
    return raw


def _bool(value: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    raw = value.get(key, default)
    if not isinstance(raw, bool):
        raise BadInput(f"{where}: {key!r} must be true or false")
    return raw
