"""Overlay workspaces: a workspace is a directory of exactly its changed files
(the upper layer) over a shared, read-only checkout of its base tree (the
lower layer, `kernel.workspace.bases`), merged by OverlayFS inside a view
(`kernel.base.sandbox`) whenever a program runs there.

    <git dir>/jitos/layers/<id>/upper   changed files; deletions as whiteouts
                                        (0/0 character devices), folders that
                                        hide the base's as opaque (user.overlay.opaque)
    <git dir>/jitos/layers/<id>/work    OverlayFS's scratch folder
    <git dir>/jitos/layers/<id>/base    the tree id of the lower layer
    <git dir>/jitos/ws/<id>             where the merged tree shows, inside views
    <git dir>/worktrees/<id>/           git's record of the worktree (HEAD, an
                                        index linked to the base's), locked so
                                        `git worktree prune` keeps it

Creating a workspace costs some folders and small files, not a checkout.
jitos reads and writes the layers itself, outside any namespace, following
OverlayFS's rules, so snapshots read only the upper layer and nothing waits
for a mount. Nothing here records events or moves a shared ref.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pygit2

from kernel.base import canonical, sandbox
from kernel.base.files import exclusive, write_atomic
from kernel.base.repo import Repo, head_of
from kernel.workspace import bases, trash, trees
from kernel.workspace.checkout import stage, write_index

OPAQUE = "user.overlay.opaque"
# The index a workspace starts with holds the base checkout's stat data; inside
# the view the same files show through OverlayFS with other inode numbers and
# ctimes, so git compares only what still holds (size, mtime) before re-hashing.
GIT_ENV = (("GIT_CONFIG_COUNT", "2"), ("GIT_CONFIG_KEY_0", "core.checkStat"), ("GIT_CONFIG_VALUE_0", "minimal"),
           ("GIT_CONFIG_KEY_1", "core.trustctime"), ("GIT_CONFIG_VALUE_1", "false"))


def layer(repo: Repo, path: Path) -> Path:
    """The layers of the workspace whose folder is `path`."""
    return repo.jitos_dir / "layers" / path.name


def admin(repo: Repo, path: Path) -> Path:
    """git's worktree record for the workspace at `path`."""
    return repo.common_dir / "worktrees" / path.name


def is_overlay(repo: Repo, path: Path) -> bool:
    return (layer(repo, path) / "base").is_file()


def _utf8(rel: str) -> bool:
    """Whether a file name is text (the scan refuses the others, naming them)."""
    return not any("\udc80" <= ch <= "\udcff" for ch in rel)


def _whiteout(info: os.stat_result) -> bool:
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def _opaque(folder: Path) -> bool:
    try:
        return os.getxattr(folder, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


class Layers:
    """One workspace's layers, read and written by OverlayFS's rules."""

    def __init__(self, repo: Repo, path: Path) -> None:
        self.repo = repo
        self.root = layer(repo, path)
        self.upper = self.root / "upper"
        self.base_tree = (self.root / "base").read_text().strip()
        self.lower = bases.of(repo, self.base_tree).files
        self._tree: pygit2.Tree | None = None

    @property
    def tree(self) -> pygit2.Tree:
        """The base tree (what the lower layer holds)."""
        if self._tree is None:
            self._tree = self.repo.tree(self.base_tree)
        return self._tree

    # -- the merged view, computed ------------------------------------------

    def _shadow(self, rel: str) -> tuple[bool, bool]:
        """(gone, hidden): whether an ancestor of `rel` in the upper layer is
        not a folder (so `rel` cannot exist), or is an opaque folder (so the
        lower layer's `rel` does not show)."""
        parts = rel.split("/")
        hidden = False
        for i in range(1, len(parts)):
            folder = self.upper / "/".join(parts[:i])
            info = _lstat(folder)
            if info is None:
                continue
            if not stat.S_ISDIR(info.st_mode):
                return True, True
            hidden = hidden or _opaque(folder)
        return False, hidden

    def locate(self, rel: str) -> Path | None:
        """Where the merged view's `rel` is stored, or None if the view has nothing there."""
        gone, hidden = self._shadow(rel)
        if gone:
            return None
        above = self.upper / rel
        info = _lstat(above)
        if info is not None:
            return None if _whiteout(info) else above
        below = self.lower / rel
        return None if hidden or _lstat(below) is None else below

    def changed(self) -> set[str]:
        """Every path the upper layer may change: its entries, and the base's
        leaves under anything it whites out, replaces by a file or makes opaque."""
        return set(self._walk(self.upper, ""))

    def _walk(self, folder: Path, prefix: str) -> Iterator[str]:
        for entry in os.scandir(folder):
            rel = prefix + entry.name
            if rel == ".git":
                continue
            yield rel
            if entry.is_dir(follow_symlinks=False):
                if _opaque(Path(entry.path)):
                    yield from self._base_leaves(rel)
                yield from self._walk(Path(entry.path), rel + "/")
            else:
                yield from self._base_leaves(rel)

    def _base_leaves(self, rel: str) -> Iterator[str]:
        try:
            obj = self.tree[rel]
        except KeyError:
            return
        if isinstance(obj, pygit2.Tree):
            yield from (f"{rel}/{leaf}" for leaf in trees.diff(self.repo.git, None, str(obj.id)))

    # -- writing through the rules --------------------------------------------

    def write(self, changes: dict[str, trees.Entry | None]) -> None:
        """Make the merged view match `changes` (deletions first, so a file can
        become a folder and back)."""
        for rel in sorted((p for p, e in changes.items() if e is None), reverse=True):
            self._delete(rel)
        for rel, entry in sorted((p, e) for p, e in changes.items() if e is not None):
            self._clear(rel)
            if self._lower_shows(rel) and trees.entry_at(self.tree, rel) == entry:
                continue  # the base has it: the upper layer holds only what differs
            self._folders_for(rel)
            self._put(rel, entry)

    def _lower_shows(self, rel: str) -> bool:
        gone, hidden = self._shadow(rel)
        return not gone and not hidden and _lstat(self.lower / rel) is not None

    def _delete(self, rel: str) -> None:
        shows_below = self._lower_shows(rel)
        self._clear(rel)
        if shows_below:
            self._folders_for(rel)
            os.mknod(self.upper / rel, 0o600 | stat.S_IFCHR, os.makedev(0, 0))

    def _clear(self, rel: str) -> None:
        target = self.upper / rel
        info = _lstat(target)
        if info is None:
            return
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(target)
        else:
            target.unlink()

    def _folders_for(self, rel: str) -> None:
        """Make every parent of `rel` a folder in the merged view."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            folder = self.upper / prefix
            info = _lstat(folder)
            if info is not None and stat.S_ISDIR(info.st_mode):
                continue
            below = _lstat(self.lower / prefix)
            hid_below = below is not None and stat.S_ISDIR(below.st_mode) and not self._lower_shows(prefix)
            if info is not None:
                folder.unlink()  # a file, link or whiteout in the way
            folder.mkdir()
            if hid_below or info is not None and below is not None and stat.S_ISDIR(below.st_mode):
                os.setxattr(folder, OPAQUE, b"y", follow_symlinks=False)

    def _put(self, rel: str, entry: trees.Entry) -> None:
        target = self.upper / rel
        if entry.mode == trees.GITLINK_MODE:  # a submodule: an empty folder, as in a checkout
            target.mkdir(exist_ok=True)
            return
        data = self.repo.blob(entry.oid).data
        if entry.mode == trees.LINK_MODE:
            os.symlink(data, target)
            return
        target.write_bytes(data)
        os.chmod(target, 0o755 if entry.mode == trees.EXEC_MODE else 0o644)


class OverlayWorkspace:
    """Workspaces as layers over a shared base, merged inside views."""

    def materialize(self, repo: Repo, path: Path, commit: str) -> None:
        tree = repo.tree_of(commit)
        base = bases.ensure(repo, tree)
        root = layer(repo, path)
        if root.exists():  # left by a process that died before recording it
            trash.set_aside(repo, root, f"layers-{path.name}")
        (root / "upper").mkdir(parents=True)
        (root / "work").mkdir()
        path.mkdir(parents=True, exist_ok=True)
        _register(repo, path, commit, base)
        (root / "upper" / ".git").write_text(f"gitdir: {admin(repo, path)}\n")
        write_atomic(root / "base", f"{tree}\n".encode())  # last: its presence says the layers are whole

    def candidates(self, repo: Repo, path: Path, recorded_tree: str) -> set[str]:
        tracked = repo.tree(recorded_tree)
        # Untracked files git ignores are not content, as in a checkout's `git
        # status`. The rules are your checkout's: a workspace's own edits to
        # .gitignore files are not consulted here.
        layers = Layers(repo, path)
        found = {_outside_submodules(tracked, rel) for rel in layers.changed()
                 if not _utf8(rel) or rel in tracked or not repo.git.path_is_ignored(rel)}
        # A file the workspace added and recorded, then deleted, leaves nothing in
        # the upper layer (no whiteout hides a file the base lacks): every path
        # recorded as differing from the base is looked at again.
        found |= set(trees.diff(repo.git, layers.base_tree, recorded_tree))
        import_objects(repo, path)  # a commit made inside the view is read from here on
        head_tree = repo.tree_of(self._head(repo, path))
        if head_tree != recorded_tree:  # a commit made inside the view
            found |= set(trees.diff(repo.git, recorded_tree, head_tree))
        return found

    def reader(self, repo: Repo, path: Path) -> LayerReader:
        return LayerReader(repo, path)

    def new_files_root(self, repo: Repo, path: Path) -> Path:
        return layer(repo, path) / "upper"  # a file the base lacks needs no whiteout or opaque folder

    def write(self, repo: Repo, path: Path, changes: dict[str, trees.Entry | None]) -> None:
        Layers(repo, path).write(changes)

    def settle(self, repo: Repo, path: Path, commit: str, entries: dict[str, trees.Entry | None]) -> None:
        # Rewriting a 50k-entry index costs ~0.1 s; only git run inside the view
        # reads it, so the entries wait in a note until a program runs there.
        note = layer(repo, path) / "index-pending.json"
        with exclusive(layer(repo, path) / "index-pending.lock", wait=60.0):
            pending = canonical.loads(note.read_bytes()) if note.is_file() else {}
            pending.update({rel: (list(e) if e else None) for rel, e in entries.items()})
            write_atomic(note, canonical.dumps(pending))
        write_atomic(admin(repo, path) / "HEAD", f"{commit}\n".encode())

    def _catch_up_index(self, repo: Repo, path: Path) -> None:
        """Bring the workspace's index to its recorded head before git can read
        it. Parallel steps of one task start views at once: one catches up,
        under a lock, and the others find the note gone."""
        note = layer(repo, path) / "index-pending.json"
        if not note.is_file():
            return
        with exclusive(layer(repo, path) / "index-pending.lock", wait=60.0):
            try:
                pending = canonical.loads(note.read_bytes()).items()
            except FileNotFoundError:
                return
            where = admin(repo, path) / "index"
            index = pygit2.Index(str(where))
            stage(index, {rel: (trees.Entry(e[0], e[1]) if e else None) for rel, e in pending})
            # A new file renamed into place: the base's index it was linked to stays as it was.
            write_index(index, where, f"workspace {path.name}")
            note.unlink()

    def move_to(self, repo: Repo, path: Path, commit: str, changes: dict[str, trees.Entry | None], *,
                onto: str) -> None:
        """Where the system's tree already has a shared base, the workspace
        moves onto it: the upper layer keeps only the workspace's own changes
        and its old base can be collected. Otherwise the lower layer stays and
        the system's changes land in the upper one like any other write (a
        re-base runs under the jitos lock, where a checkout of a large tree
        would hold everyone up)."""
        lower = repo.tree_of(onto)
        if lower != Layers(repo, path).base_tree and bases.of(repo, lower).index.is_file():
            self._restack(repo, path, commit, bases.of(repo, lower))
            Layers(repo, path).write(changes)  # the system's paths now show from the lower layer
            write_atomic(admin(repo, path) / "HEAD", f"{commit}\n".encode())
            return
        Layers(repo, path).write(changes)
        self.settle(repo, path, commit, changes)

    def _restack(self, repo: Repo, path: Path, commit: str, base: bases.Base) -> None:
        """Put the workspace on `base`: its index becomes the base's plus the
        workspace's own entries (in the pending note), then the `base` file
        switches the lower layer. The index is only git's cache, so a crash
        before the switch leaves a correct workspace, and the re-base's note
        runs this again."""
        own = trees.diff(repo.git, base.tree, repo.tree_of(commit))
        root, record = layer(repo, path), admin(repo, path)
        write_atomic(root / "index-pending.json",
                     canonical.dumps({rel: (list(e) if e else None) for rel, e in own.items()}))
        linked = record / "index.restack"
        linked.unlink(missing_ok=True)
        os.link(base.index, linked)
        os.replace(linked, record / "index")
        write_atomic(root / "base", f"{base.tree}\n".encode())

    def command(self, repo: Repo, path: Path, argv: list[str], *, network: bool,
                private: Path | None = None) -> list[str]:
        self._catch_up_index(repo, path)
        return sandbox.launcher(view(repo, path, network=network, private=private), argv, path)

    def remove(self, repo: Repo, path: Path) -> None:
        root = layer(repo, path)
        if root.exists():
            trash.set_aside(repo, root, f"layers-{path.name}")
        shutil.rmtree(admin(repo, path), ignore_errors=True)
        if path.is_dir():
            trash.set_aside(repo, path, f"view-{path.name}")

    def empty_trash(self, repo: Repo) -> None:
        trash.empty(repo)

    def _head(self, repo: Repo, path: Path) -> str:
        return (admin(repo, path) / "HEAD").read_text().strip()


def _outside_submodules(tracked: pygit2.Tree, rel: str) -> str:
    """`rel`, or the submodule it lies inside (whose checkout is its own
    repository: the workspace records only the commit it has out)."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        try:
            if tracked[prefix].filemode == trees.GITLINK_MODE:
                return prefix
        except KeyError:
            return rel
    return rel


class LayerReader:
    """Reads the merged view's files as git stores them: clean filters (eol, …)
    applied, by the attributes of your checkout, as for ignore rules (the
    workspace's own index would cost a read of every entry per file)."""

    def __init__(self, repo: Repo, path: Path) -> None:
        self.repo = repo
        self.view = path
        self.layers = Layers(repo, path)
        # libgit2 reads the whole index to load a file's filters (~4 ms a file at
        # 50k files): ask only where attributes or eol settings can apply.
        self.filtered = bases.of(repo, self.layers.base_tree).has_attributes or _eol_configured(repo)

    def locate(self, rel: str) -> Path | None:
        return self.layers.locate(rel)

    def submodule_head(self, rel: str) -> str | None:
        full = self.locate(rel)
        if full is None:
            return None
        link = full / ".git"
        if not link.is_file():
            return head_of(full)
        # git wrote the link relative to where the folder shows in the view
        target = link.read_text().strip().removeprefix("gitdir:").strip()
        return head_of(os.path.normpath(self.view / rel / target), git_dir=True)

    def blob(self, rel: str, full: Path) -> str:
        data = full.read_bytes()
        filters = self.repo.git.load_filter_list(rel) if self.filtered else None
        if filters is not None:
            data = filters.apply_to_buffer(data)
        return str(self.repo.git.create_blob(data))


def _eol_configured(repo: Repo) -> bool:
    config = repo.git.config
    if any(name in config for name in ("core.autocrlf", "core.eol", "core.attributesFile")):
        return True
    return (repo.common_dir / "info" / "attributes").is_file()


def view(repo: Repo, path: Path, *, network: bool, private: Path | None = None) -> sandbox.View:
    """What a program run in the workspace at `path` sees: the merged tree at
    `path` (its writes going to the folder `private` when given, which the
    caller discards: several steps that only read run at once, each in its
    own view, and OverlayFS allows one mount per upper layer) and the
    workspace's own worktree record writable; your checkout and
    the whole git dir (refs, config, hooks) read-only. The repository's object
    folder shows merged with the workspace's own, so the objects git writes
    there (a commit made inside) land in the workspace's layer: a program can
    add objects but never delete or damage the repository's. (An overlay, not
    GIT_OBJECT_DIRECTORY: that variable would follow the program into every
    other repository it touches, a submodule or a test's scratch repository.)"""
    root = layer(repo, path)
    for name in ("objects", "objects-work"):
        (root / name).mkdir(exist_ok=True)
    lower = bases.of(repo, (root / "base").read_text().strip()).files
    if private is None:
        merged = sandbox.Overlay((lower,), root / "upper", root / "work", path)
        objects = sandbox.Overlay((repo.common_dir / "objects",), root / "objects", root / "objects-work",
                                  repo.common_dir / "objects")
    else:  # the workspace's own layers become read-only layers under a private one
        for name in ("upper", "work", "objects", "objects-work"):
            (private / name).mkdir(parents=True, exist_ok=True)
        merged = sandbox.Overlay((root / "upper", lower), private / "upper", private / "work", path)
        objects = sandbox.Overlay((root / "objects", repo.common_dir / "objects"), private / "objects",
                                  private / "objects-work", repo.common_dir / "objects")
    roots = [repo.common_dir]
    if repo.workdir is not None and repo.common_dir.resolve().is_relative_to(repo.workdir.resolve()):
        roots = [repo.workdir]
    elif repo.workdir is not None:
        roots.append(repo.workdir)
    # A private view's git cannot move the workspace's HEAD or index either: a
    # commit made there is discarded with its objects.
    record = admin(repo, path)
    return sandbox.View(overlays=(merged, objects),
                        read_only=tuple(roots) + ((record,) if private is not None else ()),
                        writable=(record,) if private is None else (), network=network, env=GIT_ENV)


def import_objects(repo: Repo, path: Path) -> None:
    """Copy the objects a program wrote in the workspace's view into the
    repository. Each is read and written again, so its id is computed here:
    a file planted in the layer (a mislabelled object, an `info/alternates`)
    can never change what an id means or where git looks."""
    own = layer(repo, path) / "objects"
    if not own.is_dir() or not any(own.iterdir()):
        return
    written = pygit2.Odb(str(own))
    odb = repo.git.odb
    for oid in written:
        if oid in odb:
            continue
        try:
            kind, data = written.read(oid)
        except (pygit2.GitError, KeyError, ValueError):
            continue  # unreadable or not what its name says: not an object
        odb.write(kind, data)


def _register(repo: Repo, path: Path, commit: str, base: bases.Base) -> None:
    """Record the workspace as a git worktree, without a checkout: HEAD at
    `commit`, an index linked to the base's (git replaces the file when it
    writes one, so the base's stays as it was), and a lock, because outside a
    view the folder looks empty and `git worktree prune` would drop it."""
    record = admin(repo, path)
    shutil.rmtree(record, ignore_errors=True)
    record.mkdir(parents=True)
    (record / "HEAD").write_text(f"{commit}\n")
    (record / "commondir").write_text("../..\n")
    (record / "gitdir").write_text(f"{path / '.git'}\n")
    (record / "locked").write_text("a jitos overlay workspace: its files show only inside jitos views\n")
    os.link(base.index, record / "index")
