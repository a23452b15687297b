"""Files no reader ever sees half-written, and locks the operating system
releases when their holder dies.

`write_atomic` writes a temp file beside the target (or in `tmp_dir`) and
renames it into place, so a reader sees the old bytes or the new, never a mix,
and a crash leaves at most a stray temp file. `exclusive` holds an `flock` on a
lock file, which the kernel drops with the process, so a SIGKILL never leaves
a lock behind. Nothing here knows what the files mean.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kernel.base import faults


def write_atomic(path: Path, data: bytes, *, durable: bool = False, mode: int = 0o644,
                 tmp_dir: Path | None = None) -> None:
    """Replace `path` with `data` in one rename; `durable` fsyncs the bytes first
    (for objects that must survive a power cut, not only a killed process)."""
    folder = tmp_dir or path.parent
    tmp = folder / f".{path.name[:40]}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    faults.point("file.written")
    os.replace(tmp, path)
    faults.point("file.renamed")


class Busy(Exception):
    """Another process holds the lock; `holder` is the pid it wrote, or "?"."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by pid {holder}")
        self.path = path
        self.holder = holder


@contextmanager
def exclusive(path: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing), waiting up to
    `wait` seconds for another holder; raise `Busy` if it is still held. The
    holder's pid is written into the file, for the message a waiter shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(path, os.pread(fd, 32, 0).decode(errors="replace").strip() or "?") from None
                time.sleep(0.005)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        faults.point("lock.taken")
        yield
    finally:
        os.close(fd)


def is_held(path: Path) -> bool:
    """Whether some live process holds the lock on `path` right now."""
    try:
        with exclusive(path):
            return False
    except Busy:
        return True
