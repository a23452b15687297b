"""Run a program with its output captured into the store.

Every process jitos starts for someone else (a workspace command, the gate, a
worker) runs here: an argv (never a shell string), in its own process group so
that a timeout or Ctrl-C stops everything it started, stdin closed, stdout and
stderr spooled to temp files under the git dir and stored by digest. Nothing
here decides what an exit code means.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kernel.base.repo import Repo

STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Finished:
    """How a captured run ended: its exit code (None: stopped at the timeout;
    negative: killed by that signal) and the store digests of its output
    (`stderr` is None when it was interleaved into `stdout`)."""

    exit_code: int | None
    stdout: str
    stderr: str | None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C reached a captured run: its group was stopped; what it had written is stored."""

    def __init__(self, finished: Finished) -> None:
        super().__init__("interrupted by Ctrl-C")
        self.finished = finished


def run_captured(repo: Repo, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                 timeout: float | None = None, merge_stderr: bool = False,
                 pid_file: Path | None = None, timeout_note: bytes = b"") -> Finished:
    """Run `argv` to completion (or `timeout`) and store its output.

    Raises OSError when the program cannot start. The group id goes to
    `pid_file` while it runs, so whoever finds it after this process was killed
    can stop the orphaned group. `timeout_note` is appended to stdout when the
    timeout stops it."""
    tmp_dir = repo.jitos_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=tmp_dir) as out, tempfile.TemporaryFile(dir=tmp_dir) as err:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT if merge_stderr else err, start_new_session=True)
        if pid_file is not None:
            pid_file.parent.mkdir(parents=True, exist_ok=True)
            pid_file.write_text(str(proc.pid))
        try:
            try:
                code: int | None = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_group(proc)
                code = None
                out.write(timeout_note)
            except KeyboardInterrupt:
                stop_group(proc)
                raise Interrupted(_store(repo, None, out, None if merge_stderr else err)) from None
        finally:
            if pid_file is not None:
                pid_file.unlink(missing_ok=True)
        return _store(repo, code, out, None if merge_stderr else err)


def _store(repo: Repo, code: int | None, out: IO[bytes], err: IO[bytes] | None) -> Finished:
    out.seek(0)
    stdout = repo.store.put(portable(repo, out.read()))
    stderr = None
    if err is not None:
        err.seek(0)
        stderr = repo.store.put(portable(repo, err.read()))
    return Finished(code, stdout, stderr)


def _named(repo: Repo) -> list[tuple[Path, bytes]]:
    """This repository's folders and the names recorded output gives them."""
    named = [(repo.workspaces_dir, b"${JITOS_WORKSPACES}"), (repo.common_dir, b"${JITOS_GIT_DIR}")]
    if repo.workdir is not None:
        named.append((repo.workdir, b"${JITOS_REPOSITORY}"))
    return named


def portable(repo: Repo, data: bytes) -> bytes:
    """Output as history records it: this clone's folders named, not spelled
    out, so the same work records the same ids in any clone (a test log that
    prints its file paths, say). `local` turns it back for display."""
    places: dict[bytes, bytes] = {}
    for path, name in _named(repo):
        for spelled in (str(path).rstrip("/"), os.path.realpath(path).rstrip("/")):
            if spelled:  # a repository at / is not named: every byte would match
                places.setdefault(spelled.encode(), name)
    for found, name in sorted(places.items(), key=lambda item: -len(item[0])):  # longest first
        data = data.replace(found, name)
    return data


def local(repo: Repo, data: bytes) -> bytes:
    """Recorded output as this clone would have printed it."""
    for path, name in _named(repo):
        data = data.replace(name, str(path).rstrip("/").encode())
    return data


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it if the leader outlives the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def alive(pid: int) -> bool:
    """Whether process `pid` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
