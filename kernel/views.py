"""The read-only views, folded from history: `status` (with a collapse
prediction per workspace, merged in memory), `log` and `why` — over this
clone's history and every history fetched from other clones
(`kernel.record.clones`), whose workspaces and tasks are named `s1@<clone>`.

Nothing else: a view never writes (no object, ref or file), never takes the
jitos lock and never prints; it returns frozen values for the command line.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kernel.base.repo import Repo, resolve_commit
from kernel.errors import JitosError, NotFound
from kernel.land.merge import conflicts
from kernel.land.update import unresolved
from kernel.record import clones, history, refs, state
from kernel.tasks.model import Task, all_tasks, live_state, load, tasks_of
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
    clone: str | None = None  # the other clone whose history holds it; None: this clone's


@dataclass(frozen=True, slots=True)
class Other:
    """What another clone's fetched history holds: its active workspaces and its tasks."""

    clone: str
    history: str
    events: int
    system: str
    workspaces: tuple[dict[str, Any], ...]
    tasks: tuple[dict[str, Any], ...]


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
    others: tuple[Other, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    """Whether a workspace's recorded head would collapse onto the current system."""

    clean: bool  # no conflict (which is not the same as ready: see `state`)
    rebase: bool
    conflicts: tuple[str, ...]
    unresolved: tuple[str, ...] = ()  # files still holding the conflict markers `sws update` wrote
    state: str = "no-conflict"  # one of PREDICTED
    next: str = ""  # the command to run next


#: What `status` says of a workspace, most pressing first.
PREDICTED = ("markers", "conflict", "empty", "task-failed", "gate-failed", "gate-passed", "no-conflict")


def _entry(rec: history.Recorded, clone: str | None = None) -> LogEntry:
    event = rec.event
    return LogEntry(rec.oid, event.seq, event.kind, event.summary, event.time, dict(event.links), dict(event.data),
                    clone)


def others(repo: Repo) -> tuple[Other, ...]:
    """Every other clone's fetched history, folded (ids qualified `s1@<clone>`)."""
    found = []
    for clone in clones.known(repo):
        ref = history.history_ref(clone)
        st = state.current(repo, ref)
        workspaces = tuple({"id": clones.qualified(s.id, clone), "name": s.name, "base": s.base, "head": s.head,
                            "state": s.state, "clone": clone}
                           for s in st.sws.values() if s.state == state.SWS_ACTIVE)
        tasks = tuple({"id": clones.qualified(t.id, clone), "intent": t.intent, "task": t.task, "state": t.state,
                       "why": t.why(), "sws": clones.qualified(t.sws, clone) if t.sws else None, "clone": clone}
                      for t in tasks_of(repo, ref).values())
        found.append(Other(clone, st.head or "", st.seq, st.system or "", workspaces, tasks))
    return tuple(found)


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
    tasks = task_summaries(repo)
    failed = {t["sws"]: t for t in tasks if t["sws"] and t["state"] in ("failed", "interrupted")}
    gated = _gate_results(repo, st.head) if active else {}
    predictions = {sws.id: _predict(repo, sws, target, failed.get(sws.id), gated) for sws in active}
    workspaces = tuple(view(repo, s) for s in active)
    return Status(st.system or "", st.branch or "", st.head or "", st.seq, workspaces, tasks,
                  predictions, choice(repo), others(repo))


def _gate_results(repo: Repo, head: str | None) -> dict[str, bool]:
    """Tree → whether the latest gate run on it (with the configured gate, when one is) passed."""
    wanted = repo.config().gate_command
    found: dict[str, bool] = {}
    for rec in history.events(repo):
        event = rec.event
        if event.kind in ("gate-passed", "gate-failed") and isinstance(event.data.get("tree"), str) and (
                not wanted or tuple(event.data.get("command", ())) == wanted):
            found[event.data["tree"]] = event.kind == "gate-passed"
    return found


def _predict(repo: Repo, sws: state.Sws, target: str | None, failed: dict[str, Any] | None,
             gated: dict[str, bool]) -> Prediction:
    """What collapsing the workspace's recorded head onto `target` would meet,
    merged in memory, and what to do next."""
    clash = tuple(conflicts(repo, sws.base, target, sws.head)) if target and sws.base != target else ()
    left = tuple(unresolved(repo, sws))
    rebase = sws.base != target
    it = sws.id
    # a re-base's tree is not known without writing it; git is read only when some gate ever ran
    tree = repo.tree_of(sws.head) if not rebase and gated and sws.head != sws.base else None
    if left:
        what, step = "markers", f"resolve the markers, then `jitos sws snapshot {it}` and `jitos collapse {it}`"
    elif clash:
        what, step = "conflict", f"`jitos sws update {it}` (writes the conflicts in for you), resolve, snapshot"
    elif sws.head == sws.base:
        what, step = "empty", f"edit it (`jitos sws shell {it}`), then `jitos sws snapshot {it}`"
    elif failed is not None:
        what, step = "task-failed", f"`jitos why {failed['id']}`"
    elif tree is not None and gated.get(tree) is False:
        what, step = "gate-failed", f"`jitos why {it}` (the gate's log), fix, snapshot"
    elif tree is not None and gated.get(tree):
        what, step = "gate-passed", f"`jitos collapse {it}` (the gate already passed on this tree)"
    else:
        what, step = "no-conflict", f"`jitos collapse {it}` (runs the gate)"
    return Prediction(not clash and not left, rebase, clash, left, what, step)


def log(repo: Repo, limit: int | None = None, sws: str | None = None, task: str | None = None) -> list[LogEntry]:
    """Events newest first, of this clone and of every other clone fetched
    (by time; ties by clone, then sequence), optionally only those linked to
    one workspace (id or name; `s1@<clone>`) or task; an unknown one is bad input."""
    clone = None
    if sws is not None:
        local, clone = clones.split(sws)
        sws = find(_state_of(repo, clone), local).id
    if task is not None:
        local, clone = clones.split(task)
        task = _task(repo, local, clone).id
    sources = [clone] if sws is not None or task is not None else [None, *clones.known(repo)]
    if None in sources:
        history.require(repo)
    entries: list[LogEntry] = []
    for c, rec in heapq.merge(*(_labelled(repo, c) for c in sources),
                               key=lambda item: (-item[1].event.time, item[0] or "", -item[1].event.seq)):
        event = rec.event
        if sws is not None and event.links.get("sws") != sws:
            continue
        if task is not None and event.links.get("task") != task:
            continue
        entries.append(_entry(rec, c))
        if limit is not None and len(entries) >= limit:
            break
    return entries


def _labelled(repo: Repo, clone: str | None) -> Iterator[tuple[str | None, history.Recorded]]:
    for rec in history.walk(repo, ref=history.history_ref(clone)):
        yield clone, rec


def _state_of(repo: Repo, clone: str | None) -> state.State:
    if clone is None:
        return state.load(repo)
    _known(repo, clone)
    return state.current(repo, history.history_ref(clone))


def _task(repo: Repo, tid: str, clone: str | None) -> Task:
    if clone is None:
        return load(repo, tid)
    _known(repo, clone)
    found = tasks_of(repo, history.history_ref(clone))
    if tid not in found:
        raise NotFound(f"no task {tid!r} in the history fetched from clone {clone!r} (see `jitos status`)")
    return found[tid]


def _known(repo: Repo, clone: str) -> None:
    if clone not in clones.known(repo):
        fetched = ", ".join(clones.known(repo)) or "none"
        raise NotFound(f"no history fetched from a clone named {clone!r} (fetched: {fetched}); `jitos fetch` first")


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
    """Explain a task (t1), a step (t1/STEP or t1:STEP), a workspace (s1 or its
    name) — `…@<clone>` for one fetched from another clone — or a commit on
    the branch (any id git resolves), from the history that landed it."""
    local, clone = clones.split(key)
    task_id, sep, step_id = local.replace(":", "/").partition("/")
    is_task = task_id.startswith("t") and task_id[1:].isdigit()
    if clone is None and not is_task and _commit_like(repo, key):
        return why_commit(repo, key)
    if clone is None:
        history.require(repo)
    entries = [_entry(r, clone) for r in history.events(repo, history.history_ref(clone))] \
        if clone is None or clone in clones.known(repo) else []
    if not is_task:
        return _why_workspace(repo, local, clone, entries)
    task = _task(repo, task_id, clone)
    if sep:
        return _why_step(task, step_id, entries, clone)
    return _why_task(repo, task, entries, clone)


_HEX = re.compile(r"[0-9a-f]{4,64}\Z")


def _commit_like(repo: Repo, key: str) -> bool:
    """Whether `key` names a commit and no workspace of this clone."""
    if not _HEX.match(key) and not key.startswith(("HEAD", "refs/")) and "~" not in key and "^" not in key:
        return False
    if history.head(repo) is not None and any(s.id == key or s.name == key for s in state.load(repo).sws.values()):
        return False
    try:
        resolve_commit(repo, key)
    except JitosError:
        return False
    return True


def why_commit(repo: Repo, rev: str) -> Why:
    """How a commit came to be on the branch: the collapse that landed it (in
    whichever known history recorded it), with the gate that passed on exactly
    its tree, or the adoption of commits made outside jitos."""
    commit = str(resolve_commit(repo, rev).id)
    found = landing(repo, commit)
    if found is None:
        return Why(f"commit {commit[:12]}", "unrecorded",
                   f"commit {commit[:12]} was not landed by jitos in any history this clone has "
                   f"(this clone's, or fetched: {', '.join(clones.known(repo)) or 'none'}); it was made "
                   "outside jitos and not yet adopted, or its history was not fetched (`jitos fetch`)", (), ())
    return found.why()


@dataclass(frozen=True, slots=True)
class Landing:
    """The record of how one commit reached the branch."""

    commit: str
    how: str  # gated | ungated | adopted
    event: LogEntry  # the collapse or adopt event
    gate: LogEntry | None  # the gate-passed event the collapse relied on, when its tree is the commit's
    clone: str | None
    task: dict[str, str]  # intent, task, step, as the collapse recorded them

    @property
    def origin(self) -> str:
        return "this clone" if self.clone is None else f"clone {self.clone}"

    def describe(self) -> str:
        e = self.event
        if self.how == "adopted":
            return (f"commit {self.commit[:12]} was made outside jitos and adopted (event {e.seq} on "
                    f"{self.origin}): no gate ran on it")
        who = clones.qualified(e.links.get("sws", "?"), self.clone)
        said = " ".join(f"{k} {v!r}" if k == "intent" else f"{k} {v}" for k, v in self.task.items())
        head = f"commit {self.commit[:12]} landed by the collapse of workspace {who}" + (f" ({said})" if said else "")
        if self.how == "gated":
            assert self.gate is not None
            command = " ".join(self.gate.data.get("command") or [])
            return (f"{head}, event {e.seq} on {self.origin}; gate `{command}` passed on exactly its tree "
                    f"{str(e.data.get('tree'))[:12]} (event {self.gate.seq})")
        reason = e.data.get("gate_skipped") or "no gate result on exactly its tree"
        return f"{head}, event {e.seq} on {self.origin}; not gated: {reason}"

    def why(self) -> Why:
        events = (self.event,) + ((self.gate,) if self.gate else ())
        return Why(f"commit {self.commit[:12]}", self.how, self.describe(), events, _artifacts(list(events)))


def histories(repo: Repo) -> list[str | None]:
    """Every history this clone has: its own (None) when set up, then each fetched one."""
    return ([None] if history.head(repo) else []) + list(clones.known(repo))


@dataclass(frozen=True, slots=True)
class _Landings:
    """Every history's collapses by the commit they made, and its adoptions:
    read once per process for as long as no history moves."""

    heads: tuple[str | None, ...]
    collapses: dict[str, tuple[history.Recorded, str | None]]
    adoptions: tuple[tuple[history.Recorded, str | None], ...]
    by_oid: dict[tuple[str | None, str], history.Recorded]
    inits: tuple[str, ...]


_landings: dict[str, _Landings] = {}


def _all_landings(repo: Repo) -> _Landings:
    sources = histories(repo)
    heads = tuple(history.head(repo, history.history_ref(c)) for c in sources)
    known = _landings.get(str(repo.common_dir))
    if known is not None and known.heads == heads:
        return known
    collapses: dict[str, tuple[history.Recorded, str | None]] = {}
    adoptions: list[tuple[history.Recorded, str | None]] = []
    by_oid: dict[tuple[str | None, str], history.Recorded] = {}
    inits: list[str] = []
    for clone in sources:
        records = history.events(repo, history.history_ref(clone))
        for rec in records:
            by_oid[(clone, rec.oid)] = rec
            made = rec.event.data.get("commit")
            if rec.event.kind == "collapse" and isinstance(made, str):
                collapses.setdefault(made, (rec, clone))  # this clone's first, then in order
            elif rec.event.kind == "adopt":
                adoptions.append((rec, clone))
        if records and records[0].event.kind == "init":
            system = records[0].event.refs.get(history.SYSTEM_REF)
            if isinstance(system, str):
                inits.append(system)
    found = _Landings(heads, collapses, tuple(adoptions), by_oid, tuple(inits))
    _landings[str(repo.common_dir)] = found
    return found


def landing(repo: Repo, commit: str) -> Landing | None:
    """How `commit` reached the branch, from every known history: the collapse
    that made it (whichever clone recorded it), else an adoption of it (a
    clone that pulled another's collapse adopts it too); None: no history
    recorded it."""
    known = _all_landings(repo)
    if commit in known.collapses:
        rec, clone = known.collapses[commit]
        return _collapse_landing(repo, commit, rec, known, clone)
    for rec, clone in known.adoptions:
        if _adopted(repo, commit, rec.event.data):
            return Landing(commit, "adopted", _entry(rec, clone), None, clone, {})
    return None


def started_at(repo: Repo) -> tuple[str, ...]:
    """The system commits jitos was set up on, one per known history."""
    return _all_landings(repo).inits


def _collapse_landing(repo: Repo, commit: str, rec: history.Recorded, known: _Landings,
                      clone: str | None) -> Landing:
    data = rec.event.data
    gate = data.get("gate") if isinstance(data.get("gate"), dict) else None
    gate_event = known.by_oid.get((clone, gate.get("event", ""))) if gate else None
    tree = repo.tree_of(commit)
    exact = (gate_event is not None and gate_event.event.kind == "gate-passed"
             and gate_event.event.data.get("tree") == tree == data.get("tree"))
    said = {k: str(rec.event.links[k]) for k in ("task", "step") if k in rec.event.links}
    task = tasks_of(repo, history.history_ref(clone)).get(said.get("task", ""))
    if task is not None:
        said = {"intent": " ".join(task.intent.split()), **said, "task": clones.qualified(task.id, clone)}
    return Landing(commit, "gated" if exact else "ungated", _entry(rec, clone),
                   _entry(gate_event, clone) if exact and gate_event else None, clone, said)


def _adopted(repo: Repo, commit: str, data: dict[str, Any] | Any) -> bool:
    """Whether an adopt event took in `commit`: reachable from where it adopted
    to, not from where the system was."""
    to, was = data.get("to"), data.get("from")
    if not isinstance(to, str):
        return False
    try:
        inside = to == commit or repo.git.descendant_of(to, commit)
        before = isinstance(was, str) and (was == commit or repo.git.descendant_of(was, commit))
    except (KeyError, ValueError):
        return False
    return bool(inside and not before)


def _why_step(task: Task, step_id: str, entries: list[LogEntry], clone: str | None = None) -> Why:
    try:
        step = task.step(step_id)
    except KeyError:
        steps = ", ".join(s.id for s in task.steps)
        raise NotFound(f"task {task.id} has no step {step_id!r}; its steps: {steps}") from None
    mine = [e for e in entries if e.links.get("task") == task.id and e.links.get("step") == step.id]
    answer = f"step {step.id} ({step.worker}) of task {task.id} is {step.status}" + (
        f": {step.reason}" if step.reason else "") + f"; it runs because {_because(task, step.id)}"
    return Why(f"step {clones.qualified(task.id, clone)}/{step.id}", step.status, answer, tuple(mine),
               _artifacts(mine))


def _why_task(repo: Repo, task: Task, entries: list[LogEntry], clone: str | None = None) -> Why:
    mine = [e for e in entries if e.links.get("task") == task.id]
    if clone is not None:  # another clone's: whether its process runs is not known here
        answer = f"task {task.id}@{clone} \"{' '.join(task.intent.split())}\" → {task.task} by method " \
                 f"{task.method or '?'}: {task.why()} (as fetched from clone {clone})"
        return Why(f"task {task.id}@{clone}", task.state, answer, tuple(mine), _artifacts(mine))
    live = live_state(repo, task)
    answer = f"task {task.id} \"{' '.join(task.intent.split())}\" → {task.task} by method {task.method or '?'}: " + (
        task.why() if live == task.state else "interrupted: no process is running it")
    if live == "waiting" and task.sws:
        answer += f" (work in {workspace_path(repo, task.sws)})"
    return Why(f"task {task.id}", live, answer, tuple(mine), _artifacts(mine))


def _why_workspace(repo: Repo, key: str, clone: str | None, entries: list[LogEntry]) -> Why:
    ws = find(_state_of(repo, clone), key)
    name = clones.qualified(ws.id, clone)
    mine = [e for e in entries if e.links.get("sws") == ws.id]
    created = next((e for e in mine if e.kind == "sws-new"), None)
    origin = f"made for task {created.links['task']}" if created and "task" in created.links else "made by hand"
    if clone is not None:
        origin += f" on clone {clone}"
    last = mine[-1] if mine else None
    answer = f"workspace {name} is {ws.state}; {origin}" + (f"; last: {last.summary}" if last else "")
    return Why(f"workspace {name}", ws.state, answer, tuple(mine), _artifacts(mine))


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
