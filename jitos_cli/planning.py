"""`jitos plan` and `jitos methods`: parse options, call one planner function,
render the result. No planning logic here."""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jitos_cli import render as out
from kernel.errors import BadInput
from kernel.planner.limits import DEFAULT_DEPTH_LIMIT, DEFAULT_NODE_BUDGET

if TYPE_CHECKING:  # the planner is imported by the commands that plan, not by every command
    from kernel.planner.loader import Library
    from kernel.planner.request import Candidates

methods_app = typer.Typer(help="The HTN method library.", no_args_is_help=True)


class Format(str, Enum):
    text = "text"
    json = "json"
    dot = "dot"
    mermaid = "mermaid"


def plan(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TEXT",
            help="Intent text; with --task, the task's arguments.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", metavar="NAME", help="Plan for this task; TEXT… are its arguments."),
    ] = None,
    facts: Annotated[
        Path | None, typer.Option("--facts", metavar="FILE", help="TOML file with initial facts: facts = [...].")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    all_plans: Annotated[
        bool, typer.Option("--all", help="Every candidate the budget allows.")
    ] = False,
    max_plans: Annotated[
        int | None, typer.Option("--max", min=1, metavar="N", help="At most N candidates.")
    ] = None,
    methods: Annotated[
        list[Path] | None,
        typer.Option("--methods", metavar="PATH", help="Extra method file or folder (repeatable); wins on names."),
    ] = None,
    depth: Annotated[
        int, typer.Option("--depth", min=1, help="Decomposition depth limit.")
    ] = DEFAULT_DEPTH_LIMIT,
    budget: Annotated[
        int, typer.Option("--budget", min=1, help="Search node budget.")
    ] = DEFAULT_NODE_BUDGET,
    verify: Annotated[
        bool, typer.Option("--verify", help="Replay each plan and check its decomposition.")
    ] = False,
) -> None:
    """Show plan candidates for an intent; runs nothing."""
    from kernel.planner.model import TaskCall
    from kernel.planner.request import plan_candidates, require_valid

    args = tuple(words or ())
    if all_plans and max_plans is not None:
        raise BadInput("give --all or --max N, not both")
    if task is None and not args:
        raise BadInput("give the intent text, e.g. jitos plan \"fix the bug in slug()\"")
    shown = plan_candidates(
        "" if task is not None else " ".join(args),
        task=TaskCall(task, args) if task is not None else None,
        facts_file=facts,
        methods=tuple(methods or ()),
        all_plans=all_plans,
        max_plans=max_plans,
        depth_limit=depth,
        node_budget=budget,
        config=_repo_config(),
        verify=verify,
    )
    fmt = Format.json if as_json else fmt
    if fmt is Format.json:
        out.emit_json(_candidates_dict(shown))
    else:
        _write_plans(shown, fmt)
    require_valid(shown.verdicts)


def _candidates_dict(shown: Candidates) -> dict[str, Any]:
    from kernel.planner.render import result_dict

    planned = shown.planned
    data = result_dict(planned.result, text=planned.text, intent=planned.intent,
                       candidates=shown.many)
    if shown.verdicts is not None:
        data["verify"] = [
            {"ok": v.ok, "steps": v.steps, "problems": list(v.problems)} for v in shown.verdicts
        ]
    return data


def _write_plans(shown: Candidates, fmt: Format) -> None:
    """Each plan on stdout; the summary (text only) and verdicts on stderr."""
    from kernel.planner.render import plan_dot, plan_mermaid, plan_text

    for i, candidate in enumerate(shown.plans, start=1):
        if fmt is Format.dot:
            sys.stdout.write(plan_dot(candidate))
        elif fmt is Format.mermaid:
            sys.stdout.write(plan_mermaid(candidate))
        else:
            sys.stdout.write(plan_text(candidate, index=i if shown.many else None))
    if fmt is Format.text:
        planned = shown.planned
        how = f"intent {planned.intent}" if planned.intent else "explicit task"
        stats = planned.result.stats
        summary = f"{len(shown.plans)} plan(s) from {how}; {stats.nodes} search node(s)"
        if shown.many and stats.stopped == "budget":
            summary += "; the node budget ran out, so more may exist (raise --budget)"
        out.err(out.style(summary, "dim", sys.stderr))
    for i, verdict in enumerate(shown.verdicts or (), start=1):
        word = "valid" if verdict.ok else "INVALID"
        out.err(f"plan {i}: {word}: {verdict.steps} step(s) replayed, decomposition checked")
        for problem in verdict.problems:
            out.err(f"  {problem}")


def _repo_config() -> dict[str, Any]:
    """The repository's merged configuration (team and local), or none outside a repository."""
    from kernel.base.repo import open_repo

    try:
        repo = open_repo()
    except BadInput:
        return {}
    return repo.config().raw


@methods_app.command("list")
def methods_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List tasks, primitives, methods and intents, where each comes from and
    what a repository's definition shadows."""
    from kernel.planner.request import library

    lib = library()
    rows = _rows(lib)
    if as_json:
        out.emit_json(rows)
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
        typer.Argument(
            metavar="PATH",
            help="Method files or folders (default: this repository's library).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check method files: TOML syntax, names, arities, orderings, templates.
    PATHs are checked on top of the shipped methods, in place of .jitos/methods/."""
    from kernel.planner.request import library

    lib = library(extra=tuple(paths), repo=False) if paths else library()
    counts = {k: sum(1 for e in lib.entries if e.kind == k)
              for k in ("task", "primitive", "method", "intent")}
    out.out("ok: " + ", ".join(f"{n} {k}(s)" for k, n in counts.items()))


@methods_app.command("import-hddl")
def methods_import_hddl(
    domain: Annotated[Path, typer.Argument(help="HDDL domain file.", show_default=False)],
    problem: Annotated[
        Path | None, typer.Argument(help="HDDL problem file.", show_default=False)
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the method files (default: ./<domain>/)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Translate an HDDL domain (and problem) from the IPC HTN track into method
    files plus a facts file, and print the `jitos plan` command that solves it."""
    from kernel.planner.hddl.importer import import_hddl

    result = import_hddl(domain, problem, out_dir)
    command = _hddl_plan_command(result.out, result.facts_file, result.task)
    if as_json:
        out.emit_json({
            "domain": result.domain,
            "problem": result.problem or None,
            "method_files": [str(p) for p in result.method_files],
            "facts_file": str(result.facts_file) if result.facts_file else None,
            "task": result.task,
            "counts": dict(result.counts),
            "command": command,
            "notes": list(result.notes),
        })
        return
    for note in result.notes:
        out.err(f"note: {note}")
    for path in (*result.method_files, *([result.facts_file] if result.facts_file else [])):
        out.out(f"wrote {path}")
    out.out(", ".join(f"{n} {k}" for k, n in result.counts.items()))
    if command:
        out.out("plan it with: " + " ".join(shlex.quote(a) for a in command))


def _hddl_plan_command(target: Path, facts: Path | None, task: str | None) -> list[str]:
    if task is None or facts is None:
        return []
    return ["jitos", "plan", "--methods", str(target), "--facts", str(facts), "--task", task,
            "--verify"]


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
