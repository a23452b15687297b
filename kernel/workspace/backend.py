"""The storage seam for speculative workspaces, and its default backend.

A backend materialises a commit as a directory people and editors can use,
says which paths may have changed since the last recorded tree, settles after
a snapshot so the next scan starts from it, and removes the directory. The
default backend is a real git worktree (detached HEAD at the SWS's latest
snapshot, its own index as the stat cache). A faster backend (an overlay
mount, say) implements the same four calls; nothing above this module knows
how a workspace is stored.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import pygit2

from kernel.base import canonical
from kernel.base.repo import Repo, environ_for_git_child
from kernel.errors import JitosError
from kernel.record import refs
from kernel.workspace import trees


class Backend(Protocol):
    def materialize(self, repo: Repo, path: Path, commit: str) -> None: ...

    def candidates(self, repo: Repo, path: Path, recorded_tree: str) -> set[str]: ...

    def settle(self, repo: Repo, path: Path, commit: str, entries: dict[str, trees.Entry | None]) -> None: ...

    def remove(self, repo: Repo, path: Path) -> None: ...

    def move_to(self, repo: Repo, path: Path, commit: str, changes: dict[str, trees.Entry | None]) -> None: ...


class GitWorktree:
    """Workspaces as `git worktree`s with a detached HEAD."""

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
        wt = pygit2.Repository(str(path))
        found = set(wt.status(untracked_files="all", ignored=False))
        head_tree = str(wt.head.peel(pygit2.Commit).tree_id)
        if head_tree != recorded_tree:
            # Someone committed inside the worktree: what differs between the
            # recorded tree and HEAD may differ on disk too.
            found |= set(trees.diff(repo.git, recorded_tree, head_tree))
        return found

    def settle(self, repo: Repo, path: Path, commit: str, entries: dict[str, trees.Entry | None]) -> None:
        wt = pygit2.Repository(str(path))
        index = wt.index
        for rel, entry in sorted(entries.items()):
            if entry is None:
                try:
                    index.remove(rel)
                except (KeyError, OSError, pygit2.GitError):
                    pass
            else:
                # The recorded id, not a re-read of the file: an edit made after
                # the scan must still show up as a change in the next scan.
                index.add(pygit2.IndexEntry(rel, pygit2.Oid(hex=entry.oid), pygit2.enums.FileMode(entry.mode)))
        index.write()
        # The worktree's own HEAD, private to this workspace folder; the shared
        # refs/jitos/sws/<id> moved (compare-and-swap) in the event before this.
        wt.set_head(pygit2.Oid(hex=commit))

    def move_to(self, repo: Repo, path: Path, commit: str, changes: dict[str, trees.Entry | None]) -> None:
        """Rewrite `changes` on disk and point HEAD at `commit` (a re-based snapshot)."""
        write_paths(repo, path, changes)
        pygit2.Repository(str(path)).set_head(pygit2.Oid(hex=commit))

    def remove(self, repo: Repo, path: Path) -> None:
        """Detach the folder from git and move it to the trash in one rename, so
        the jitos lock is never held while a large tree is deleted; the caller
        empties the trash (`empty_trash`) once the lock is released."""
        name = _worktree_name(repo, path)
        if path.exists():
            trash = repo.jitos_dir / "trash"
            trash.mkdir(exist_ok=True)
            os.rename(path, trash / f"{path.name}.{os.getpid()}.{time.monotonic_ns()}")
        if name is not None:
            worktree = repo.git.lookup_worktree(name)
            worktree.prune(True)


def empty_trash(repo: Repo) -> None:
    """Delete removed workspace folders (also those a killed process left)."""
    trash = repo.jitos_dir / "trash"
    if trash.is_dir():
        for entry in os.listdir(trash):
            shutil.rmtree(trash / entry, ignore_errors=True)


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


DEFAULT_BACKEND: Backend = GitWorktree()


def write_paths(repo: Repo, root: Path, changes: dict[str, trees.Entry | None]) -> None:
    """Make the files under `root` match `changes` (deletions first, so a file
    can become a folder and back), then record them in that checkout's index
    with fresh stat data, as `git merge --ff-only` would."""
    checkout = pygit2.Repository(str(root))
    index = checkout.index
    for rel in sorted((p for p, e in changes.items() if e is None), reverse=True):
        target = root / rel
        if target.is_symlink() or target.is_file():
            target.unlink()
        try:
            index.remove(rel)
        except (KeyError, OSError, pygit2.GitError):
            pass
        _prune_empty_dirs(root, target.parent)
    for rel, entry in sorted((p, e) for p, e in changes.items() if e is not None):
        target = root / rel
        for parent in reversed(target.relative_to(root).parents[:-1]):
            folder = root / parent
            if folder.is_symlink() or folder.is_file():
                folder.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        if entry.mode == trees.GITLINK_MODE:  # a submodule: an empty folder and its index entry
            target.mkdir(exist_ok=True)
            index.add(pygit2.IndexEntry(rel, pygit2.Oid(hex=entry.oid), pygit2.enums.FileMode.COMMIT))
            continue
        blob = repo.git[entry.oid]
        assert isinstance(blob, pygit2.Blob)
        if entry.mode == trees.LINK_MODE:
            os.symlink(blob.data, target)
        else:
            target.write_bytes(blob.data)
            os.chmod(target, 0o755 if entry.mode == trees.EXEC_MODE else 0o644)
        index.add(rel)
    index.write()


def _checkout_note(repo: Repo) -> Path:
    return repo.jitos_dir / "checkout-pending.json"


def note_checkout_update(repo: Repo, roots: list[Path], branch_ref: str, old_tree: str, commit: str,
                         changes: Mapping[str, trees.Entry | None]) -> None:
    """Before the branch moves to `commit`: which checkouts must follow, and how."""
    note = {"roots": [str(r) for r in roots], "branch": branch_ref, "old_tree": old_tree, "commit": commit,
            "changes": {p: (list(e) if e else None) for p, e in changes.items()}}
    path = _checkout_note(repo)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(canonical.dumps(note))
    os.replace(tmp, path)


def done_checkout_update(repo: Repo) -> None:
    _checkout_note(repo).unlink(missing_ok=True)


def finish_checkout_update(repo: Repo) -> None:
    """After a crash between a collapse's ref move and its checkout update: if the
    branch did move, bring each noted checkout along — only the paths still as
    they were before the collapse, so nothing anyone wrote since is touched."""
    path = _checkout_note(repo)
    try:
        note = canonical.loads(path.read_bytes())
    except FileNotFoundError:
        return
    if refs.read(repo, note["branch"]) == note["commit"]:
        changes = {p: (trees.Entry(e[0], e[1]) if e else None) for p, e in note["changes"].items()}
        old = repo.git[note["old_tree"]]
        assert isinstance(old, pygit2.Tree)
        for root in map(Path, note["roots"]):
            if not root.is_dir():
                continue
            index = pygit2.Repository(str(root)).index
            behind = {}
            for rel, entry in changes.items():
                staged = index[rel] if rel in index else None  # noqa: SIM401 - pygit2 Index has no get()
                have = trees.Entry(str(staged.id), int(staged.mode)) if staged is not None else None
                if have == _entry(old, rel) and have != entry:
                    behind[rel] = entry
            if behind:
                write_paths(repo, root, behind)
    path.unlink()


def _prune_empty_dirs(root: Path, folder: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def local_edits(repo: Repo, root: Path, base_tree: str, changes: Mapping[str, trees.Entry | None]) -> list[str]:
    """Paths the update `changes` (from `base_tree`) would overwrite in the
    checkout at `root`: a changed path whose index entry or file differs from
    `base_tree` (an untracked file where the base has none included), and
    anything untracked standing where a new file or folder must go — what
    `git merge --ff-only` refuses to overwrite."""
    checkout = pygit2.Repository(str(root))
    index = checkout.index
    tree = repo.git[base_tree]
    assert isinstance(tree, pygit2.Tree)
    deleted = {p for p, e in changes.items() if e is None}
    dirty: set[str] = set()
    for rel in sorted(changes):
        want = _entry(tree, rel)
        staged = index[rel] if rel in index else None  # noqa: SIM401 - pygit2 Index has no get()
        have_index = trees.Entry(str(staged.id), int(staged.mode)) if staged is not None else None
        if have_index != want or _on_disk(checkout, root, rel, want) != want:
            dirty.add(rel)
        if changes[rel] is None:
            continue
        parts = rel.split("/")
        for i in range(1, len(parts)):  # a file (or link) in the way of a folder to create
            prefix = "/".join(parts[:i])
            where = root / prefix
            if (where.is_symlink() or where.exists() and not where.is_dir()) and prefix not in deleted:
                dirty.add(prefix)
        target = root / rel
        new = changes[rel]
        if new is not None and new.mode == trees.GITLINK_MODE or want is not None and want.mode == trees.GITLINK_MODE:
            continue  # a submodule's folder is its own checkout, as in git
        if target.is_dir() and not target.is_symlink():  # a folder in the way of a file
            for inner in target.rglob("*"):
                inner_rel = inner.relative_to(root).as_posix()
                if not inner.is_dir() and inner_rel not in deleted:
                    dirty.add(inner_rel)
    return sorted(dirty)


def _entry(tree: pygit2.Tree, rel: str) -> trees.Entry | None:
    """What `tree` has at `rel` as a leaf (a folder there counts as absent)."""
    try:
        obj = tree[rel]
    except KeyError:
        return None
    mode = int(obj.filemode)
    return None if mode == trees.TREE_MODE else trees.Entry(str(obj.id), mode)


def _on_disk(checkout: pygit2.Repository, root: Path, rel: str, want: trees.Entry | None) -> trees.Entry | None:
    """What the checkout has at `rel`, hashed as git would store it (clean filters applied)."""
    path = root / rel
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if want is not None and want.mode == trees.GITLINK_MODE:
        return want  # a submodule's checkout is its own business, as in git
    if stat.S_ISLNK(info.st_mode):
        return trees.Entry(str(pygit2.hash(os.fsencode(os.readlink(path)))), trees.LINK_MODE)
    if stat.S_ISREG(info.st_mode):
        mode = trees.EXEC_MODE if info.st_mode & 0o111 else trees.BLOB_MODE
        return trees.Entry(str(checkout.create_blob_fromworkdir(rel)), mode)
    return None
