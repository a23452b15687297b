"""Run a task's plan in its workspace.

Steps run when their dependencies are done, through the worker their step
names; each attempt is a `dispatch` event and a `result` event, the result
carrying a snapshot of the workspace when the step may write it
(`workspace:write`, built-in snapshots, people). With `-j N`, consecutive
runnable read-only, idempotent steps run together, but their events are
recorded in the canonical step order exactly as `-j 1` would record them, so
history is the same either way. Scheduling uses only history (its sequence
numbers are the ticks); the wall clock only feeds progress reports.

One process runs a task at a time (a lock per task); resume after a crash
finds in-flight steps in history and re-runs them only when idempotent (a
collapse step is done if its collapse event is in history, and runs again
otherwise: a collapse is all or nothing). What a step must leave alone is
checked around it (`kernel.tasks.guard`).

It never prints (progress goes to the caller's function) and never reads a
task's state from anywhere but history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from kernel.base.config import from_raw, governed_by
from kernel.base.repo import Repo
from kernel.errors import BadInput, JitosError
from kernel.land import collapse
from kernel.land.gate import GatePolicy
from kernel.record import history, state
from kernel.record.locks import task_lock
from kernel.tasks import guard, workers
from kernel.tasks import model as tasks
from kernel.tasks.workers import Interrupted, Outcome, running_steps
from kernel.workspace import checkout, sws
from kernel.workspace.backend import for_path

RESOLVE_PREFIX = "resolve-conflict."  # the ids of steps a task adds to resolve its collapse's conflict


@dataclass(frozen=True, slots=True)
class Progress:
    """A report for whoever watches: `start` or `done` of a step (never recorded)."""

    event: str
    task: str
    step: str
    worker: str
    index: int
    total: int
    status: str = ""
    reason: str = ""
    seconds: float = 0.0


ProgressFn = Callable[[Progress], None]


def _writes(step: Mapping[str, Any]) -> bool:
    return "workspace:write" in step["capabilities"] or step["worker"] in ("snapshot", "human")


def _batchable(step: Mapping[str, Any]) -> bool:
    return step["worker"] == "shell" and step["idempotent"] and not _writes(step)


class Runner:
    def __init__(self, repo: Repo, tid: str, jobs: int, progress: ProgressFn | None) -> None:
        self.repo = repo
        self.tid = tid
        self.jobs = max(1, jobs)
        self.progress = progress or (lambda _: None)
        self.config: Mapping[str, Any] = {}

    def load(self) -> tasks.Task:
        return tasks.tasks_of(self.repo)[self.tid]

    # -- recording ---------------------------------------------------------

    def _links(self, step_id: str) -> dict[str, str]:
        return {"task": self.tid, "step": step_id}

    def dispatch(self, task: tasks.Task, ps: Mapping[str, Any], attempt: int) -> None:
        with checkout.ledger(self.repo) as ledger:
            ledger.record(
                "dispatch",
                f"task {self.tid} step {ps['id']}: dispatched to {ps['worker']}"
                + (f" (attempt {attempt})" if attempt > 1 else ""),
                data={"step": ps["id"], "name": ps["name"], "worker": ps["worker"], "attempt": attempt,
                      "argv": list(ps["argv"]), "prompt": ps["prompt"]},
                links={"sws": task.sws or "", **self._links(ps["id"])},
            )

    def result(self, task: tasks.Task, ps: Mapping[str, Any], attempt: int, outcome: Outcome,
               extra: Mapping[str, Any] | None = None) -> None:
        data: dict[str, object] = {"step": ps["id"], "status": outcome.status, "attempt": attempt,
                                   "reason": outcome.reason, "exit": outcome.exit_code,
                                   "stdout": outcome.stdout, "stderr": outcome.stderr, **(extra or {})}
        data = {k: v for k, v in data.items() if v is not None}
        summary = f"task {self.tid} step {ps['id']}: {outcome.status} — {outcome.reason}"
        with checkout.ledger(self.repo) as ledger:
            current = ledger.state.sws.get(task.sws or "")
            if _writes(ps) and current is not None and current.state == state.SWS_ACTIVE:
                label = f"{ps['id']}: {ps['name']}" + (f" {ps['args'][0]}" if ps["args"] else "")
                sws.record_changes(self.repo, ledger, current, label=label[:72], kind="result", extra=data,
                                   links=self._links(ps["id"]), summary=summary)
            else:
                ledger.record("result", summary, data=data,
                              links={"sws": task.sws or "", **self._links(ps["id"])})

    # -- performing --------------------------------------------------------

    def perform(self, task: tasks.Task, ps: Mapping[str, Any]) -> tuple[Outcome, dict[str, Any]]:
        worker = ps["worker"]
        if worker in workers.PROCESS_WORKERS:
            return self._process(task, ps), {}
        if worker == "collapse":
            return self._collapse(task, ps)
        return Outcome("ok", "recorded" if worker == "snapshot" else "nothing to run"), {}

    def _process(self, task: tasks.Task, ps: Mapping[str, Any]) -> Outcome:
        kind = ps["worker"]
        assert task.sws is not None
        cwd = sws.workspace_path(self.repo, task.sws)
        env = workers.environment(self.config, kind, {
            "JITOS_TASK": self.tid, "JITOS_STEP": ps["id"], "JITOS_STEP_NAME": ps["name"], "JITOS_SWS": task.sws,
            "JITOS_INTENT": task.intent, "JITOS_INSTRUCTION": ps["args"][0] if ps["args"] else "",
        })
        timeout = workers.worker_config(self.config, kind).get("timeout", workers.DEFAULT_TIMEOUT[kind])
        pid_file = running_steps(self.repo, self.tid) / f"{ps['id']}.pid"
        try:
            before = guard.take(self.repo, task.sws)
            sws.settle_before_running(self.repo, task.sws)
        except JitosError as err:  # recorded as the step's outcome: it never stays in flight
            return Outcome("failed", f"could not start: {err.message}", final=True)
        try:
            # Steps that run as a group only read: each writes to a private folder, discarded.
            with sws.private_writes(self.repo, task.sws, ps["id"]) if _batchable(ps) else nullcontext() as private:
                argv = for_path(self.repo, cwd).command(self.repo, cwd, list(ps["argv"]),
                                                        network="network" in ps["capabilities"], private=private)
                outcome = workers.run_process(self.repo, argv, cwd, env, float(timeout), ps["expect"], pid_file)
        except JitosError as err:
            return Outcome("failed", f"could not start: {err.message}", final=True)
        except (KeyboardInterrupt, Interrupted):
            guard.check(self.repo, before, self.tid, ps["id"])  # put back what it broke, then stop
            raise
        broke = guard.check(self.repo, before, self.tid, ps["id"])
        refused = workers.read_only_write(self.repo, outcome)
        if refused is not None:
            broke.insert(0, f"wrote outside its workspace, which is read-only in its view ({refused})")
        if broke:
            return Outcome("failed", "refused: it " + "; it ".join(broke), outcome.exit_code,
                           outcome.stdout, outcome.stderr, final=True)
        return outcome

    def _collapse(self, task: tasks.Task, ps: Mapping[str, Any]) -> tuple[Outcome, dict[str, Any]]:
        assert task.sws is not None
        result = collapse.collapse(
            self.repo, task.sws, GatePolicy.from_options(self.repo, argv=tuple(ps["argv"]) or None,
                                                         config=from_raw(dict(self.config))),
            message=_collapse_message(task),
            provenance={"intent": task.intent, "task": self.tid, "step": ps["id"]},
        )
        extra = {"collapse": {"outcome": result.outcome, "system": result.system,
                              "conflicts": list(result.conflicts),
                              **({"conflict_details": [c.record() for c in result.details]} if result.details
                                 else {})}}
        if result.committed:
            return Outcome("ok", f"landed as {result.system[:12]}"), extra
        if result.outcome == "empty":
            return Outcome("ok", "nothing to land: the workspace adds nothing to the system"), extra
        if result.outcome == "gate-failed" and result.gate is not None:
            reason = f"gate failed: {' '.join(result.gate.command)} (exit {result.gate.exit_code})"
        elif result.outcome == "conflict":
            ws = task.sws
            found = ', '.join(d.describe() for d in result.details[:5])
            added = self._resolve_conflict(task, ps)
            if added:
                return Outcome("superseded", f"conflict: {found} — written into the workspace by `sws update`; "
                                             f"the task resolves it in step(s) {', '.join(added)}"), extra
            fix = f"`jitos sws update {ws}` writes it into the workspace; resolve it" \
                if all(d.kind == "content" for d in result.details) else \
                f"put the version you want into the workspace ({sws.workspace_path(self.repo, ws)})"
            reason = (f"conflict: {found} — {fix}, `jitos sws snapshot {ws}`, then "
                      f"`jitos resume {self.tid} --retry-step`")
        else:
            reason = f"{result.outcome}: {', '.join(result.conflicts[:5])}"
        return Outcome("failed", reason), extra

    def _resolve_conflict(self, task: tasks.Task, ps: Mapping[str, Any]) -> list[str]:
        """After the collapse step `ps` met a conflict: bring the workspace onto
        the system with the conflicts written into it (`sws update`) and, when
        the methods provide `resolve-conflict`, add its steps to the plan (an
        `extend` event). Once per task; a collapse step re-run after a crash
        finds the steps already added. Their ids; none when there are none."""
        from kernel.land.update import update
        from kernel.planner.model import TaskCall
        from kernel.planner.render import plan_dict
        from kernel.planner.request import plan_request

        assert task.sws is not None
        if ps["id"].startswith(RESOLVE_PREFIX):
            return []  # the added collapse met a conflict again: a person takes it from here
        added = [s.id for s in task.steps if s.id.startswith(RESOLVE_PREFIX)]
        if added:
            return added  # added before a crash cut this step short: they still resolve it
        try:
            planned = plan_request("", task=TaskCall("resolve-conflict", ("the conflicting files",)), cwd=self.repo.workdir,
                                   max_plans=1, config=dict(self.config))
        except JitosError:
            return []  # the methods have no resolve-conflict: a person takes it from here
        if not planned.result.plans:
            return []
        updated = update(self.repo, task.sws, task=self.tid)
        if updated.outcome != "conflict":
            return []
        described = ", ".join(c.describe() for c in updated.conflicts)
        planned = plan_request("", task=TaskCall("resolve-conflict", (described,)), cwd=self.repo.workdir,
                               max_plans=1, config=dict(self.config))
        plan = plan_dict(planned.result.plans[0])
        rename = {s["id"]: RESOLVE_PREFIX + s["id"] for s in plan["steps"]}
        rename.update({d["id"]: RESOLVE_PREFIX + d["id"] for d in plan["tree"]})
        steps = [{**s, "id": rename[s["id"]], "after": [rename[a] for a in s["after"]],
                  "parent": rename.get(s.get("parent"), s.get("parent"))} for s in plan["steps"]]
        tree = [{**d, "id": rename[d["id"]], "parent": rename.get(d["parent"], ps["parent"]),
                 "children": [rename[c] for c in d["children"]]} for d in plan["tree"]]
        with checkout.ledger(self.repo) as ledger:
            ledger.record("extend", f"task {self.tid}: resolve the conflict in {described[:60]} "
                                    f"({len(steps)} step(s) added)",
                          data={"steps": steps, "tree": tree, "replaces": ps["id"], "method": plan["method"]},
                          links={"task": self.tid, "step": ps["id"]})
        return [s["id"] for s in steps]

    def _close_collapse_in_flight(self, task: tasks.Task, ps: Mapping[str, Any],
                                  st: tasks.StepState) -> tasks.Task | None:
        """A collapse step in flight when its process died: a collapse is all or
        nothing, so either it landed (its event is in history: the step is done)
        or nothing moved and it runs again."""
        for oid in reversed(task.events):
            event = history.read_event(self.repo, oid)[0]
            if event.kind == "dispatch" and event.data.get("step") == ps["id"]:
                break
            if event.kind == "collapse" and event.links.get("step") == ps["id"]:
                commit = str(event.data["commit"])
                self.result(task, ps, st.attempts, Outcome("ok", f"landed as {commit[:12]} (found after a crash)"),
                            {"collapse": {"outcome": "committed", "system": commit, "conflicts": []}})
                return None
        ws = state.load(self.repo).sws.get(task.sws or "")
        if ws is not None and ws.state != state.SWS_ACTIVE:  # landed or discarded by someone else since
            self.result(task, ps, st.attempts, Outcome(
                "failed", f"workspace {ws.id} was {ws.state} outside this task after a crash; nothing to land"))
            return self.load()
        return self._close_in_flight(task, ps, st, rerun=True)

    # -- the loop ----------------------------------------------------------

    def run(self, retry_step: bool = False, human_failed: str | None = None) -> tasks.Task:
        """Settle what an earlier run left open, then run the remaining steps."""
        task = self.load()
        if task.plan is None:
            raise BadInput(f"task {self.tid} has no plan recorded; it cannot run")
        # The configuration fixed when the task started governs it to the end: a
        # step that edits the config cannot change its own gate or allow-lists.
        self.config = governing(self.repo, task)
        if human_failed is not None and task.state != tasks.WAITING:
            raise BadInput(f"task {self.tid} is {task.state}, not waiting on a person; --fail answers a person's step")
        workers.stop_orphans(running_steps(self.repo, self.tid))
        for st in task.steps:
            stop_at = self._settle(task, st, retry_step, human_failed)
            if stop_at is not None:
                return stop_at
        return self._loop()

    def _settle(self, task: tasks.Task, st: tasks.StepState, retry_step: bool,
                human_failed: str | None) -> tasks.Task | None:
        """Before anything runs, close what an earlier run left open at this step:
        a person's answer, an attempt in flight when its process died. Returns
        the task to stop at, or None to go on."""
        ps = task.plan_step(st.id)
        if st.status == "waiting":
            return self._answer_person(task, ps, st, human_failed)
        if st.status == "failed" and not retry_step:
            return task  # a failed step stays failed until asked to run again
        if st.status == "running" and ps["worker"] == "collapse":
            return self._close_collapse_in_flight(task, ps, st)
        if st.status == "running":
            return self._close_in_flight(task, ps, st, rerun=st.idempotent or retry_step)
        if st.status == "interrupted" and not st.idempotent and not retry_step:
            return task
        return None

    def _answer_person(self, task: tasks.Task, ps: Mapping[str, Any], st: tasks.StepState,
                       human_failed: str | None) -> tasks.Task | None:
        """Record a waiting person's step as done, or as failed with their reason (then stop)."""
        if human_failed is None:
            self.result(task, ps, st.attempts, Outcome("ok", "done by a person"))
            return None
        self.result(task, ps, st.attempts, Outcome("failed", f"a person said no: {human_failed}"))
        return self.load()

    def _close_in_flight(self, task: tasks.Task, ps: Mapping[str, Any], st: tasks.StepState,
                         rerun: bool) -> tasks.Task | None:
        """A step in flight when its process died: close that attempt in history
        first; go on (to run it again) only when it may be re-run."""
        self.result(task, ps, st.attempts, Outcome(
            "interrupted", "found in flight after a crash" + (
                "; running it again" if rerun else "; not idempotent, so not re-run "
                f"(`jitos resume {self.tid} --retry-step` runs it again)")))
        return None if rerun else self.load()

    def _loop(self) -> tasks.Task:
        while True:
            task = self.load()
            group = _next_group(task)
            if not group:
                return task
            if len(group) == 1 and not _batchable(task.plan_step(group[0].id)):
                go_on = self._sequential(task, group[0])
            else:
                go_on = self._group(task, group)
            if not go_on:
                return self.load()

    def _index(self, task: tasks.Task, step_id: str) -> int:
        return [s.id for s in task.steps].index(step_id) + 1

    def _report(self, task: tasks.Task, ps: Mapping[str, Any], outcome: Outcome | None, seconds: float) -> None:
        index, total = self._index(task, ps["id"]), len(task.steps)
        if outcome is None:
            self.progress(Progress("start", self.tid, ps["id"], ps["worker"], index, total))
        else:
            self.progress(Progress("done", self.tid, ps["id"], ps["worker"], index, total, outcome.status,
                                   outcome.reason, seconds))

    def _attempt(self, task: tasks.Task, ps: Mapping[str, Any], attempt: int) -> tuple[Outcome, bool]:
        """Dispatch, perform and record one attempt; returns the outcome and whether to stop."""
        self.dispatch(task, ps, attempt)
        task = self.load()
        self._report(task, ps, None, 0.0)
        if ps["worker"] == "human":
            self._report(task, ps, Outcome("waiting", ps["prompt"]), 0.0)
            return Outcome("waiting", ps["prompt"]), True
        began = time.monotonic()
        extra: dict[str, Any] = {}
        try:
            outcome, extra = self.perform(task, ps)
        except Interrupted as stop:
            self.result(task, ps, attempt, stop.outcome)
            raise KeyboardInterrupt from None
        except KeyboardInterrupt:
            self.result(task, ps, attempt, Outcome("interrupted", "interrupted by Ctrl-C"))
            raise
        self.result(task, ps, attempt, outcome, extra)
        self._report(task, ps, outcome, time.monotonic() - began)
        return outcome, False

    def _sequential(self, task: tasks.Task, st: tasks.StepState) -> bool:
        ps = task.plan_step(st.id)
        attempt = st.attempts
        for _ in range(int(ps["retries"]) + 1):
            attempt += 1
            outcome, stop = self._attempt(task, ps, attempt)
            if stop:
                return False
            if outcome.status in tasks.FINISHED:
                return True
            if outcome.final:
                return False
        return False

    def _group(self, task: tasks.Task, group: list[tasks.StepState]) -> bool:
        """Consecutive read-only, idempotent steps: every dispatch is recorded
        before any of them runs; up to -j of them run at once; results are
        recorded in the canonical order (retries right after their step)."""
        steps = [task.plan_step(s.id) for s in group]
        for st, ps in zip(group, steps, strict=True):
            self.dispatch(task, ps, st.attempts + 1)
        task = self.load()

        def timed(ps: Mapping[str, Any]) -> tuple[Outcome, dict[str, Any], float]:
            began = time.monotonic()
            outcome, extra = self.perform(task, ps)
            return outcome, extra, time.monotonic() - began

        done = 0
        with ThreadPoolExecutor(max_workers=min(self.jobs, len(steps))) as pool:
            futures = [pool.submit(timed, ps) for ps in steps]
            try:
                for st, ps, future in zip(group, steps, futures, strict=True):
                    self._report(task, ps, None, 0.0)
                    outcome, extra, seconds = future.result()
                    self.result(task, ps, st.attempts + 1, outcome, extra)
                    self._report(task, ps, outcome, seconds)
                    done += 1
                    if outcome.status != "ok" and not self._retry(task, st, ps, outcome):
                        for later in futures[done:]:
                            later.cancel()
                        workers.stop_orphans(running_steps(self.repo, self.tid))
                        return False
            except KeyboardInterrupt:
                for later in futures:
                    later.cancel()
                workers.stop_orphans(running_steps(self.repo, self.tid))
                for st, ps in list(zip(group, steps, strict=True))[done:]:
                    self.result(task, ps, st.attempts + 1, Outcome("interrupted", "interrupted by Ctrl-C"))
                raise
        return True

    def _retry(self, task: tasks.Task, st: tasks.StepState, ps: Mapping[str, Any], first: Outcome) -> bool:
        """Run a failed grouped step again, alone, as its retries allow; True once it passes."""
        if first.final:
            return False
        attempt = st.attempts + 1
        for _ in range(int(ps["retries"])):
            attempt += 1
            outcome, stop = self._attempt(task, ps, attempt)
            if outcome.status == "ok":
                return True
            if stop or outcome.final:
                return False
        return False


def _next_group(task: tasks.Task) -> list[tasks.StepState]:
    """The steps to run next: the first unfinished step, alone unless it is
    batchable, then the batchable steps right after it that are ready too. A
    prefix of the canonical order, never sized by -j, so history is the same
    for every -j. Empty when nothing is left, or nothing is ready."""
    todo = [s for s in task.steps if s.status not in tasks.FINISHED]
    ready = {s.id for s in todo if all(task.step(d).status == "ok" for d in s.after)}
    group: list[tasks.StepState] = []
    for s in todo:
        if s.id not in ready:
            break
        batchable = _batchable(task.plan_step(s.id))
        if group and not batchable:
            break
        group.append(s)
        if not batchable:
            break
    return group


def governing(repo: Repo, task: tasks.Task) -> Mapping[str, Any]:
    """The configuration a task runs under: its gate, workers and test tables as
    recorded when it started (all of the repository's current one for a task
    recorded before tasks recorded them), the rest as it is now."""
    live = repo.config().raw
    return live if task.config is None else governed_by(live, repo.store.get(task.config))


def _collapse_message(task: tasks.Task) -> str:
    """Subject: the intent on one line. A multi-line intent is quoted in the body,
    indented, so no line of it can pass for a trailer."""
    subject = " ".join(task.intent.split())[:72] or task.task
    body = f"Task {task.id} ({task.task}, method {task.method})."
    if "\n" in task.intent.strip() or len(subject) < len(" ".join(task.intent.split())):
        quoted = "\n".join("    " + line for line in task.intent.strip().splitlines())
        body = f"Intent:\n{quoted}\n\n{body}"
    return f"{subject}\n\n{body}"


def run_task(repo: Repo, tid: str, *, jobs: int = 1, progress: ProgressFn | None = None,
             retry_step: bool = False, human_failed: str | None = None) -> tasks.Task:
    with task_lock(repo, tid):
        return Runner(repo, tid, jobs, progress).run(retry_step, human_failed)
