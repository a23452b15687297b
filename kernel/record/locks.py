"""Which process runs a task: one lock file per task, held while it runs and
released by the kernel if the process dies, so "is task t1 running?" is a
question the operating system answers, never a stored flag.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kernel.base.files import Busy, exclusive, is_held
from kernel.base.repo import Repo
from kernel.errors import BadInput

PROBE_WAIT_SECONDS = 1.0


def _lock_path(repo: Repo, tid: str) -> Path:
    return repo.jitos_dir / "tasks" / f"{tid}.lock"


@contextmanager
def task_lock(repo: Repo, tid: str) -> Iterator[None]:
    """Run task `tid` in this process only (bad input if another runs it). A
    probe (`is_live`) holds the lock for an instant: that is waited out."""
    try:
        with exclusive(_lock_path(repo, tid), wait=PROBE_WAIT_SECONDS):
            yield
    except Busy:
        raise BadInput(f"task {tid} is being run by another jitos process; wait for it to finish") from None


def is_live(repo: Repo, tid: str) -> bool:
    """True while some process holds the task's lock (it is really running)."""
    return is_held(_lock_path(repo, tid))
