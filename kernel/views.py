"""The read-only views, folded from history: `status` (with a collapse
prediction per workspace, merged in memory), `log` and `why`.

Nothing else: a view never writes (no object, ref or file), never takes the
jitos lock and never prints; it returns frozen values for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel.base.repo import Repo
from kernel.errors import NotFound
from kernel.land.merge import conflicts
from kernel.land.update import unresolved
from kernel.record import history, refs, state
from kernel.tasks.model import Task, all_tasks, live_state, load
from kernel.workspace.backend import Choice, choice
from kernel.workspace.sws import Workspace, find, view, workspace_path


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: str
    seq: int
    kind: str
    summary: str
    time: int
    links: dict[str, str]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Status:
    system: str
    branch: str
    history: str
    events: int
    workspaces: tuple[Workspace, ...]
    tasks: tuple[dict[str, Any], ...]
    predictions: dict[str, Prediction]
    backend: Choice  # what new workspaces get, how isolated, and why not overlay


@dataclass(frozen=True, slots=True)
class Prediction:
    """Whether a workspace's recorded head would collapse onto the current system."""

    clean: bool
    rebase: bool
    conflicts: tuple[str, ...]
    unresolved: tuple[str, ...] = ()  # files still holding the conflict markers `sws update` wrote


def _entry(rec: history.Recorded) -> LogEntry:
    event = rec.event
    return LogEntry(rec.oid, event.seq, event.kind, event.summary, event.time, dict(event.links), dict(event.data))


def task_summaries(repo: Repo) -> tuple[dict[str, Any], ...]:
    out = []
    for task in all_tasks(repo):
        live = live_state(repo, task)
        why = task.why() if live == task.state else f"interrupted: no process is running it — `jitos resume {task.id}`"
        out.append({"id": task.id, "intent": task.intent, "task": task.task, "state": live, "why": why,
                    "sws": task.sws, "system": task.system})
    return tuple(out)


def status(repo: Repo) -> Status:
    st = state.load(repo)
    active = [s for s in st.sws.values() if s.state == state.SWS_ACTIVE]
    # A collapse adopts commits made on the branch first, so predict against its tip.
    target = refs.read(repo, f"refs/heads/{st.branch}") or st.system
    predictions = {sws.id: _predict(repo, sws, target) for sws in active}
    workspaces = tuple(view(repo, s) for s in active)
    return Status(st.system or "", st.branch or "", st.head or "", st.seq, workspaces, task_summaries(repo),
                  predictions, choice(repo))


def _predict(repo: Repo, sws: state.Sws, target: str | None) -> Prediction:
    """What collapsing the workspace's recorded head onto `target` would meet, merged in memory."""
    clash = tuple(conflicts(repo, sws.base, target, sws.head)) if target and sws.base != target else ()
    left = tuple(unresolved(repo, sws))
    return Prediction(not clash and not left, sws.base != target, clash, left)


def log(repo: Repo, limit: int | None = None, sws: str | None = None, task: str | None = None) -> list[LogEntry]:
    """Events newest first, optionally only those linked to one workspace (id or
    name) or task; an unknown one is bad input."""
    history.require(repo)
    if sws is not None:
        sws = find(state.load(repo), sws).id
    if task is not None:
        task = load(repo, task).id
    entries: list[LogEntry] = []
    for rec in history.walk(repo):
        event = rec.event
        if sws is not None and event.links.get("sws") != sws:
            continue
        if task is not None and event.links.get("task") != task:
            continue
        entries.append(_entry(rec))
        if limit is not None and len(entries) >= limit:
            break
    return entries


@dataclass(frozen=True, slots=True)
class Why:
    """The answer to `jitos why ID`: what the subject is, its state, the reason,
    and the events and stored artifacts behind it (oldest first)."""

    subject: str
    state: str
    answer: str
    events: tuple[LogEntry, ...]
    artifacts: tuple[tuple[str, str], ...]


ARTIFACT_KEYS = ("stdout", "stderr", "log")
EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"  # blake3 of no bytes


def why(repo: Repo, key: str) -> Why:
    """Explain a task (t1), a step (t1/STEP or t1:STEP) or a workspace (s1 or its name)."""
    history.require(repo)
    task_id, sep, step_id = key.replace(":", "/").partition("/")
    entries = [_entry(r) for r in history.events(repo)]
    if not (task_id.startswith("t") and task_id[1:].isdigit()):
        return _why_workspace(repo, key, entries)
    task = load(repo, task_id)
    if sep:
        return _why_step(task, step_id, entries)
    return _why_task(repo, task, entries)


def _why_step(task: Task, step_id: str, entries: list[LogEntry]) -> Why:
    try:
        step = task.step(step_id)
    except KeyError:
        steps = ", ".join(s.id for s in task.steps)
        raise NotFound(f"task {task.id} has no step {step_id!r}; its steps: {steps}") from None
    mine = [e for e in entries if e.links.get("task") == task.id and e.links.get("step") == step.id]
    answer = f"step {step.id} ({step.worker}) of task {task.id} is {step.status}" + (
        f": {step.reason}" if step.reason else "") + f"; it runs because {_because(task, step.id)}"
    return Why(f"step {task.id}/{step.id}", step.status, answer, tuple(mine), _artifacts(mine))


def _why_task(repo: Repo, task: Task, entries: list[LogEntry]) -> Why:
    mine = [e for e in entries if e.links.get("task") == task.id]
    live = live_state(repo, task)
    answer = f"task {task.id} \"{' '.join(task.intent.split())}\" → {task.task} by method {task.method or '?'}: " + (
        task.why() if live == task.state else "interrupted: no process is running it")
    if live == "waiting" and task.sws:
        answer += f" (work in {workspace_path(repo, task.sws)})"
    return Why(f"task {task.id}", live, answer, tuple(mine), _artifacts(mine))


def _why_workspace(repo: Repo, key: str, entries: list[LogEntry]) -> Why:
    ws = find(state.load(repo), key)
    mine = [e for e in entries if e.links.get("sws") == ws.id]
    created = next((e for e in mine if e.kind == "sws-new"), None)
    origin = f"made for task {created.links['task']}" if created and "task" in created.links else "made by hand"
    last = mine[-1] if mine else None
    answer = f"workspace {ws.id} is {ws.state}; {origin}" + (f"; last: {last.summary}" if last else "")
    return Why(f"workspace {ws.id}", ws.state, answer, tuple(mine), _artifacts(mine))


def _because(task: Task, step_id: str) -> str:
    """The chain of decompositions that put a step in the plan, up to the intent."""
    assert task.plan is not None
    tree = {d["id"]: d for d in task.plan["tree"]}
    chain = []
    parent = task.plan_step(step_id)["parent"]
    while parent in tree:
        node = tree[parent]
        chain.append(f"{node['task']} (method {node['method']})")
        parent = node["parent"]
    chain.append(f"the intent \"{task.intent}\"")
    return " ← ".join(chain)


def _artifacts(entries: list[LogEntry]) -> tuple[tuple[str, str], ...]:
    found = []
    for e in entries:
        for key in ARTIFACT_KEYS:
            value = e.data.get(key)
            if isinstance(value, str) and value != EMPTY:
                found.append((f"{e.kind} {e.links.get('step', e.links.get('sws', ''))} {key}".strip(), value))
    return tuple(found)
