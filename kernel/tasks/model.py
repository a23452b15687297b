"""Tasks as history knows them: a pure fold of the `task`, `plan`, `sws-new`,
`dispatch`, `result`, `collapse` and `cancel` events into task and step
states, and the task lock that says whether a `running` task still has a
process. Never writes, never prints.

Task states: planned (nothing dispatched yet, or planned with --plan-only),
running, waiting (on a person), done, failed, interrupted, cancelled. A step dispatched
with no result is `running` in history; a view that finds no live process
for it calls the task `interrupted`. `exit_code` says how `intent` and
`resume` end for a task in each state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kernel.base.repo import Repo
from kernel.errors import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_GATE_RED, EXIT_OK, NotFound
from kernel.record import folds
from kernel.record.history import HISTORY_REF, Recorded
from kernel.record.locks import is_live

PLANNED, RUNNING, WAITING, DONE, FAILED, INTERRUPTED, CANCELLED = (
    "planned", "running", "waiting", "done", "failed", "interrupted", "cancelled")
#: A step that needs no more work: passed, or replaced by steps the task added
#: (a collapse that met a conflict the task goes on to resolve).
FINISHED = ("ok", "superseded")


@dataclass(frozen=True, slots=True)
class StepState:
    id: str
    name: str
    worker: str
    after: tuple[str, ...]
    idempotent: bool
    retries: int
    status: str = "pending"  # pending | running | waiting | ok | failed | interrupted | superseded
    attempts: int = 0
    reason: str = ""
    events: tuple[str, ...] = ()
    collapse: str = ""  # for a collapse step: committed | empty | conflict | checkout-dirty | gate-failed


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    intent: str
    task: str
    args: tuple[str, ...]
    matched: str | None
    method: str = ""
    plan: Mapping[str, Any] | None = None
    sws: str | None = None
    steps: tuple[StepState, ...] = ()
    system: str | None = None
    events: tuple[str, ...] = field(default_factory=tuple)
    cancelled: str | None = None
    config: str | None = None  # store digest of its governing configuration (None: recorded before tasks kept it)

    @property
    def state(self) -> str:
        if self.cancelled is not None:
            return CANCELLED
        statuses = [s.status for s in self.steps]
        if not statuses or all(s == "pending" for s in statuses):
            return PLANNED
        for status, state in (("interrupted", INTERRUPTED), ("failed", FAILED), ("waiting", WAITING),
                              ("running", RUNNING)):
            if status in statuses:
                return state
        return DONE if all(s in FINISHED for s in statuses) else RUNNING

    @property
    def blocked_by_conflict(self) -> bool:
        """Whether the task failed because its collapse met a conflict (exit 3, not 4)."""
        return any(s.status == "failed" and s.collapse in ("conflict", "checkout-dirty") for s in self.steps)

    def step(self, step_id: str) -> StepState:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def plan_step(self, step_id: str) -> Mapping[str, Any]:
        assert self.plan is not None
        for s in self.plan["steps"]:
            if s["id"] == step_id:
                return dict(s)
        raise KeyError(step_id)

    def why(self) -> str:
        state = self.state
        if state == CANCELLED:
            return f"cancelled: {self.cancelled or 'no reason given'}"
        if state == PLANNED:
            return f"planned ({len(self.steps)} steps); nothing has run — `jitos resume {self.id}` runs it"
        if state == DONE:
            return f"done: every step passed and the work landed as {str(self.system)[:12]}" if self.system \
                else f"done: every step passed; the plan lands nothing, so workspace {self.sws} keeps the result"
        current = next(s for s in self.steps if s.status not in (*FINISHED, "pending"))
        if state == WAITING:
            return f"waiting on a person at step {current.id}: {current.reason} — then `jitos resume {self.id}`"
        if state == FAILED:
            return f"failed at step {current.id} ({current.worker}) after {current.attempts} attempt(s): {current.reason}"
        if state == INTERRUPTED:
            return f"interrupted at step {current.id} ({current.worker}): {current.reason}"
        return f"running step {current.id} ({current.worker})"


def _set_step(task: Task, step_id: str, **changes: Any) -> Task:
    steps = tuple(replace(s, **changes) if s.id == step_id else s for s in task.steps)
    return replace(task, steps=steps)


def fold(records: Iterable[Recorded], start: Mapping[str, Task] | None = None) -> dict[str, Task]:
    """Every task history knows, by id, as its events (oldest first) leave it
    (after `start`, the tasks as earlier events left them)."""
    tasks: dict[str, Task] = dict(start or {})
    for rec in records:
        tid = rec.event.links.get("task")
        if tid is None:
            continue
        if rec.event.kind == "task":
            data = rec.event.data
            tasks[tid] = Task(tid, str(data["intent"]), str(data["task"]), tuple(data["args"]), data.get("matched"),
                              config=data.get("config"))
        if tid in tasks:
            task = replace(tasks[tid], events=tasks[tid].events + (rec.oid,))
            apply = _APPLY.get(rec.event.kind)
            tasks[tid] = apply(task, rec) if apply else task
    return tasks


def _planned(task: Task, rec: Recorded) -> Task:
    plan = rec.event.data["plan"]
    steps = tuple(
        StepState(s["id"], s["name"], s["worker"], tuple(s["after"]), bool(s["idempotent"]), int(s["retries"]))
        for s in plan["steps"]
    )
    return replace(task, plan=plan, method=str(plan["method"]), steps=steps)


def _dispatched(task: Task, rec: Recorded) -> Task:
    step_id, data = rec.event.links.get("step"), rec.event.data
    if not step_id:
        return task
    current = task.step(step_id)
    waiting = data.get("worker") == "human"
    return _set_step(task, step_id, status="waiting" if waiting else "running",
                     attempts=current.attempts + 1, reason=str(data.get("prompt", "")) if waiting else "",
                     events=current.events + (rec.oid,))


def _extended(task: Task, rec: Recorded) -> Task:
    """Steps the task added to its plan while it ran (resolving a conflict)."""
    data = rec.event.data
    assert task.plan is not None
    plan = {**task.plan, "steps": [*task.plan["steps"], *data["steps"]],
            "tree": [*task.plan.get("tree", []), *data.get("tree", [])]}
    added = tuple(
        StepState(s["id"], s["name"], s["worker"], tuple(s["after"]), bool(s["idempotent"]), int(s["retries"]))
        for s in data["steps"]
    )
    return replace(task, plan=plan, steps=task.steps + added)


def _resulted(task: Task, rec: Recorded) -> Task:
    step_id, data = rec.event.links.get("step"), rec.event.data
    if not step_id:
        return task
    current = task.step(step_id)
    return _set_step(task, step_id, status=str(data["status"]), reason=str(data.get("reason", "")),
                     events=current.events + (rec.oid,),
                     collapse=str(data.get("collapse", {}).get("outcome", "")))


# What each kind of event does to the task it links; other kinds only join its events.
_APPLY: dict[str, Callable[[Task, Recorded], Task]] = {
    "plan": _planned,
    "extend": _extended,
    "sws-new": lambda task, rec: replace(task, sws=rec.event.links.get("sws")),
    "dispatch": _dispatched,
    "result": _resulted,
    "collapse": lambda task, rec: replace(task, system=str(rec.event.data["commit"])),
    "cancel": lambda task, rec: replace(task, cancelled=str(rec.event.data.get("reason") or "")),
}


def _encode(tasks: Mapping[str, Task]) -> list[Any]:
    return [[t.id, t.intent, t.task, list(t.args), t.matched, t.method, t.plan, t.sws,
             [[s.id, s.name, s.worker, list(s.after), s.idempotent, s.retries, s.status, s.attempts, s.reason,
               list(s.events), s.collapse] for s in t.steps],
             t.system, list(t.events), t.cancelled, t.config] for t in tasks.values()]


def _decode(rows: list[Any]) -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for (tid, intent, task, args, matched, method, plan, sws, steps, system, events, cancelled, config) in rows:
        states = tuple(StepState(sid, name, worker, tuple(after), idempotent, retries, status, attempts, reason,
                                 tuple(step_events), collapse)
                       for (sid, name, worker, after, idempotent, retries, status, attempts, reason, step_events,
                            collapse) in steps)
        tasks[tid] = Task(tid, intent, task, tuple(args), matched, method, plan, sws, states, system, tuple(events),
                          cancelled, config)
    return tasks


TASKS = folds.Fold("tasks", (__name__,), dict, lambda start, records: fold(records, start), _encode, _decode)


def tasks_of(repo: Repo, ref: str = HISTORY_REF) -> Mapping[str, Task]:
    """Every task, by id, from the last checkpoint (`kernel.record.folds`); do
    not change it. `ref`: another clone's history, as fetched."""
    return folds.folded(repo, TASKS, ref)


def load(repo: Repo, tid: str) -> Task:
    found = tasks_of(repo)
    if tid not in found:
        known = ", ".join(sorted(found, key=lambda t: int(t[1:]))) or "none"
        raise NotFound(f"no task {tid!r}; tasks: {known} (see `jitos status`)")
    return found[tid]


def live_state(repo: Repo, task: Task) -> str:
    """The task's state, with `running` tasks whose process is gone shown as interrupted."""
    if task.state == RUNNING and not is_live(repo, task.id):
        return INTERRUPTED
    return task.state


def exit_code(task: Task, state: str) -> int:
    """How `jitos intent` and `resume` end for `task` in `state` (its live state):
    0 done, waiting on a person, or planned; 2 interrupted (a person must decide:
    `resume --retry-step`); 3 its collapse met a conflict; 4 a step or the gate failed."""
    if state == INTERRUPTED:
        return EXIT_BAD_INPUT
    if state == FAILED:
        return EXIT_CONFLICT if task.blocked_by_conflict else EXIT_GATE_RED
    return EXIT_OK


def all_tasks(repo: Repo) -> list[Task]:
    return list(tasks_of(repo).values())
