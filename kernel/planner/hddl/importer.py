"""`jitos methods import-hddl`: read an HDDL domain (and problem), translate it
with `hddl_translate`, check it against the method library `jitos plan` loads,
and write method files plus a facts file.

`to_toml` is the pure part: definitions → file texts. Nothing here plans or prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from kernel.errors import BadInput
from kernel.planner.hddl import parse as hddl
from kernel.planner.hddl.translate import Imported, build, translate
from kernel.planner.model import Method, Operator, TaskDef
from kernel.planner.request import library


def _call_text(name: str, args: Iterable[str]) -> str:
    return " ".join((name, *args))


def _task_table(t: TaskDef) -> dict[str, Any]:
    out: dict[str, Any] = {"params": list(t.params)}
    if t.doc:
        out["doc"] = t.doc
    return out


def _primitive_table(op: Operator) -> dict[str, Any]:
    out: dict[str, Any] = {"params": list(op.params)}
    for key, lits in (("pre", op.pre), ("add", op.add), ("del", op.delete)):
        if lits:
            out[key] = [str(lit) for lit in lits]
    out["worker"] = op.execution.worker
    if op.doc:
        out["doc"] = op.doc
    return out


def _method_table(m: Method) -> dict[str, Any]:
    out: dict[str, Any] = {"task": _call_text(m.task, m.args)}
    if m.pre:
        out["pre"] = [str(lit) for lit in m.pre]
    out["subtasks"] = [{"id": s.id, "task": _call_text(s.task, s.args)} for s in m.subtasks]
    if m.ordering != Method.chain(m.subtasks):
        if m.ordering:
            out["order"] = _chains(m.ordering)
        else:
            out["ordered"] = False
    return out


def _chains(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Ordering pairs as few chains (`["a", "b", "c"]` stands for a < b < c)."""
    chains: list[list[str]] = []
    for a, b in pairs:
        for chain in chains:
            if chain[-1] == a:
                chain.append(b)
                break
        else:
            chains.append([a, b])
    return chains


def _document(header: str, body: dict[str, Any]) -> str:
    return header + tomli_w.dumps(body)


def to_toml(imported: Imported, source: str, problem_source: str = "") -> dict[str, str]:
    """File name → TOML text: `<domain>.toml` with the domain's definitions and,
    with a problem, `<problem>.toml` (its task, method and goal step) and
    `facts/<problem>.toml` (its initial facts)."""
    problem_task = imported.root.name if imported.root else None
    goal_op = f"goal-{imported.problem}" if imported.problem else None

    def split(items: Iterable[Any], belongs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        domain: dict[str, Any] = {}
        problem: dict[str, Any] = {}
        for item in items:
            if isinstance(item, TaskDef):
                table = _task_table(item)
            elif isinstance(item, Operator):
                table = _primitive_table(item)
            else:
                table = _method_table(item)
            (problem if belongs(item) else domain)[item.name] = table
        return domain, problem

    d_tasks, p_tasks = split(imported.tasks, lambda t: t.name == problem_task)
    d_ops, p_ops = split(imported.operators, lambda o: o.name == goal_op)
    d_methods, p_methods = split(imported.methods, lambda m: m.task == problem_task)
    note = "# Imported by `jitos methods import-hddl` from {}; edit the HDDL and import again.\n\n"
    files = {
        f"{imported.domain}.toml": _document(
            note.format(source),
            {k: v for k, v in (("task", d_tasks), ("primitive", d_ops), ("method", d_methods)) if v},
        )
    }
    if imported.problem:
        files[f"{imported.problem}.toml"] = _document(
            note.format(problem_source),
            {k: v for k, v in (("task", p_tasks), ("primitive", p_ops), ("method", p_methods)) if v},
        )
        files[f"facts/{imported.problem}.toml"] = _document(
            note.format(problem_source), {"facts": [" ".join(f) for f in imported.facts]}
        )
    return files


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What `import_hddl` wrote: method files, the facts file (None without a
    problem) and the task to plan for (None without a problem)."""

    domain: str
    problem: str
    out: Path
    method_files: tuple[Path, ...]
    facts_file: Path | None
    task: str | None
    counts: Mapping[str, int]
    notes: tuple[str, ...] = ()


def import_hddl(
    domain_file: Path, problem_file: Path | None, out: Path | None = None
) -> ImportResult:
    """Read an HDDL domain (and problem), translate and check them, and write
    the method files (and facts file) under `out` (default: `./<domain name>/`)."""
    domain = hddl.parse_domain(hddl.read_text(domain_file), str(domain_file))
    problem = None
    if problem_file is not None:
        problem = hddl.parse_problem(hddl.read_text(problem_file), str(problem_file))
    imported = translate(domain, problem)
    build(imported)
    out = Path(domain.name) if out is None else out
    files = to_toml(imported, domain_file.name, problem_file.name if problem_file else "")
    written: list[Path] = []
    for name, text in files.items():
        path = out / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            raise BadInput(f"{path}: cannot write: {err}") from None
        written.append(path)
    facts = next((p for p in written if p.parent.name == "facts"), None)
    method_files = tuple(p for p in written if p != facts)
    try:
        library(extra=method_files)
    except BadInput as err:
        raise BadInput(
            f"the imported methods clash with the method library `jitos plan` also loads: "
            f"{err.message} (rename in the HDDL file: importing again overwrites the method files)"
        ) from None
    return ImportResult(
        domain=imported.domain,
        problem=imported.problem,
        out=out,
        method_files=method_files,
        facts_file=facts,
        task=imported.root.name if imported.root else None,
        counts={
            "tasks": len(domain.tasks), "primitives": len(domain.actions),
            "methods": len(domain.methods), "facts": len(imported.facts),
        },
        notes=imported.notes,
    )
