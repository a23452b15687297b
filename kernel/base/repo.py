"""Open the repository jitos works in, and look objects up in it by type.

Finds the git common dir from anywhere inside the repository or one of its
worktrees (an SWS included), and knows where jitos keeps its own state under
it: `<common dir>/jitos/` holds the store, workspaces, the lock and the local
config — never anything in the user's work tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pygit2
from pygit2.enums import RepositoryOpenFlag

from kernel.base.config import Config, load_config
from kernel.base.store import Store
from kernel.errors import BadInput, IntegrityError, NotFound

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Repo:
    """An opened repository: the pygit2 handle on the common dir plus jitos's paths."""

    git: pygit2.Repository
    common_dir: Path
    workdir: Path | None

    @property
    def jitos_dir(self) -> Path:
        return self.common_dir / "jitos"

    @property
    def store(self) -> Store:
        return Store(self.jitos_dir / "store")

    @property
    def lock_path(self) -> Path:
        return self.jitos_dir / "lock"

    @property
    def workspaces_dir(self) -> Path:
        return self.jitos_dir / "ws"

    @property
    def overlays_dir(self) -> Path:
        return self.jitos_dir / "overlay"

    def config(self) -> Config:
        return load_config(self.workdir, self.jitos_dir)

    def commit(self, oid: str) -> pygit2.Commit:
        """The commit `oid` (IntegrityError if it is missing or not a commit)."""
        return _typed(self.git, oid, pygit2.Commit)

    def tree(self, oid: str) -> pygit2.Tree:
        return _typed(self.git, oid, pygit2.Tree)

    def blob(self, oid: str) -> pygit2.Blob:
        return _typed(self.git, oid, pygit2.Blob)

    def tree_of(self, commit: str) -> str:
        """The id of commit `commit`'s tree."""
        return str(self.commit(commit).tree_id)


def _typed(git: pygit2.Repository, oid: str, kind: type[T]) -> T:
    try:
        obj = git[oid]
    except (KeyError, ValueError):
        raise IntegrityError(f"object {oid[:12]} is missing from the object database; run `jitos verify`") from None
    if not isinstance(obj, kind):
        raise IntegrityError(f"object {oid[:12]} is a {type(obj).__name__.lower()}, not a {kind.__name__.lower()}")
    return obj


def open_repo(start: Path | None = None) -> Repo:
    """Open the repository containing `start` (default: the current directory)."""
    start = (start or Path.cwd()).resolve()
    found = pygit2.discover_repository(str(start))
    if found is None:
        raise BadInput(f"{start} is not inside a git repository; run jitos from a repository (or `git init` one)")
    git_dir = Path(found)
    common = git_dir
    commondir_file = git_dir / "commondir"
    if commondir_file.is_file():
        common = (git_dir / commondir_file.read_text().strip()).resolve()
    git = pygit2.Repository(str(common))
    if git.is_bare:
        raise BadInput(f"{common} is a bare repository; jitos needs a work tree: run it in a clone with a checkout")
    workdir = Path(git.workdir) if git.workdir else None
    return Repo(git=git, common_dir=common, workdir=workdir)


def resolve_commit(repo: Repo, rev: str) -> pygit2.Commit:
    """Resolve a user-supplied revision to a commit, refusing option-like values."""
    if not rev or rev.startswith("-") or any(ch.isspace() for ch in rev):
        raise BadInput(f"{rev!r} is not a revision; give a branch, tag or commit id")
    try:
        obj = repo.git.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise NotFound(f"unknown revision {rev!r}; check `git log` for a branch, tag or commit id") from None
    return commit


def head_of(folder: Path | str, *, git_dir: bool = False) -> str | None:
    """The commit HEAD names in another repository: the checkout at `folder`
    (a submodule's, say) or, with `git_dir`, that git dir itself, whose work
    tree may show only inside a view. None when there is none."""
    flags = RepositoryOpenFlag.BARE | RepositoryOpenFlag.NO_SEARCH if git_dir else RepositoryOpenFlag.DEFAULT
    try:
        return str(pygit2.Repository(str(folder), flags=flags).head.target)
    except (pygit2.GitError, KeyError, ValueError):
        return None
