"""`jitos intent`, `resume`, `cancel`, `why`, `show` and `demo`: the main job,
with progress on stderr as steps start and end, and the result rendered.

Each command calls one kernel function and renders what it returns; the exit
code comes from the kernel (`kernel.tasks.model.exit_code`, the demo's
result). Never a git call, never a rule about tasks here.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from jitos_cli import completion
from jitos_cli.core import JsonOpt
from jitos_cli.render import emit_json, err, out, style

STATUS_COLOUR = {"ok": "green", "failed": "red", "waiting": "yellow", "interrupted": "yellow"}


def progress_printer(json: bool) -> Any:
    """Progress on stderr: a line per step start and end (plain lines; colour only on a TTY)."""

    def report(p: Any) -> None:
        head = f"[{p.index}/{p.total}] {p.step} ({p.worker})"
        if p.event == "start":
            err(style(f"{head} …", "dim", sys.stderr))
            return
        shown = style(p.status, STATUS_COLOUR.get(p.status, "bold"), sys.stderr)
        timing = f" in {p.seconds:.1f}s" if p.seconds else ""
        err(f"{head} {shown}{timing} — {p.reason}")

    return report


def task_json(task: Any, live: str) -> dict[str, Any]:
    return {"task": task.id, "intent": task.intent, "sws": task.sws, "state": live, "system": task.system,
            "why": task.why(), "method": task.method,
            "steps": [{"id": s.id, "name": s.name, "worker": s.worker, "status": s.status, "attempts": s.attempts,
                       "reason": s.reason} for s in task.steps]}


def finish(repo: Any, task: Any, json: bool) -> int:
    """Render the task as the command leaves it; return the exit code its state calls for."""
    from kernel.tasks.model import exit_code, live_state

    live = live_state(repo, task)
    if json:
        emit_json(task_json(task, live))
    elif live == "done" and task.system is None:  # a plan without a collapse step lands nothing
        out(f"{style('done', 'green')}: task {task.id}; its plan lands nothing, workspace {task.sws} keeps the "
            f"result — `jitos why {task.id}`")
    elif live == "done":
        out(f"{style('done', 'green')}: task {task.id} landed as {str(task.system)[:12]} — `jitos why {task.id}`")
    elif live == "planned":
        out(f"planned task {task.id} ({len(task.steps)} steps, method {task.method}); "
            f"`jitos why {task.id}` shows it, `jitos resume {task.id}` runs it")
    else:
        colour = "yellow" if live == "waiting" else "red"
        err(f"{style(live, colour)}: task {task.id} {task.why()}")
        if task.sws:
            err(f"workspace kept: {task.sws} — `jitos why {task.id}` for the events and logs")
    return exit_code(task, live)


def intent(
    text: Annotated[str, typer.Argument(help="What you want done, in words.")] = "",
    task: Annotated[list[str] | None, typer.Option("--task", metavar="NAME [ARG…]",
                                                   help="Name the task instead of matching an intent (repeat for args: --task fix-bug --task 'the bug').")] = None,
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Record the task and plan; run nothing.")] = False,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=1, help="Independent read-only steps at once.")] = 1,
    json: JsonOpt = False,
) -> int:
    """Declare an intent: plan it, run it in a workspace, collapse on green."""
    from kernel.base.repo import open_repo
    from kernel.tasks.intent import declare

    repo = open_repo()
    call = (task[0], task[1:]) if task else None
    result = declare(repo, text, task_call=call, plan_only=plan_only, jobs=jobs, progress=progress_printer(json))
    return finish(repo, result, json)


def resume(
    task: Annotated[str, typer.Argument(metavar="TASK", help="Task id (t1, t2, …).", autocompletion=completion.tasks)],
    retry_step: Annotated[bool, typer.Option("--retry-step", help="Run a failed or interrupted step again.")] = False,
    fail: Annotated[str | None, typer.Option("--fail", metavar="REASON", help="Answer a waiting person step with 'no'.")] = None,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=1)] = 1,
    json: JsonOpt = False,
) -> int:
    """Continue a task waiting on a person or interrupted by a crash."""
    from kernel.base.repo import open_repo
    from kernel.tasks.intent import resume as do_resume

    repo = open_repo()
    result = do_resume(repo, task, jobs=jobs, retry_step=retry_step, failed=fail, progress=progress_printer(json))
    return finish(repo, result, json)


def cancel(
    task: Annotated[str, typer.Argument(metavar="TASK", help="Task id (t1, t2, …).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    json: JsonOpt = False,
) -> None:
    """Close a task that is not running; its workspace's edits are recorded, then it is discarded."""
    from kernel.base.repo import open_repo
    from kernel.tasks.intent import cancel as do_cancel

    repo = open_repo()
    result = do_cancel(repo, task, reason)
    if json:
        emit_json(task_json(result, result.state))
    else:
        out(f"cancelled task {result.id}" + (f"; workspace {result.sws} discarded" if result.sws else ""))


def why(key: Annotated[str, typer.Argument(metavar="ID", help="A task (t1), a step (t1/STEP), a workspace (s1), "
                                            "one from another clone (s1@CLONE), or a commit.",
                                            autocompletion=completion.anything)],
        json: JsonOpt = False) -> None:
    """Why something ran, failed or waits: the answer, and the events and logs behind it."""
    from kernel.base.repo import open_repo
    from kernel.views import why as do_why

    answer = do_why(open_repo(), key)
    if json:
        emit_json({"subject": answer.subject, "state": answer.state, "answer": answer.answer,
                   "events": [{"id": e.id, "seq": e.seq, "kind": e.kind, "summary": e.summary, "data": e.data}
                              for e in answer.events],
                   "artifacts": [{"label": label, "digest": d} for label, d in answer.artifacts]})
        return
    out(answer.answer)
    out("")
    for e in answer.events:
        out(f"  {style(e.id[:12], 'yellow')} {e.seq:>4} {e.kind:<12} {e.summary}")
    if answer.artifacts:
        out("")
        out("artifacts (jitos show DIGEST prints one):")
        for label, digest in answer.artifacts:
            out(f"  {digest[:16]}  {label}")


def show(digest: Annotated[str, typer.Argument(metavar="DIGEST", help="A store object (a prefix of 8+ characters).")]) -> None:
    """Print a stored artifact (a step's output, a gate log)."""
    from kernel.base.proc import local
    from kernel.base.repo import open_repo

    repo = open_repo()
    sys.stdout.buffer.write(local(repo, repo.store.get_prefix(digest)))


def demo(
    where: Annotated[Path | None, typer.Option("--dir", help="Build the demo repository here (default: a temp folder).")] = None,
) -> int:
    """Fix a real bug end to end in a small generated repository."""
    from kernel import demo as kdemo

    root = kdemo.folder(where)
    out(f"demo repository: {root}")
    out(f"intent: {kdemo.INTENT}")
    result = kdemo.run(root, progress=progress_printer(False))
    out("")
    out(f"task {result.task.id}: {result.task.state} — {result.task.why()}")
    out("")
    out("git log main   (the collapse commit says why it exists):")
    for line in result.branch_log:
        out(f"  {line}")
    out("")
    out("git log --format='%h %s' refs/jitos/history   (every event, newest first):")
    for line in result.history_log:
        out(f"  {line}")
    out("")
    out(f"look around: cd {shlex.quote(str(root))} && jitos status && jitos why {result.task.id}")
    return result.exit_code
