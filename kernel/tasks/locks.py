"""Which process runs a task: one lock per task (held while it runs, released
by the kernel if the process dies) and a folder of the process-group ids of
the steps it has running, so a resume can stop what a killed run left behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kernel.base.repo import Repo
from kernel.errors import BadInput


def _lock_path(repo: Repo, tid: str) -> str:
    folder = repo.jitos_dir / "tasks"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{tid}.lock")


def running_steps(repo: Repo, tid: str) -> Path:
    """Where a task's running steps leave their process-group ids."""
    return repo.jitos_dir / "tasks" / tid


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
