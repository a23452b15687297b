"""The storage seam for speculative workspaces: `for_repo` chooses the
backend that stores a repository's workspace folders, and `Backend` is all
anyone may do to such a folder.

A backend materialises a commit as a directory people and editors can use,
says which paths may have changed since the last recorded tree, writes files
into it, settles after a snapshot so the next scan starts from it, moves it
to a re-based commit, and removes it (setting it aside, then emptying the
trash once the jitos lock is released). Today's only backend is a real git
worktree (detached HEAD at the SWS's latest snapshot, its own index as the
stat cache). A faster backend (an overlay mount, say) implements the same
calls and is chosen in `for_repo`; nothing outside `kernel/workspace/` touches
a workspace folder except through a `Backend`, and nothing here records
events or moves a shared ref.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pygit2

from kernel.base import sandbox
from kernel.base.config import SWS_BACKENDS
from kernel.base.policy import environ_for_git_child
from kernel.base.repo import Repo, head_of
from kernel.errors import BadInput, JitosError
from kernel.workspace import trash, trees
from kernel.workspace.checkout import stage, write_index, write_paths
from kernel.workspace.overlayfs import OverlayWorkspace, is_overlay


class Backend(Protocol):
    """What can be done to a workspace folder at `path`."""

    def materialize(self, repo: Repo, path: Path, commit: str) -> None:
        """Create the folder holding `commit`'s tree."""

    def candidates(self, repo: Repo, path: Path, recorded_tree: str) -> set[str]:
        """Paths that may differ on disk from `recorded_tree` (a superset is fine)."""

    def write(self, repo: Repo, path: Path, changes: dict[str, trees.Entry | None]) -> None:
        """Make the files at `changes` match them; the recorded head stays, so
        the next scan sees them as edits."""

    def settle(self, repo: Repo, path: Path, commit: str, entries: dict[str, trees.Entry | None]) -> None:
        """After a snapshot recorded `entries` as `commit`: start the next scan from there."""

    def move_to(self, repo: Repo, path: Path, commit: str, changes: dict[str, trees.Entry | None], *,
                onto: str) -> None:
        """Rewrite `changes` on disk and make `commit` (a snapshot re-based onto
        the system commit `onto`) the recorded head. Run again after a crash
        with the same arguments, it finishes the job."""

    def reader(self, repo: Repo, path: Path) -> Reader:
        """How to read the workspace's files as git would store them."""

    def new_files_root(self, repo: Repo, path: Path) -> Path:
        """Where a file the workspace's base does not have can be written from outside a view."""

    def command(self, repo: Repo, path: Path, argv: list[str], *, network: bool,
                private: Path | None = None) -> list[str]:
        """The argv that runs `argv` with the workspace as its cwd and world
        (without `network`, only loopback where the backend can enforce it;
        with `private`, a folder the caller discards afterwards, its writes
        go there and never reach the workspace, where the backend can)."""

    def remove(self, repo: Repo, path: Path) -> None:
        """Take the folder away at once (it may be deleted later, by `empty_trash`)."""

    def empty_trash(self, repo: Repo) -> None:
        """Delete what `remove` set aside, also what a killed process left; call it without the lock."""


INDEX_LOCK_GRACE_SECONDS = 2.0


class Reader(Protocol):
    def locate(self, rel: str) -> Path | None:
        """Where the workspace's `rel` is stored on disk (None: it has nothing there)."""

    def blob(self, rel: str, full: Path) -> str:
        """Store the file `full` (the workspace's `rel`) as git would, clean filters applied; its id."""

    def submodule_head(self, rel: str) -> str | None:
        """The commit the submodule checked out at `rel` has as HEAD (None: none there)."""


@dataclass(frozen=True, slots=True)
class Choice:
    """Which backend new workspaces get, how isolated their programs run, and
    why it is not the overlay backend when it is not (one line)."""

    backend: str  # overlay | worktree
    isolation: str  # enforced | detected
    reason: str


def choice(repo: Repo) -> Choice:
    """`[sws] backend` (or JITOS_SWS_BACKEND): `auto` (the default: overlay
    where the OS allows it), `overlay`, or `worktree`; overlay falls back to
    worktree where user namespaces or OverlayFS are unavailable, saying why."""
    wanted = os.environ.get("JITOS_SWS_BACKEND") or repo.config().sws_backend
    if wanted not in SWS_BACKENDS:
        raise BadInput(f"JITOS_SWS_BACKEND={wanted!r} is not one of {', '.join(SWS_BACKENDS)}; fix or unset it")
    if wanted == "worktree":
        return Choice("worktree", "detected", "[sws] backend is worktree")
    support = sandbox.support(saved=repo.jitos_dir / "cache" / "namespaces")
    if not support.available:
        return Choice("worktree", "detected", support.reason)
    return Choice("overlay", "enforced", "")


def for_repo(repo: Repo) -> Backend:
    """The backend new workspaces of `repo` get: the one place it is chosen."""
    return _OVERLAY if choice(repo).backend == "overlay" else _GIT_WORKTREE


def for_path(repo: Repo, path: Path) -> Backend:
    """The backend that stores the existing workspace at `path`."""
    return _OVERLAY if is_overlay(repo, path) else _GIT_WORKTREE


class GitWorktree:
    """Workspaces as `git worktree`s with a detached HEAD."""

    def __init__(self) -> None:
        self._last: tuple[Path, pygit2.Repository] | None = None

    def materialize(self, repo: Repo, path: Path, commit: str) -> None:
        # `git worktree add` checks out twice as fast as libgit2's add_worktree +
        # checkout_tree on large trees (see docs/performance.md), so spawn git here.
        path.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(path), commit],
            check=False,
            cwd=repo.common_dir,
            env=environ_for_git_child(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            raise JitosError(f"could not create the workspace at {path}: git worktree add: {detail}")

    def candidates(self, repo: Repo, path: Path, recorded_tree: str) -> set[str]:
        # git's own status refreshes the index with threads and keeps that
        # refresh; libgit2's status scan takes twice as long on large trees
        # (docs/performance.md).
        done = subprocess.run(["git", "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames"],
                              cwd=path, env=environ_for_git_child(), capture_output=True, check=False)
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            raise JitosError(f"could not read the changes in workspace {path.name}: git status: "
                             f"{detail[-1] if detail else f'exit {done.returncode}'}")
        found = {os.fsdecode(item[3:]) for item in done.stdout.split(b"\0") if item}
        wt = pygit2.Repository(str(path))
        head_tree = str(wt.head.peel(pygit2.Commit).tree_id)
        if head_tree != recorded_tree:
            # Someone committed inside the worktree: what differs between the
            # recorded tree and HEAD may differ on disk too.
            found |= set(trees.diff(repo.git, recorded_tree, head_tree))
        return found

    def settle(self, repo: Repo, path: Path, commit: str, entries: dict[str, trees.Entry | None]) -> None:
        wt = self._opened(path)
        index = wt.index
        index.read(False)  # what is on disk now, if anything changed it since it was read
        stage(index, entries)
        write_index(index, Path(wt.path) / "index", f"workspace {path.name}")
        # The worktree's own HEAD, private to this workspace folder; the shared
        # refs/jitos/sws/<id> moved (compare-and-swap) in the event before this.
        wt.set_head(pygit2.Oid(hex=commit))

    def write(self, repo: Repo, path: Path, changes: dict[str, trees.Entry | None]) -> None:
        write_paths(repo, path, changes)  # files and index; HEAD stays at the recorded head

    def move_to(self, repo: Repo, path: Path, commit: str, changes: dict[str, trees.Entry | None], *,
                onto: str) -> None:
        """Rewrite `changes` on disk and point HEAD at `commit` (a re-based snapshot)."""
        write_paths(repo, path, changes)
        pygit2.Repository(str(path)).set_head(pygit2.Oid(hex=commit))

    def reader(self, repo: Repo, path: Path) -> FolderReader:
        found = FolderReader(path)
        # Reading a file through its filters loads the worktree's index (tens of
        # ms on a large tree); a snapshot's `settle` right after reuses it.
        self._last = (path, found.checkout)
        return found

    def _opened(self, path: Path) -> pygit2.Repository:
        """The worktree's repository as the last reader opened it (taken once), or a fresh one."""
        last, self._last = self._last, None
        return last[1] if last is not None and last[0] == path else pygit2.Repository(str(path))

    def new_files_root(self, repo: Repo, path: Path) -> Path:
        return path

    def command(self, repo: Repo, path: Path, argv: list[str], *, network: bool,
                private: Path | None = None) -> list[str]:
        # A git index lock a killed program left would fail recording what this
        # command writes, after it ran: refuse first (a live git holds it for milliseconds).
        lock = Path(pygit2.Repository(str(path)).path) / "index.lock"
        try:
            stale = time.time() - lock.stat().st_mtime > INDEX_LOCK_GRACE_SECONDS
        except FileNotFoundError:
            stale = False
        if stale:
            raise BadInput(f"the git index of workspace {path.name} is locked ({lock}) by a git command that "
                           f"is still running there, or was killed; if none is running, remove it (rm {lock}) "
                           "and run the command again")
        return list(argv)  # runs in the real folder; writes elsewhere are detected afterwards

    def remove(self, repo: Repo, path: Path) -> None:
        """Detach the folder from git and move it to the trash in one rename, so
        the jitos lock is never held while a large tree is deleted; the caller
        empties the trash (`empty_trash`) once the lock is released."""
        name = _worktree_name(repo, path)
        if path.exists():
            trash.set_aside(repo, path, path.name)
        if name is not None:
            worktree = repo.git.lookup_worktree(name)
            worktree.prune(True)

    def empty_trash(self, repo: Repo) -> None:
        trash.empty(repo)


def _worktree_name(repo: Repo, path: Path) -> str | None:
    target = os.path.realpath(path)
    for name in repo.git.list_worktrees():
        try:
            worktree = repo.git.lookup_worktree(name)
        except (KeyError, pygit2.GitError):
            continue
        if os.path.realpath(worktree.path) == target:
            return str(name)
    return None


def copy_included(repo: Repo, source: Path, dest: Path, patterns: Iterable[str]) -> list[str]:
    """Copy git-ignored files matching `patterns` (globs relative to the checkout)
    into a workspace. Files git tracks or would track are never copied: their
    content comes from the workspace's base, not from your checkout."""
    copied: list[str] = []
    for pattern in patterns:
        for found in sorted(source.glob(pattern)):
            rel = found.relative_to(source)
            if rel.parts and rel.parts[0] == ".git" or not found.is_file():
                continue
            if not repo.git.path_is_ignored(rel.as_posix()):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found, target, follow_symlinks=False)
            copied.append(rel.as_posix())
    return copied


class FolderReader:
    """A checked-out folder, read through its own repository (for its filters)."""

    def __init__(self, path: Path) -> None:
        self.root = path
        self.checkout = pygit2.Repository(str(path))

    def locate(self, rel: str) -> Path | None:
        return self.root / rel

    def blob(self, rel: str, full: Path) -> str:
        return str(self.checkout.create_blob_fromworkdir(rel))  # clean filters (eol, …) applied

    def submodule_head(self, rel: str) -> str | None:
        return head_of(self.root / rel)


_GIT_WORKTREE = GitWorktree()
_OVERLAY = OverlayWorkspace()
