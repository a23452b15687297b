"""`jitos intent` and `jitos resume`: from a declared intent to a collapsed,
tested commit, or a recorded reason why not.

Intent ≠ plan ≠ execution: this module records the `task` (what) and the
`plan` (how, from the planner, with the candidates it considered), allocates
the task's workspace, and hands execution to the scheduler. Everything that
can be refused is refused before anything is recorded or created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kernel.base.config import from_raw, governing_record
from kernel.base.policy import check_program, refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.land.adopt import adopt
from kernel.planner.model import TaskCall
from kernel.planner.render import plan_dict
from kernel.planner.request import Planned, library, plan_request, require_plan
from kernel.record import history, state
from kernel.record.locks import is_live
from kernel.tasks import model as tasks
from kernel.tasks import scheduler
from kernel.tasks.model import load
from kernel.workspace import checkout, sws

CANDIDATES = 3


def _no_match(err: BadInput, cwd: Path | None) -> BadInput:
    names = sorted(library(cwd).domain.tasks)
    return BadInput(f"{err.message}. Tasks that exist: {', '.join(names)}")


def preflight(repo: Repo, plan: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Refuse, before anything is recorded, a plan that cannot run here under `config`."""
    root = repo.workdir or repo.common_dir
    for step in plan["steps"]:
        where = f"step {step['id']} ({step['worker']})"
        if step["missing_config"]:
            keys = ", ".join(step["missing_config"])
            raise BadInput(f"{where} needs {keys} in .jitos/config.toml; set it and try again")
        if step["worker"] in ("shell", "agent"):
            check_program(step["argv"], root, where)
        if step["worker"] == "collapse" and not step["argv"] and not from_raw(dict(config)).gate_command:
            raise BadInput(f"{where} needs a gate: set [gate] command in .jitos/config.toml")


def _plan(repo: Repo, text: str, call: TaskCall | None, config: Mapping[str, Any]) -> Planned:
    try:
        planned = plan_request(text, task=call, cwd=repo.workdir, max_plans=CANDIDATES, config=dict(config))
    except BadInput as err:
        if err.message.startswith("no intent matches"):
            raise _no_match(err, repo.workdir) from None
        raise
    require_plan(planned)
    return planned


def _record_plan(ledger: state.Ledger, tid: str, planned: Planned) -> None:
    result = planned.result
    chosen = plan_dict(result.plans[0])
    ledger.record(
        "plan",
        f"task {tid}: plan {chosen['method'] or chosen['task']}, {len(chosen['steps'])} steps",
        data={"plan": chosen,
              "candidates": [{"method": p.method, "steps": [s.id for s in p.steps]} for p in result.plans],
              "nodes": result.stats.nodes},
        links={"task": tid},
    )


def declare(
    repo: Repo,
    text: str,
    *,
    task_call: tuple[str, Sequence[str]] | None = None,
    plan_only: bool = False,
    jobs: int = 1,
    progress: scheduler.ProgressFn | None = None,
) -> tasks.Task:
    history.require(repo)
    refuse_inside_worker("starting a task")
    if not text.strip() and task_call is None:
        raise BadInput("the intent is empty; say what you want done, e.g. jitos intent \"fix the bug in slug()\"")
    call = TaskCall(task_call[0], tuple(task_call[1])) if task_call else None
    # The gate, workers and test tables as they are now govern the task to its
    # end: stored with it (only those: the rest of a local config is not history's).
    config = repo.config().raw
    recorded = repo.store.put(governing_record(config))
    planned = _plan(repo, text, call, config)
    result = planned.result
    if not plan_only:
        preflight(repo, plan_dict(result.plans[0]), config)
    with checkout.ledger(repo) as ledger:
        tid = ledger.state.next_task_id()
        intent = text if text.strip() else str(call)
        ledger.record(
            "task",
            f"task {tid}: {' '.join(intent.split())[:70]}",
            data={"intent": intent, "task": result.task.name, "args": list(result.task.args),
                  "matched": planned.intent, "config": recorded},
            links={"task": tid},
        )
        _record_plan(ledger, tid, planned)
    if plan_only:
        return load(repo, tid)
    _start_workspace(repo, tid)
    return scheduler.run_task(repo, tid, jobs=jobs, progress=progress)


def _start_workspace(repo: Repo, tid: str) -> None:
    """The task's workspace, from the branch as it is now (outside commits adopted first)."""
    with checkout.ledger(repo) as ledger:
        adopt(repo, ledger)
    sws.new(repo, task=tid)


def resume(
    repo: Repo, tid: str, *, jobs: int = 1, retry_step: bool = False, failed: str | None = None,
    progress: scheduler.ProgressFn | None = None,
) -> tasks.Task:
    refuse_inside_worker("resuming a task")
    task = load(repo, tid)
    if task.state == tasks.DONE:
        return task
    if task.state == tasks.CANCELLED:
        raise BadInput(f"task {tid} was cancelled; declare a new intent instead")
    config = scheduler.governing(repo, task)
    if task.plan is None:  # killed between recording the task and its plan: plan it now, as it would have been
        planned = _plan(repo, task.intent, TaskCall(task.task, task.args), config)
        preflight(repo, plan_dict(planned.result.plans[0]), config)
        with checkout.ledger(repo) as ledger:
            if load(repo, tid).plan is None:
                _record_plan(ledger, tid, planned)
        task = load(repo, tid)
    assert task.plan is not None
    preflight(repo, task.plan, config)
    if task.sws is None:
        _start_workspace(repo, tid)
    else:
        ws = state.load(repo).sws[task.sws]
        landing = any(s.status == "running" and s.worker == "collapse" for s in task.steps)
        if ws.state != state.SWS_ACTIVE and not (ws.state == state.SWS_COLLAPSED and landing):
            raise BadInput(f"task {tid}'s workspace {ws.id} is {ws.state}; the task cannot go on "
                           f"(`jitos cancel {tid}` closes it)")
    return scheduler.run_task(repo, tid, jobs=jobs, progress=progress, retry_step=retry_step, human_failed=failed)


def cancel(repo: Repo, tid: str, reason: str | None = None) -> tasks.Task:
    """Close a task that is not running: record why, then discard its workspace
    (recording any edits in it first, so nothing is lost)."""
    refuse_inside_worker("cancelling a task")
    task = load(repo, tid)
    if task.state in (tasks.DONE, tasks.CANCELLED):
        raise BadInput(f"task {tid} is {task.state}; there is nothing to cancel")
    if is_live(repo, tid):
        raise BadInput(f"task {tid} is running; stop it first (Ctrl-C in its terminal)")
    with checkout.ledger(repo) as ledger:
        ledger.record("cancel", f"task {tid}: cancelled" + (f" — {reason}" if reason else ""),
                      data={"reason": reason}, links={"task": tid})
        ws = ledger.state.sws.get(task.sws or "")
    if ws is not None and ws.state == state.SWS_ACTIVE:
        sws.discard(repo, ws.id, reason=f"task {tid} cancelled", force=True)
    return load(repo, tid)
