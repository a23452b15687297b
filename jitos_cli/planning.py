"""`jitos plan` and `jitos methods`: parse options, call one planner function,
render the result. No planning logic here."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from jitos_cli import render as out
from kernel.errors import BadInput
from kernel.planner.loader import Library
from kernel.planner.model import DEFAULT_DEPTH_LIMIT, DEFAULT_NODE_BUDGET, TaskCall
from kernel.planner.render import (
    canonical_json,
    plan_dot,
    plan_mermaid,
    plan_text,
    result_dict,
)
from kernel.planner.request import library, plan_request, require_plan

methods_app = typer.Typer(help="The HTN method library.", no_args_is_help=True)


class Format(str, Enum):
    text = "text"
    json = "json"
    dot = "dot"
    mermaid = "mermaid"


def plan(
    words: Annotated[
        list[str] | None,
        typer.Argument(help="Intent text; with --task, the task's arguments.", show_default=False),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Plan for this task; WORDS are its arguments.")
    ] = None,
    facts: Annotated[
        Path | None, typer.Option("--facts", help="TOML file with initial facts: facts = [...].")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    all_plans: Annotated[
        bool, typer.Option("--all", help="Every candidate the budget allows.")
    ] = False,
    max_plans: Annotated[
        int | None, typer.Option("--max", min=1, help="At most N candidates.")
    ] = None,
    methods: Annotated[
        list[Path] | None,
        typer.Option("--methods", help="Extra method file or folder (repeatable); wins on names."),
    ] = None,
    depth: Annotated[
        int, typer.Option("--depth", min=1, help="Decomposition depth limit.")
    ] = DEFAULT_DEPTH_LIMIT,
    budget: Annotated[
        int, typer.Option("--budget", min=1, help="Search node budget.")
    ] = DEFAULT_NODE_BUDGET,
) -> None:
    """Show plan candidates for an intent; runs nothing."""
    args = list(words or [])
    if all_plans and max_plans is not None:
        raise BadInput("give --all or --max N, not both")
    if task is None and not args:
        raise BadInput("give the intent text, e.g. jitos plan \"fix the bug in slug()\"")
    call = TaskCall(task, tuple(args)) if task is not None else None
    text = " ".join(args) if call is None else ""
    count = 0 if all_plans else (max_plans or 1)
    planned = plan_request(
        text,
        task=call,
        facts_file=facts,
        methods=tuple(methods or ()),
        max_plans=count,
        depth_limit=depth,
        node_budget=budget,
    )
    require_plan(planned)
    result = planned.result
    many = all_plans or max_plans is not None
    fmt = Format.json if as_json else fmt
    if fmt is Format.json:
        data = result_dict(result, text=planned.text, intent=planned.intent, candidates=many)
        sys.stdout.write(canonical_json(data))
        return
    plans = result.plans if many else result.plans[:1]
    for i, candidate in enumerate(plans, start=1):
        if fmt is Format.dot:
            sys.stdout.write(plan_dot(candidate))
        elif fmt is Format.mermaid:
            sys.stdout.write(plan_mermaid(candidate))
        else:
            sys.stdout.write(plan_text(candidate, index=i if many else None))
    if fmt is Format.text:
        how = f"intent {planned.intent}" if planned.intent else "explicit task"
        out.err(out.style(
            f"{len(plans)} plan(s) from {how}; {result.stats.nodes} search node(s)", "dim",
            sys.stderr,
        ))


@methods_app.command("list")
def methods_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List tasks, primitives, methods and intents, where each comes from and
    what a repository's definition shadows."""
    lib = library()
    rows = _rows(lib)
    if as_json:
        sys.stdout.write(canonical_json(rows))
        return
    for kind in ("task", "primitive", "method", "intent"):
        group = [r for r in rows if r["kind"] == kind]
        if not group:
            continue
        out.out(out.style(f"{kind}s", "bold"))
        for r in group:
            line = f"  {r['name']:<28} {r['detail']:<34} {r['file']}"
            if r["shadows"]:
                line += f"  (shadows {r['shadows']})"
            out.out(line.rstrip())


@methods_app.command("check")
def methods_check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Method files or folders (default: this repository's library).",
                       show_default=False),
    ] = None,
) -> None:
    """Check method files: TOML syntax, names, arities, orderings, templates.
    PATHs are checked on top of the shipped methods, in place of .jitos/methods/."""
    lib = library(extra=tuple(paths), repo=False) if paths else library()
    counts = {k: sum(1 for e in lib.entries if e.kind == k)
              for k in ("task", "primitive", "method", "intent")}
    out.out("ok: " + ", ".join(f"{n} {k}(s)" for k, n in counts.items()))


def _rows(lib: Library) -> list[dict[str, Any]]:
    dom = lib.domain
    rows = []
    for e in lib.entries:
        detail = ""
        if e.kind == "task" and e.name in dom.tasks:
            detail = " ".join(dom.tasks[e.name].params)
        elif e.kind == "primitive" and e.name in dom.operators:
            op = dom.operators[e.name]
            detail = f"{op.execution.worker} {' '.join(op.params)}".strip()
        elif e.kind == "method":
            for ms in dom.methods.values():
                for m in ms:
                    if m.name == e.name:
                        detail = f"for {m.task}" + (f", preference {m.preference}"
                                                    if m.preference else "")
        elif e.kind == "intent":
            for i in dom.intents:
                if i.name == e.name:
                    detail = f"→ {i.task}"
        rows.append({
            "kind": e.kind,
            "name": e.name,
            "detail": detail,
            "file": e.origin.file,
            "layer": e.origin.layer,
            "table": e.origin.table,
            "shadows": e.shadows.file if e.shadows else None,
        })
    return rows
