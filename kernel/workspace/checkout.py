"""The one module that writes files into a work tree — a workspace folder or
your checkout of the system branch — and the check that refuses to overwrite
what you changed there, as `git merge --ff-only` would.

A collapse moves the branch and then updates each checkout of it. Between the
two it leaves a note (`checkout-pending.json`); whoever takes the jitos lock
next finishes the update from the note (`ledger` below), touching only paths
still as they were before the collapse, so a crash in between loses nothing
and never overwrites anything written since.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pygit2

from kernel.base import canonical
from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.record import refs, state
from kernel.workspace import trees


@contextmanager
def ledger(repo: Repo, *, require_init: bool = True) -> Iterator[state.Ledger]:
    """`state.ledger`, after finishing a checkout update a killed collapse left:
    every command above the record layer records through this."""
    with state.ledger(repo, require_init=require_init, recover=finish_checkout_update) as led:
        yield led


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
        blob = repo.blob(entry.oid)
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
    write_atomic(_checkout_note(repo), canonical.dumps(note))


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
        old = repo.tree(note["old_tree"])
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
    tree = repo.tree(base_tree)
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
