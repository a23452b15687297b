"""What a workspace holds that its history cannot: files git ignores, a nested
repository's own git dir, names git refuses to store (`.Git`, `git~1`). When a
workspace ends (discard, collapse) they are moved, not deleted, to
`<git dir>/jitos/kept/<id>/` (unless `[sws] keep_unrecorded = false`), so
nothing a worker or a person wrote disappears without a trace. Never records
an event; the caller lists what was kept in its own.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pygit2

from kernel.base import faults
from kernel.base.repo import Repo


def git_refuses(name: str) -> bool:
    """Whether git will not store a file or folder called `name`: any spelling
    of `.git` (as case-insensitive and Windows file systems see it), and the
    Windows short name `git~1`."""
    folded = name.lower().rstrip(". ")
    return folded in (".git", "git~1") or folded.startswith(".git:")


def recordable(rel: str) -> bool:
    return not any(git_refuses(part) for part in rel.split("/"))


def folder(repo: Repo, sws_id: str) -> Path:
    return repo.jitos_dir / "kept" / sws_id


def find(root: Path, tree: pygit2.Tree) -> list[str]:
    """Paths under `root` (a workspace folder, or an overlay's upper layer) that
    `tree` does not hold: each outermost one (a folder git ignores is one
    path), sorted. Whiteouts and the workspace's own `.git` link are not content."""
    found: list[str] = []
    _walk(root, "", tree, found)
    return sorted(found)


def _walk(folder: Path | str, prefix: str, tree: pygit2.Tree | None, found: list[str]) -> None:
    # A whole checkout is walked when a worktree workspace ends: the entry
    # types come from the directory listing, and only an entry that is
    # neither file, folder nor link (a whiteout, say) costs a stat.
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        rel = prefix + entry.name
        if rel == ".git":
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        if not is_dir and not entry.is_file(follow_symlinks=False) and not entry.is_symlink():
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                continue  # an overlay whiteout: a deletion, recorded as one
        held = _child(tree, entry.name)
        if held is None:
            found.append(rel)
        elif is_dir:
            if isinstance(held, pygit2.Tree):
                _walk(entry.path, rel + "/", held, found)
            elif held.filemode != pygit2.GIT_FILEMODE_COMMIT:  # a submodule's folder is its own checkout
                found.append(rel)
        elif isinstance(held, pygit2.Tree):
            found.append(rel)


def _child(tree: pygit2.Tree | None, name: str) -> pygit2.Object | None:
    if tree is None:
        return None
    try:
        return tree[name]
    except KeyError:
        return None


def set_aside(repo: Repo, root: Path, tree: pygit2.Tree, sws_id: str) -> list[str]:
    """Move what `tree` does not hold out of `root` into the workspace's kept
    folder (a rename: the same file system); the paths moved."""
    paths = find(root, tree)
    target = folder(repo, sws_id)
    for rel in paths:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() or dest.is_symlink():
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            else:
                dest.unlink()
        os.rename(root / rel, dest)
        faults.point("kept.moved")
    return paths
