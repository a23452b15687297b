"""Taking folders away at once and deleting them later: `set_aside` renames
into `<git dir>/jitos/trash` (one rename, so the jitos lock is never held
while a large tree is deleted), `empty` deletes what is there, including what
a killed process set aside, and `empty_later` has a detached process do it,
so a command answers before a large tree is deleted. Only ever holds what is
no longer needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.base import faults

if TYPE_CHECKING:
    from kernel.base.repo import Repo


def folder(repo: Repo) -> Path:
    return repo.jitos_dir / "trash"


def set_aside(repo: Repo, path: Path, label: str) -> None:
    """Move `path` (a file or folder that exists) into the trash."""
    folder(repo).mkdir(parents=True, exist_ok=True)
    os.rename(path, folder(repo) / f"{label}.{os.getpid()}.{time.monotonic_ns()}")
    faults.point("trash.moved")


# The detached deleter runs `empty_folder` (this module needs no git to import).
_DELETER = "import sys; from kernel.workspace.trash import empty_folder; empty_folder(sys.argv[1])"


#: Below this many entries the trash is deleted in the command itself: starting
#: a process costs more than that.
INLINE_ENTRIES = 2000


def empty_later(repo: Repo) -> None:
    """Delete a large trash in a detached process (its own session, no
    terminal): the command that set a workspace aside answers at once. A
    deleter killed half-way leaves trash the next `empty` or `jitos gc`
    finishes. A small trash is deleted here."""
    trash = folder(repo)
    if not trash.is_dir() or not any(trash.iterdir()):
        return
    if _fewer_entries_than(trash, INLINE_ENTRIES):
        empty(repo)
        return
    subprocess.Popen([sys.executable, "-c", _DELETER, str(trash)], cwd="/", start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _fewer_entries_than(root: Path, limit: int) -> bool:
    """Whether the tree under `root` holds fewer than `limit` entries (stops counting there)."""
    count, folders = 0, [str(root)]
    while folders:
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    count += 1
                    if count >= limit:
                        return False
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
        except OSError:
            continue  # unreadable (OverlayFS's mode-000 work folder): small either way
    return True


def empty(repo: Repo) -> None:
    """Delete everything in the trash; call it without the jitos lock."""
    empty_folder(folder(repo))


def empty_folder(trash: Path | str) -> None:
    """Delete everything in the trash folder `trash`."""
    if os.path.isdir(trash):
        for entry in os.listdir(trash):
            shutil.rmtree(os.path.join(trash, entry), onerror=_open_up_and_retry)


def _open_up_and_retry(_func: Callable[..., Any], path: str, _exc: object) -> None:
    """OverlayFS leaves its `work/work` folder with mode 000: a user who is not
    root cannot list it until it is theirs to open again. (A symlink has no
    mode of its own to open.)"""
    if os.path.islink(path):
        return
    try:
        os.chmod(path, 0o700)
    except OSError:
        return  # gone already, or not ours: `jitos gc` reports what is left
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
