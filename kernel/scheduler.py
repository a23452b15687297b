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
finds in-flight steps in history and re-runs them only when idempotent.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kernel import collapse, history, state, sws, tasks, workers
from kernel.errors import BadInput
from kernel.repo import Repo
from kernel.workers import Interrupted, Outcome


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


def _lock_path(repo: Repo, tid: str) -> str:
    folder = repo.jitos_dir / "tasks"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{tid}.lock")


@contextmanager
def task_lock(repo: Repo, tid: str) -> Iterator[None]:
    fd = os.open(_lock_path(repo, tid), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadInput(f"task {tid} is being run by another jitos process; wait for it to finish") from None
        yield
    finally:
        os.close(fd)


def is_live(repo: Repo, tid: str) -> bool:
    """True while some process holds the task's lock (it is really running)."""
    fd = os.open(_lock_path(repo, tid), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


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
        self.config: Mapping[str, Any] = repo.config().raw

    def load(self) -> tasks.Task:
        return tasks.fold(history.events(self.repo))[self.tid]

    # -- recording ---------------------------------------------------------

    def _links(self, step_id: str) -> dict[str, str]:
        return {"task": self.tid, "step": step_id}

    def dispatch(self, task: tasks.Task, ps: Mapping[str, Any], attempt: int) -> None:
        with state.ledger(self.repo) as ledger:
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
        with state.ledger(self.repo) as ledger:
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
        st = state.load(self.repo)
        before = workers.outside_state(self.repo, st.branch or "")
        outcome = workers.run_process(self.repo, ps["argv"], cwd, env, float(timeout), ps["expect"])
        escaped = workers.outside_changes(before, workers.outside_state(self.repo, st.branch or ""))
        if escaped:
            shown = ", ".join(escaped[:5])
            return Outcome("failed", f"refused: wrote outside its workspace ({shown})", outcome.exit_code,
                           outcome.stdout, outcome.stderr)
        return outcome

    def _collapse(self, task: tasks.Task, ps: Mapping[str, Any]) -> tuple[Outcome, dict[str, Any]]:
        assert task.sws is not None
        result = collapse.collapse(
            self.repo, task.sws, gate_argv=tuple(ps["argv"]) or None,
            message=f"{task.intent}\n\nTask {self.tid} ({task.task}, method {task.method}).",
            provenance={"intent": task.intent, "task": self.tid, "step": ps["id"]},
        )
        extra = {"collapse": {"outcome": result.outcome, "system": result.system,
                              "conflicts": list(result.conflicts)}}
        if result.committed:
            return Outcome("ok", f"landed as {result.system[:12]}"), extra
        if result.outcome == "empty":
            return Outcome("ok", "nothing to land: the workspace adds nothing to the system"), extra
        if result.outcome == "gate-failed" and result.gate is not None:
            reason = f"gate failed: {' '.join(result.gate.command)} (exit {result.gate.exit_code})"
        else:
            reason = f"{result.outcome}: {', '.join(result.conflicts[:5])}"
        return Outcome("failed", reason), extra

    # -- the loop ----------------------------------------------------------

    def run(self, retry_step: bool = False, human_failed: str | None = None) -> tasks.Task:
        task = self.load()
        if task.plan is None:
            raise BadInput(f"task {self.tid} has no plan recorded; it cannot run")
        for st in task.steps:
            ps = task.plan_step(st.id)
            if st.status == "waiting":
                outcome = Outcome("failed", f"a person said no: {human_failed}") if human_failed is not None \
                    else Outcome("ok", "done by a person")
                self.result(task, ps, st.attempts, outcome)
                if human_failed is not None:
                    return self.load()
            elif st.status == "failed" and not retry_step:
                return task  # a failed step stays failed until asked to run again
            elif st.status in ("running", "interrupted") and not st.idempotent and not retry_step:
                if st.status == "running":
                    self.result(task, ps, st.attempts, Outcome(
                        "interrupted", "found in flight after a crash; not idempotent, so not re-run "
                        f"(`jitos resume {self.tid} --retry-step` runs it again)"))
                return self.load()
        return self._loop()

    def _loop(self) -> tasks.Task:
        while True:
            task = self.load()
            todo = [s for s in task.steps if s.status != "ok"]
            if not todo:
                return task
            ready = {s.id for s in todo if all(task.step(d).status == "ok" for d in s.after)}
            batch: list[tasks.StepState] = []
            for s in todo:  # a prefix of the canonical order: what -j 1 would run next, in that order
                if s.id not in ready or len(batch) >= self.jobs:
                    break
                if batch and not _batchable(task.plan_step(s.id)):
                    break
                batch.append(s)
                if not _batchable(task.plan_step(s.id)):
                    break
            if not batch:
                return task
            go_on = self._sequential(task, batch[0]) if len(batch) == 1 else self._batch(task, batch)
            if not go_on:
                return self.load()

    def _index(self, task: tasks.Task, step_id: str) -> int:
        return [s.id for s in task.steps].index(step_id) + 1

    def _sequential(self, task: tasks.Task, st: tasks.StepState, first: Outcome | None = None) -> bool:
        ps = task.plan_step(st.id)
        attempt = st.attempts
        tries = 0
        while True:
            attempt += 1
            tries += 1
            self.dispatch(task, ps, attempt)
            task = self.load()
            report = Progress("start", self.tid, ps["id"], ps["worker"], self._index(task, ps["id"]), len(task.steps))
            self.progress(report)
            if ps["worker"] == "human":
                self.progress(Progress("done", self.tid, ps["id"], "human", report.index, report.total, "waiting",
                                       ps["prompt"]))
                return False
            began = time.monotonic()
            extra: dict[str, Any] = {}
            if first is not None:
                outcome, first = first, None
            else:
                try:
                    outcome, extra = self.perform(task, ps)
                except Interrupted as stop:
                    self.result(task, ps, attempt, stop.outcome)
                    raise KeyboardInterrupt from None
                except KeyboardInterrupt:
                    self.result(task, ps, attempt, Outcome("interrupted", "interrupted by Ctrl-C"))
                    raise
            self.result(task, ps, attempt, outcome, extra)
            self.progress(Progress("done", self.tid, ps["id"], ps["worker"], report.index, report.total,
                                   outcome.status, outcome.reason, time.monotonic() - began))
            if outcome.status == "ok":
                return True
            if tries > int(ps["retries"]):
                return False

    def _batch(self, task: tasks.Task, batch: list[tasks.StepState]) -> bool:
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            futures = [pool.submit(self.perform, task, task.plan_step(s.id)) for s in batch]
            outcomes = [f.result()[0] for f in futures]
        for st, outcome in zip(batch, outcomes, strict=True):
            if not self._sequential(self.load(), self.load().step(st.id), first=outcome):
                return False
        return True


def run_task(repo: Repo, tid: str, *, jobs: int = 1, progress: ProgressFn | None = None,
             retry_step: bool = False, human_failed: str | None = None) -> tasks.Task:
    with task_lock(repo, tid):
        return Runner(repo, tid, jobs, progress).run(retry_step, human_failed)
