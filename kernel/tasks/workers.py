"""Workers perform mechanism; the kernel enforces policy. A worker gets an argv
(never a shell string built from user text), a cwd inside its workspace, a
scrubbed environment plus the variables it declares, and a timeout. Its
stdout and stderr go to the store. This module runs processes and reports
outcomes; it records nothing (the scheduler does).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.base import proc
from kernel.base.policy import scrubbed_environ
from kernel.base.proc import run_captured
from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.record import clones, refs

DEFAULT_TIMEOUT = {"shell": 1800, "agent": 3600}
PROCESS_WORKERS = ("shell", "agent")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a step went. `final` failures are never retried (a policy refusal)."""

    status: str  # ok | failed | interrupted
    reason: str
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None
    final: bool = False


class Interrupted(Exception):
    """Ctrl-C reached a running step; carries what it had produced."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def running_steps(repo: Repo, tid: str) -> Path:
    """Where a task's running steps leave their process-group ids."""
    return repo.jitos_dir / "tasks" / tid


def worker_config(config: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    workers = config.get("workers", {})
    section = workers.get(kind, {}) if isinstance(workers, Mapping) else {}
    return section if isinstance(section, Mapping) else {}


def environment(config: Mapping[str, Any], kind: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment reduced to a safe base, plus names the
    configuration passes through (`[workers.<kind>] env = [...]`), plus `extra`."""
    declared = worker_config(config, kind).get("env", [])
    if not isinstance(declared, list) or not all(isinstance(n, str) for n in declared):
        raise BadInput(f"[workers.{kind}] env must be a list of variable names")
    env = scrubbed_environ(declared)
    env.update(extra)
    return env


def run_process(repo: Repo, argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float,
                expect: str = "pass", pid_file: Path | None = None) -> Outcome:
    """Run `argv` in its own process group; store its output; judge it by `expect`.

    The group id goes to `pid_file` while it runs, so that if this process is
    killed, whoever resumes the task can stop the orphaned group first."""
    try:
        done = run_captured(repo, argv, cwd=cwd, env=env, timeout=timeout, pid_file=pid_file)
    except OSError as exc:
        return Outcome("failed", f"could not start {argv[0]!r}: {exc.strerror}")
    except proc.Interrupted as stop:
        raise Interrupted(Outcome("interrupted", "interrupted by Ctrl-C", None, stop.finished.stdout,
                                  stop.finished.stderr)) from None
    return judge(done, timeout, expect)


def judge(done: proc.Finished, timeout: float, expect: str) -> Outcome:
    """A step's outcome from how its process ended and what the step expects."""
    code = done.exit_code
    if code is None:
        return Outcome("failed", f"timed out after {timeout:g}s", None, done.stdout, done.stderr)
    if expect == "fail":
        ok = code != 0
        reason = f"failed as expected (exit {code})" if ok else "expected to fail, but exited 0"
    else:
        ok = code == 0
        reason = "exit 0" if ok else f"exit {code}"
    return Outcome("ok" if ok else "failed", reason, code, done.stdout, done.stderr)


def stop_orphans(folder: Path) -> list[int]:
    """Stop the process groups that `pid_file`s in `folder` name (left by a killed
    jitos); return the ids that were still running."""
    stopped = []
    for pid_file in sorted(folder.glob("*.pid")) if folder.is_dir() else []:
        try:
            pgid = int(pid_file.read_text())
        except (ValueError, OSError):
            pgid = 0
        if pgid > 0 and _group_alive(pgid):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                for _ in range(50):
                    if not _group_alive(pgid):
                        break
                    time.sleep(0.1)
            stopped.append(pgid)
        pid_file.unlink(missing_ok=True)
    return stopped


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


@dataclass(frozen=True, slots=True)
class Outside:
    """What a step must not change: the user's checkout and the system refs."""

    status: dict[str, tuple[int, int, int]]
    refs: dict[str, str | None]


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = os.lstat(path)
    except OSError:
        return (0, -1)
    return (info.st_mtime_ns, info.st_size)


def outside_state(repo: Repo) -> Outside:
    """What a step must leave alone: the user's checkout (status flag and stat of
    every path that is not clean), every ref but jitos's own history and
    workspace refs, and the repository's config, hooks and info files."""
    status: dict[str, tuple[int, int, int]] = {}
    if repo.workdir is not None:
        for path, flag in repo.git.status(untracked_files="all").items():
            status[path] = (int(flag), *_stat(repo.workdir / path))
    for rel in ("config", "HEAD"):
        status[f".git/{rel}"] = (0, *_stat(repo.common_dir / rel))
    for folder in ("hooks", "info"):
        base = repo.common_dir / folder
        if base.is_dir():
            for entry in sorted(os.listdir(base)):
                status[f".git/{folder}/{entry}"] = (0, *_stat(base / entry))
    names = [n for n in repo.git.references
             if not n.startswith(history_ref_prefixes())]
    return Outside(status, {name: refs.read(repo, name) for name in names})


def history_ref_prefixes() -> tuple[str, ...]:
    # Steps may record into their own workspace (`jitos sws snapshot`), which
    # moves these; other clones' refs move only by `jitos fetch`, which may run
    # beside a step; every other ref is out of bounds.
    return ("refs/jitos/history", "refs/jitos/sws/", *clones.FETCHED)


def outside_changes(before: Outside, after: Outside) -> list[str]:
    """Paths in the user's checkout, git internals and refs that a step changed."""
    changed = sorted(p for p in before.status.keys() | after.status.keys()
                     if before.status.get(p) != after.status.get(p))
    changed += sorted(n for n in before.refs.keys() | after.refs.keys() if before.refs.get(n) != after.refs.get(n))
    return changed


def read_only_write(repo: Repo, outcome: Outcome) -> str | None:
    """The line of a failed step's stderr that reports a write its view made
    read-only (your checkout or the git dir: nothing else is read-only there),
    shortened; None when it failed otherwise."""
    if outcome.status != "failed" or outcome.stderr is None:
        return None
    for line in repo.store.get(outcome.stderr).decode(errors="replace").splitlines():
        if "Read-only file system" in line:
            line = line.strip()
            return line if len(line) <= 200 else line[:197] + "..."
    return None
