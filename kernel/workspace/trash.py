"""Taking folders away at once and deleting them later: `set_aside` renames
into `<git dir>/jitos/trash` (one rename, so the jitos lock is never held
while a large tree is deleted), `empty` deletes what is there, including what
a killed process set aside. Only ever holds what is no longer needed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from kernel.base.repo import Repo


def folder(repo: Repo) -> Path:
    return repo.jitos_dir / "trash"


def set_aside(repo: Repo, path: Path, label: str) -> None:
    """Move `path` (a file or folder that exists) into the trash."""
    folder(repo).mkdir(parents=True, exist_ok=True)
    os.rename(path, folder(repo) / f"{label}.{os.getpid()}.{time.monotonic_ns()}")


def empty(repo: Repo) -> None:
    """Delete everything in the trash; call it without the jitos lock."""
    trash = folder(repo)
    if trash.is_dir():
        for entry in os.listdir(trash):
            shutil.rmtree(trash / entry, ignore_errors=True)
