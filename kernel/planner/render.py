"""Plans as data and text: the JSON-shaped plan (documented in
`docs/methods.md` and `docs/planner.md`), a human summary, Graphviz dot and Mermaid.

The plan data holds no floats, paths or times, so the same inputs give the
same value (history serialises it with `kernel.base.canonical.dumps`, the
command line with `jitos_cli.render.emit_json`). This module never reads
files or prints; callers write the strings.
"""

from __future__ import annotations

import json
from typing import Any

from kernel.planner.model import Plan, PlanResult, Step


def step_dict(step: Step) -> dict[str, Any]:
    ex = step.execution
    return {
        "id": step.id,
        "name": step.name,
        "args": list(step.args),
        "after": list(step.after),
        "worker": ex.worker,
        "argv": list(ex.argv),
        "prompt": ex.prompt,
        "capabilities": list(ex.capabilities),
        "artifacts": list(ex.artifacts),
        "retries": ex.retries,
        "idempotent": ex.idempotent,
        "expect": ex.expect,
        "method": step.method,
        "parent": step.parent,
        "missing_config": list(step.missing),
    }


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "task": plan.task,
        "args": list(plan.args),
        "method": plan.method,
        "steps": [step_dict(s) for s in plan.steps],
        "tree": [
            {
                "id": d.id,
                "task": d.task,
                "args": list(d.args),
                "method": d.method,
                "parent": d.parent,
                "children": list(d.children),
            }
            for d in plan.tree
        ],
    }


def result_dict(
    result: PlanResult, *, text: str = "", intent: str | None = None, candidates: bool = False
) -> dict[str, Any]:
    """The first plan's fields at top level (`task`, `method`, `steps`, …), plus
    `intent`, `text`, `stats` and, when asked, every candidate under `candidates`."""
    first = plan_dict(result.plans[0]) if result.plans else {
        "task": result.task.name, "args": list(result.task.args), "method": "", "steps": [],
        "tree": [],
    }
    out: dict[str, Any] = {
        **first,
        "intent": intent,
        "text": text,
        "stats": {
            "nodes": result.stats.nodes,
            "stopped": result.stats.stopped,
            "max_depth": result.stats.max_depth,
            "plans": len(result.plans),
        },
    }
    if candidates:
        out["candidates"] = [plan_dict(p) for p in result.plans]
    return out


def _call(name: str, args: tuple[str, ...]) -> str:
    return f"{name}({', '.join(json.dumps(a, ensure_ascii=False) for a in args)})"


def plan_text(plan: Plan, *, index: int | None = None) -> str:
    """A readable listing: header, then one block per step in plan order."""
    head = f"{_call(plan.task, plan.args)}"
    if plan.method:
        head += f" via {plan.method}"
    if index is not None:
        head = f"candidate {index}: {head}"
    lines = [f"{head} — {len(plan.steps)} step(s)"]
    width = min(max((len(s.id) for s in plan.steps), default=0), 40)
    for step in plan.steps:
        ex = step.execution
        tags = [ex.worker]
        if ex.expect == "fail":
            tags.append("expect fail")
        if ex.retries:
            tags.append(f"retries {ex.retries}")
        if ex.idempotent:
            tags.append("idempotent")
        lines.append(f"  {step.id:<{width}}  {_call(step.name, step.args)}  [{', '.join(tags)}]")
        if step.after:
            lines.append(f"  {'':<{width}}    after: {', '.join(step.after)}")
        if ex.argv:
            lines.append(f"  {'':<{width}}    argv: {json.dumps(list(ex.argv), ensure_ascii=False)}")
        if ex.prompt:
            lines.append(f"  {'':<{width}}    prompt: {ex.prompt}")
        if step.missing:
            keys = ", ".join(step.missing)
            lines.append(f"  {'':<{width}}    missing config: {keys} (set in .jitos/config.toml)")
    if plan.tree:
        lines.append("  decomposition:")
        lines.extend(f"    {line}" for line in tree_lines(plan))
    return "\n".join(lines) + "\n"


def tree_lines(plan: Plan) -> list[str]:
    """The decomposition tree, one line per node, indented by depth: compound
    nodes as `id: task(args) via method`, steps as `id: name`."""
    nodes = {d.id: d for d in plan.tree}
    steps = {s.id: s for s in plan.steps}
    out: list[str] = []
    todo: list[tuple[str, int]] = [("", 0)]
    while todo:
        node_id, depth = todo.pop()
        pad = "  " * depth
        node = nodes.get(node_id)
        if node is None:
            out.append(f"{pad}{node_id}: {steps[node_id].name}")
            continue
        label = node_id or "(root)"
        out.append(f"{pad}{label}: {_call(node.task, node.args)} via {node.method}")
        todo.extend((child, depth + 1) for child in reversed(node.children))
    return out


def _label(step: Step) -> str:
    return f"{step.id}\\n{_call(step.name, step.args)}".replace('"', '\\"')


def plan_dot(plan: Plan) -> str:
    lines = ["digraph plan {", "  rankdir=LR;", "  node [shape=box];"]
    for step in plan.steps:
        lines.append(f'  "{step.id}" [label="{_label(step)}"];')
    for step in plan.steps:
        for dep in step.after:
            lines.append(f'  "{dep}" -> "{step.id}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def plan_mermaid(plan: Plan) -> str:
    names = {s.id: f"s{i}" for i, s in enumerate(plan.steps)}
    lines = ["flowchart TD"]
    for step in plan.steps:
        label = f"{step.id}<br/>{_call(step.name, step.args)}".replace('"', "#quot;")
        lines.append(f'  {names[step.id]}["{label}"]')
    for step in plan.steps:
        for dep in step.after:
            lines.append(f"  {names[dep]} --> {names[step.id]}")
    return "\n".join(lines) + "\n"
