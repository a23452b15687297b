"""`jitos init`, `status`, `log` and `verify`: each parses its options, calls
one kernel function and renders the result (human, or `--json` through
`render.emit_json`).

Never more than that: no git calls, no reading of history, no decision about
what a result means or which exit code it gets (the kernel's results say).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from jitos_cli.render import emit_json, err, out, style, write_junit

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (see docs/json.md).")]


def init(
    system_branch: Annotated[
        str | None, typer.Option("--system-branch", help="Branch collapse advances (default: the checked-out one).")
    ] = None,
    config: Annotated[bool, typer.Option("--config", help="Also write a commented .jitos/config.toml.")] = False,
    json: JsonOpt = False,
) -> None:
    """Set up jitos in the current repository (idempotent)."""
    from kernel.base.repo import open_repo
    from kernel.record.initialise import init as do_init

    result = do_init(open_repo(), system_branch=system_branch, write_config=config)
    if json:
        emit_json({"created": result.created, "system": result.system, "branch": result.branch,
                   "history": result.history, "config": str(result.config_written) if result.config_written else None})
        return
    if result.created:
        out(f"jitos initialised: system {result.system[:12]} follows branch {result.branch}")
    else:
        out(f"jitos is already initialised here (system {result.system[:12]}, branch {result.branch}); nothing to do")
    if result.config_written:
        out(f"wrote {result.config_written} — commit it to share it with your team")


def workspace_json(ws: Any) -> dict[str, Any]:
    return {"id": ws.id, "name": ws.name, "path": str(ws.path), "base": ws.base, "head": ws.head, "state": ws.state,
            "backend": ws.backend}


def prediction_json(p: Any) -> dict[str, Any]:
    return {"clean": p.clean, "rebase": p.rebase, "conflicts": list(p.conflicts), "unresolved": list(p.unresolved),
            "state": p.state, "next": p.next}


def status(json: JsonOpt = False) -> None:
    """The system, tasks and workspaces, folded from history."""
    from kernel.base.repo import open_repo
    from kernel.views import status as do_status

    st = do_status(open_repo())
    if json:
        emit_json({"system": st.system, "branch": st.branch, "history": st.history, "events": st.events,
                   "tasks": list(st.tasks),
                   "workspaces": {"backend": st.backend.backend, "isolation": st.backend.isolation,
                                  "reason": st.backend.reason},
                   "sws": [{**workspace_json(w), "collapse": prediction_json(st.predictions[w.id])}
                           for w in st.workspaces],
                   "others": [{"clone": o.clone, "history": o.history, "events": o.events, "system": o.system,
                               "sws": list(o.workspaces), "tasks": list(o.tasks)} for o in st.others]})
        return
    out(f"system  {st.system[:12]}  (branch {st.branch}, {st.events} events)")
    out(_isolation_line(st.backend))
    for task in st.tasks:
        _show_task(task)
    if not st.workspaces:
        out("no active workspaces — `jitos sws new` makes one")
    for ws in st.workspaces:
        _show_workspace(ws, st.predictions[ws.id])
    for other in st.others:
        out(f"from clone {style(other.clone, 'bold')} (fetched, {other.events} events, system {other.system[:12]}):")
        for task in other.tasks:
            _show_task(task)
        for theirs in other.workspaces:
            label = f" ({theirs['name']})" if theirs["name"] else ""
            out(f"  {style(theirs['id'], 'bold')}{label}  base {theirs['base'][:12]}  snapshot {theirs['head'][:12]}"
                f"  (`jitos collapse {theirs['id']}` lands it here)")


def _isolation_line(chosen: Any) -> str:
    if chosen.isolation == "enforced":
        return f"new workspaces: {chosen.backend}; a write outside a workspace fails at the write"
    return (f"new workspaces: {chosen.backend}; writes outside a workspace are detected after each step, "
            f"not prevented ({chosen.reason})")


STATE_COLOUR = {"done": "green", "failed": "red", "interrupted": "yellow", "waiting": "yellow"}


def _show_task(task: dict[str, Any]) -> None:
    state = style(f"{task['state']:<11}", STATE_COLOUR.get(task["state"], "bold"))
    out(f"  {style(task['id'], 'bold')}  {state} {' '.join(task['intent'].split())[:60]}")
    if task["state"] != "done":
        out(f"      {task['why']}")


def _show_workspace(ws: Any, p: Any) -> None:
    label = f" ({ws.name})" if ws.name else ""
    moved = "no snapshot yet" if ws.head == ws.base else f"snapshot {ws.head[:12]}"
    after = " after re-base" if p.rebase else ""
    said = {
        "markers": (f"conflict markers to resolve in {len(p.unresolved)} file(s): {', '.join(p.unresolved[:3])}",
                    "red"),
        "conflict": (f"would conflict on {len(p.conflicts)} path(s): {', '.join(p.conflicts[:3])}", "red"),
        "empty": ("nothing recorded yet", "yellow"),
        "task-failed": ("no conflict, but its task failed", "red"),
        "gate-failed": ("no conflict, but the gate failed on this tree", "red"),
        "gate-passed": ("ready to land: the gate passed on exactly this tree", "green"),
        "no-conflict": (f"no conflict{after}; the gate has not run on the tree that would land", "green"),
    }
    text, colour = said.get(p.state, (p.state, "bold"))
    out(f"  {style(ws.id, 'bold')}{label}  base {ws.base[:12]}  {moved}  {style(text, colour)}")
    out(f"      {ws.path}")
    out(f"      next: {p.next}")


def log(
    limit: Annotated[int | None, typer.Option("-n", "--max-count", help="Show at most N events.", min=1)] = None,
    sws: Annotated[str | None, typer.Option("--sws", help="Only events of this workspace.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only events of this task.")] = None,
    json: JsonOpt = False,
) -> None:
    """Events, newest first."""
    from kernel.base.repo import open_repo
    from kernel.views import log as do_log

    entries = do_log(open_repo(), limit=limit, sws=sws, task=task)
    if json:
        emit_json([{"id": e.id, "seq": e.seq, "kind": e.kind, "summary": e.summary, "time": e.time,
                    "links": e.links, "data": e.data, "clone": e.clone} for e in entries])
        return
    for e in entries:
        when = dt.datetime.fromtimestamp(e.time, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        origin = f" @{e.clone}" if e.clone else ""
        out(f"{style(e.id[:12], 'yellow')} {e.seq:>4} {when} {e.kind:<12} {e.summary}{origin}")


def verify(
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report.")] = None,
    json: JsonOpt = False,
) -> int:
    """Replay history (this clone's and every one fetched) and check every id, digest and ref."""
    from kernel.base.repo import open_repo
    from kernel.errors import IntegrityError
    from kernel.verify import verify as do_verify

    result = do_verify(open_repo())
    if junit is not None:
        write_junit(junit, "jitos verify", [("jitos.verify", "history", None)] if result.ok else
                    [("jitos.verify", f"problem {i}", p) for i, p in enumerate(result.problems, start=1)])
    if json:
        emit_json({"ok": result.ok, "events": result.events, "objects": result.objects,
                   "problems": list(result.problems)})
        return result.exit_code
    if result.ok:
        out(f"ok: {result.events} events and {result.objects} store objects verified")
        return result.exit_code
    for problem in result.problems:
        err(f"problem: {problem}")
    raise IntegrityError(f"verify found {len(result.problems)} problem(s); first: {result.problems[0]}")


def gc(json: JsonOpt = False) -> None:
    """Remove shared bases, layers and leftovers no live workspace uses (never anything history names)."""
    from kernel.base.repo import open_repo
    from kernel.workspace.gc import collect

    done = collect(open_repo())
    if json:
        emit_json({"bases": list(done.bases), "layers": list(done.layers), "temp_files": done.temp_files,
                   "freed": done.freed})
        return
    out(f"removed {len(done.bases)} unused base(s), {len(done.layers)} stale workspace layer(s), "
        f"{done.temp_files} temp file(s); freed {done.freed / 1e6:.1f} MB")


def finish_interrupted() -> None:
    """Before any command in a repository: finish a checkout update a killed
    collapse left (not from inside a step, whose view may be read-only: the
    command that runs the step does it)."""
    import os

    if os.environ.get("JITOS_STEP"):
        return
    from kernel.base.repo import open_repo
    from kernel.errors import JitosError
    from kernel.workspace.checkout import finish_interrupted as finish

    try:
        repo = open_repo()
    except JitosError:
        return  # not in a repository: the command says so if it needs one
    if finish(repo):
        err("jitos: finished updating your checkout, which a killed collapse had left behind the branch")
