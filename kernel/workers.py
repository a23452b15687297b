"""Workers perform mechanism; the kernel enforces policy. A worker gets an argv
(never a shell string built from user text), a cwd inside its workspace, a
scrubbed environment plus the variables it declares, and a timeout. Its
stdout and stderr go to the store. This module runs processes and reports
outcomes; it records nothing (the scheduler does).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel import refs
from kernel.errors import BadInput
from kernel.repo import Repo, scrubbed_environ

DEFAULT_TIMEOUT = {"shell": 1800, "agent": 3600}
PROCESS_WORKERS = ("shell", "agent")


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # ok | failed | interrupted
    reason: str
    exit_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


class Interrupted(Exception):
    """Ctrl-C reached a running step; carries what it had produced."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


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


def check_program(argv: Sequence[str], root: Path, where: str) -> None:
    """Refuse (exit 2) an argv whose program does not exist or cannot run."""
    if not argv:
        raise BadInput(f"{where}: the command is empty; configure it in .jitos/config.toml")
    program = argv[0]
    if "/" in program:
        path = Path(program) if os.path.isabs(program) else root / program
        if not path.is_file():
            raise BadInput(f"{where}: {program!r} does not exist; fix the command in .jitos/config.toml")
        if not os.access(path, os.X_OK):
            raise BadInput(f"{where}: {program!r} is not executable; `chmod +x` it or run it through its interpreter")
    elif shutil.which(program) is None:
        raise BadInput(f"{where}: command {program!r} not found on PATH; install it or fix .jitos/config.toml")


def run_process(repo: Repo, argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float,
                expect: str = "pass") -> Outcome:
    """Run `argv` in its own process group; store its output; judge it by `expect`."""
    tmp_dir = repo.jitos_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=tmp_dir) as out, tempfile.TemporaryFile(dir=tmp_dir) as err:
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return Outcome("failed", f"could not start {argv[0]!r}: {exc.strerror}")
        reason = ""
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            code, reason = None, f"timed out after {timeout:g}s"
        except KeyboardInterrupt:
            _stop(proc)
            out.seek(0)
            err.seek(0)
            raise Interrupted(Outcome("interrupted", "interrupted by Ctrl-C", None,
                                      repo.store.put(out.read()), repo.store.put(err.read()))) from None
        out.seek(0)
        err.seek(0)
        stdout, stderr = repo.store.put(out.read()), repo.store.put(err.read())
    if code is None:
        return Outcome("failed", reason, None, stdout, stderr)
    if expect == "fail":
        ok = code != 0
        reason = f"failed as expected (exit {code})" if ok else "expected to fail, but exited 0"
    else:
        ok = code == 0
        reason = "exit 0" if ok else f"exit {code}"
    return Outcome("ok" if ok else "failed", reason, code, stdout, stderr)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


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


def outside_state(repo: Repo, branch: str) -> Outside:
    """The user's checkout (status flag and stat of every path that is not clean) and the system refs."""
    status: dict[str, tuple[int, int, int]] = {}
    if repo.workdir is not None:
        for path, flag in repo.git.status(untracked_files="all").items():
            status[path] = (int(flag), *_stat(repo.workdir / path))
    names = ("refs/jitos/system", f"refs/heads/{branch}")
    return Outside(status, {name: refs.read(repo, name) for name in names})


def outside_changes(before: Outside, after: Outside) -> list[str]:
    """Paths in the user's checkout (and system refs) a step changed."""
    changed = sorted(p for p in before.status.keys() | after.status.keys()
                     if before.status.get(p) != after.status.get(p))
    changed += sorted(name for name in before.refs if before.refs[name] != after.refs[name])
    return changed
