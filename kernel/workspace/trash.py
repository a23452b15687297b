"""Taking folders away at once and deleting them later: `set_aside` renames
into `<git dir>/jitos/trash` (one rename, so the jitos lock is never held
while a large tree is deleted), `empty` deletes what is there, including what
a killed process set aside. Only ever holds what is no longer needed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernel.base import faults
from kernel.base.repo import Repo


def folder(repo: Repo) -> Path:
    return repo.jitos_dir / "trash"


def set_aside(repo: Repo, path: Path, label: str) -> None:
    """Move `path` (a file or folder that exists) into the trash."""
    folder(repo).mkdir(parents=True, exist_ok=True)
    os.rename(path, folder(repo) / f"{label}.{os.getpid()}.{time.monotonic_ns()}")
    faults.point("trash.moved")


def empty(repo: Repo) -> None:
    """Delete everything in the trash; call it without the jitos lock."""
    trash = folder(repo)
    if trash.is_dir():
        for entry in os.listdir(trash):
            shutil.rmtree(trash / entry, onerror=_open_up_and_retry)


def _open_up_and_retry(_func: Callable[..., Any], path: str, _exc: object) -> None:
    """OverlayFS leaves its `work/work` folder with mode 000: a user who is not
    root cannot list it until it is theirs to open again."""
    try:
        os.chmod(path, 0o700, follow_symlinks=False)
    except (OSError, NotImplementedError):
        return  # gone already, or not ours: `jitos gc` reports what is left
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
