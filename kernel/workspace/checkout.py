"""The one module that writes files into a work tree — a workspace folder (on
behalf of the backend) or your checkout of the system branch — and, for your
checkouts of that branch, the check that refuses to overwrite what you changed
there, as `git merge --ff-only` would. Never moves a ref or records an event.

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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pygit2

from kernel.base import canonical, faults
from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.record import refs, state
from kernel.workspace import trees


@contextmanager
def ledger(repo: Repo, *, require_init: bool = True) -> Iterator[state.Ledger]:
    """`state.ledger`, after finishing a checkout update a killed collapse left:
    every command above the record layer records through this."""
    with state.ledger(repo, require_init=require_init, recover=finish_checkout_update) as led:
        yield led


def write_paths(repo: Repo, root: Path, changes: dict[str, trees.Entry | None],
                checkout: pygit2.Repository | None = None) -> None:
    """Make the files under `root` match `changes` (deletions first, so a file
    can become a folder and back), then record them in that checkout's index
    with fresh stat data, as `git merge --ff-only` would. `checkout` is the
    checkout's repository when the caller has it open (its index loaded)."""
    there = checkout or pygit2.Repository(str(root))
    index = there.index
    index.read(False)  # as it is on disk now, if anything wrote it since it was loaded
    for rel in sorted((p for p, e in changes.items() if e is None), reverse=True):
        _delete(root, index, rel)
    for rel, entry in sorted((p, e) for p, e in changes.items() if e is not None):
        _make_way(root, root / rel)
        _write(repo, root, index, rel, entry)
        faults.point("checkout.file")
    write_index(index, Path(there.path) / "index", str(root))


def write_index(index: pygit2.Index, path: Path, where: str) -> None:
    """Write `index` (kept at `path`) to disk; a clear error, naming the lock
    and how to clear it, when git holds it (a running git, or one killed)."""
    try:
        index.write()
    except pygit2.GitError as err:
        if "locked" not in str(err):
            raise
        raise BadInput(f"the git index of {where} is locked ({path}.lock): another git command is running "
                       f"there, or one was killed; if none is running, remove it (rm {path}.lock) and run "
                       "the command again") from None


def _delete(root: Path, index: pygit2.Index, rel: str) -> None:
    target = root / rel
    if target.is_symlink() or target.is_file():
        target.unlink()
    try:
        index.remove(rel)
    except (KeyError, OSError, pygit2.GitError):
        pass
    _prune_empty_dirs(root, target.parent)


def _make_way(root: Path, target: Path) -> None:
    """Clear what stands where `target` or one of its folders must go: a file
    or link in place of a folder, whatever is at `target` itself."""
    for parent in reversed(target.relative_to(root).parents[:-1]):
        folder = root / parent
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)


def _write(repo: Repo, root: Path, index: pygit2.Index, rel: str, entry: trees.Entry) -> None:
    target = root / rel
    if entry.mode == trees.GITLINK_MODE:  # a submodule: an empty folder and its index entry
        target.mkdir(exist_ok=True)
        index.add(pygit2.IndexEntry(rel, pygit2.Oid(hex=entry.oid), pygit2.enums.FileMode.COMMIT))
        return
    blob = repo.blob(entry.oid)
    if entry.mode == trees.LINK_MODE:
        os.symlink(blob.data, target)
    else:
        target.write_bytes(blob.data)
        os.chmod(target, 0o755 if entry.mode == trees.EXEC_MODE else 0o644)
    index.add(rel)


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


def checkout_update_pending(repo: Repo) -> bool:
    """Whether a killed collapse left a checkout update to finish."""
    return _checkout_note(repo).is_file()


def finish_interrupted(repo: Repo) -> bool:
    """Finish what a killed command left half-done (a checkout update, a ref
    journal, a stale lock on a jitos ref) before any command reads or writes:
    a read-only command too, so your checkout never shows a landed change as
    staged for deletion. True when there was a checkout update to finish."""
    pending = checkout_update_pending(repo)
    if pending or refs.journal_pending(repo) or refs.stale_locks(repo):
        with ledger(repo, require_init=False):
            pass
    return pending


def finish_checkout_update(repo: Repo) -> None:
    """After a crash between a collapse's ref move and its checkout update: if the
    branch did move, bring each noted checkout along — only the paths still as
    they were before the collapse, so nothing anyone wrote since is touched."""
    path = _checkout_note(repo)
    try:
        note = canonical.loads(path.read_bytes())
    except FileNotFoundError:
        return
    commit = repo.git.get(str(note.get("commit", "")))
    branch = str(note.get("branch", ""))
    if isinstance(commit, pygit2.Commit) and commit.parent_ids and refs.read(repo, branch) == str(commit.id):
        # Only the flag is taken from the note: what changes is the landed commit
        # against its parent, and which checkouts follow is asked of git, so a
        # note nobody trustworthy wrote can write nothing but the branch's content.
        old = repo.commit(str(commit.parent_ids[0])).tree
        changes = trees.diff(repo.git, str(old.id), str(commit.tree_id))
        following = {os.path.realpath(r) for r in checkouts_of(repo, branch.removeprefix("refs/heads/"))}
        for root in map(Path, note["roots"]):
            if not root.is_dir() or os.path.realpath(root) not in following:
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


def checkouts_of(repo: Repo, branch: str) -> list[Path]:
    """Work trees that have `branch` checked out (never jitos's own workspaces)."""
    ref = f"refs/heads/{branch}"
    found: list[Path] = []
    git = repo.git
    if repo.workdir is not None and not git.head_is_unborn and not git.head_is_detached and git.head.name == ref:
        found.append(repo.workdir)
    ours = os.path.realpath(repo.workspaces_dir)
    for name in git.list_worktrees():
        try:
            path = git.lookup_worktree(name).path
            if os.path.realpath(path).startswith(ours + os.sep) or not os.path.isdir(path):
                continue
            other = pygit2.Repository(path)
            if not other.head_is_detached and other.head.name == ref:
                found.append(Path(path))
        except (KeyError, pygit2.GitError):
            continue
    return found


def refuse_locked_index(roots: Iterable[Path]) -> None:
    """Bad input (nothing changed yet) when git holds the index of one of `roots`."""
    for root in roots:
        lock = Path(pygit2.Repository(str(root)).path) / "index.lock"
        if lock.exists():
            raise BadInput(f"the git index of your checkout at {root} is locked ({lock}): another git command "
                           f"is running there, or one was killed; nothing was changed — if none is running, "
                           f"remove it (rm {lock}) and run the command again")


def local_edits(repo: Repo, root: Path, base_tree: str, changes: Mapping[str, trees.Entry | None],
                checkout: pygit2.Repository | None = None) -> list[str]:
    """Paths the update `changes` (from `base_tree`) would overwrite in the
    checkout at `root`: a changed path whose index entry or file differs from
    `base_tree` (an untracked file where the base has none included), and
    anything untracked standing where a new file or folder must go — what
    `git merge --ff-only` refuses to overwrite. Only those paths are looked
    at, never the whole checkout."""
    checkout = checkout or pygit2.Repository(str(root))
    index = checkout.index
    tree = repo.tree(base_tree)
    deleted = {p for p, e in changes.items() if e is None}
    dirty: set[str] = set()
    for rel in sorted(changes):
        want = _entry(tree, rel)
        if _edited(checkout, index, root, rel, want):
            dirty.add(rel)
        new = changes[rel]
        if new is None:
            continue
        dirty.update(_files_where_folders_go(root, rel, deleted))
        if new.mode != trees.GITLINK_MODE and (want is None or want.mode != trees.GITLINK_MODE):
            dirty.update(_files_where_a_file_goes(root, rel, deleted))
    return sorted(dirty)


def _edited(checkout: pygit2.Repository, index: pygit2.Index, root: Path, rel: str,
            want: trees.Entry | None) -> bool:
    """Whether the index entry or the file at `rel` differs from `want`."""
    staged = index[rel] if rel in index else None  # noqa: SIM401 - pygit2 Index has no get()
    have_index = trees.Entry(str(staged.id), int(staged.mode)) if staged is not None else None
    return have_index != want or _on_disk(checkout, root, rel, want) != want


def _files_where_folders_go(root: Path, rel: str, deleted: set[str]) -> set[str]:
    """A file (or link) standing where a folder of `rel` must be created."""
    parts = rel.split("/")
    found = set()
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        where = root / prefix
        if (where.is_symlink() or where.exists() and not where.is_dir()) and prefix not in deleted:
            found.add(prefix)
    return found


def _files_where_a_file_goes(root: Path, rel: str, deleted: set[str]) -> set[str]:
    """Files inside a folder standing where the file `rel` must be written (a
    submodule's folder is its own checkout, as in git: callers skip it)."""
    target = root / rel
    if not target.is_dir() or target.is_symlink():
        return set()
    found = set()
    for inner in target.rglob("*"):
        inner_rel = inner.relative_to(root).as_posix()
        if not inner.is_dir() and inner_rel not in deleted:
            found.add(inner_rel)
    return found


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


def stage(index: pygit2.Index, entries: Mapping[str, trees.Entry | None]) -> None:
    """Record `entries` in `index` (None: remove) by their recorded ids, not by
    re-reading files: an edit made after a scan must still show as a change in
    the next one. The caller writes the index."""
    for rel, entry in sorted(entries.items()):
        if entry is None:
            try:
                index.remove(rel)
            except (KeyError, OSError, pygit2.GitError):
                pass
        else:
            index.add(pygit2.IndexEntry(rel, pygit2.Oid(hex=entry.oid), pygit2.enums.FileMode(entry.mode)))
