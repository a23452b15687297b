"""Open the repository jitos works in, and look objects up in it by type.

Finds the git common dir from anywhere inside the repository or one of its
worktrees (an SWS included), and knows where jitos keeps its own state under
it: `<common dir>/jitos/` holds the store, workspaces, the lock and the local
config — never anything in the user's work tree.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TypeVar

import pygit2

from kernel.base.config import Config, load_config
from kernel.base.policy import environ_for_git_child
from kernel.base.store import CLONES_PREFIX, DIGEST_RE, HISTORY_REF, Store, digest_bytes
from kernel.errors import BadInput, IntegrityError, NotFound

T = TypeVar("T")


class Repo:
    """An opened repository: jitos's paths under its common dir, and the pygit2
    handle on it, opened when first used (a command that reads only jitos's
    own files, `jitos status` from saved folds, never loads git's library)."""

    __slots__ = ("_git", "common_dir", "workdir")

    def __init__(self, common_dir: Path, workdir: Path | None, git: pygit2.Repository | None = None) -> None:
        self.common_dir = common_dir
        self.workdir = workdir
        self._git = git

    @property
    def git(self) -> pygit2.Repository:
        if self._git is None:
            self._git = _opened(self.common_dir)
        return self._git

    @property
    def jitos_dir(self) -> Path:
        return self.common_dir / "jitos"

    @property
    def store(self) -> Store:
        return Store(self.jitos_dir / "store", _Carried(self))

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


# Per common dir: the history heads walked, and digest → blob id of what they carry.
_CARRIED_INDEX: dict[str, tuple[tuple[str, ...], dict[str, list[str]]]] = {}


class _Carried:
    """Store objects as git carries them: blobs named by their digest in the
    event commits of this clone's history and of every history fetched from
    other clones (`kernel.record.carry`). Found by walking those histories'
    trees once per process (and again when one of them moved): the store
    reads here only what `.git/jitos/store/` lacks."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def _all(self) -> dict[str, list[str]]:
        """Digest → every blob carried under that name, this clone's history first."""
        git = self.repo.git
        names = sorted((n for n in git.references
                        if n == HISTORY_REF or (n.startswith(CLONES_PREFIX) and n.endswith("/history"))),
                       key=lambda n: (n != HISTORY_REF, n))
        heads = tuple(str(git.references[n].target) for n in names)
        key = str(self.repo.common_dir)
        known = _CARRIED_INDEX.get(key)
        if known is not None and known[0] == heads:
            return known[1]
        found: dict[str, list[str]] = {}
        seen: set[str] = set()
        for head in heads:
            oid: str | None = head
            while oid and oid not in seen:
                seen.add(oid)
                commit = git.get(oid)
                if not isinstance(commit, pygit2.Commit):
                    break
                for entry in commit.tree:
                    if entry.name and DIGEST_RE.match(entry.name):
                        carriers = found.setdefault(entry.name, [])
                        if str(entry.id) not in carriers:
                            carriers.append(str(entry.id))
                oid = str(commit.parent_ids[0]) if commit.parent_ids else None
        _CARRIED_INDEX[key] = (heads, found)
        return found

    def read(self, digest: str) -> bytes | None:
        """The first carried blob whose bytes hash to `digest` (a history may carry a wrong one)."""
        for oid in self._all().get(digest, ()):
            blob = self.repo.git.get(oid)
            if isinstance(blob, pygit2.Blob) and digest_bytes(blob.data) == digest:
                return bytes(blob.data)
        return None

    def find(self, prefix: str) -> list[str]:
        return sorted(d for d in self._all() if d.startswith(prefix))


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
    plain = _plain_checkout(start)
    if plain is not None:
        return Repo(*plain)
    found = pygit2.discover_repository(str(start))
    if found is None:
        raise BadInput(f"{start} is not inside a git repository; run jitos from a repository (or `git init` one)")
    git_dir = Path(found)
    common = git_dir
    commondir_file = git_dir / "commondir"
    if commondir_file.is_file():
        common = (git_dir / commondir_file.read_text().strip()).resolve()
    git = _opened(common)
    workdir = Path(git.workdir) if git.workdir else None
    return Repo(common, workdir, git)


def _opened(common: Path) -> pygit2.Repository:
    git = pygit2.Repository(str(common))
    if git.is_bare:
        raise BadInput(f"{common} is a bare repository; jitos needs a work tree: run it in a clone with a checkout")
    return git


def _plain_checkout(start: Path) -> tuple[Path, Path] | None:
    """(common dir, work tree) found the way libgit2 finds them, without
    loading it, in the common case: a folder above `start` (on the same file
    system) holds a `.git` folder, or a `.git` file pointing at a linked
    worktree's git dir, whose common dir is named `.git`, is owned by this
    user and sets neither `core.worktree` nor `core.bare`. None for anything
    else (inside a git dir, a bare repository, another owner …), which
    `open_repo` leaves to libgit2."""
    try:
        device = os.stat(start).st_dev
        for folder in (start, *start.parents):
            if os.stat(folder).st_dev != device or _is_git_dir(folder):
                return None
            dot_git = folder / ".git"
            if dot_git.is_dir():
                return _checked(dot_git, dot_git, folder)
            if dot_git.is_file():
                line = dot_git.read_text(encoding="utf-8").strip()
                if not line.startswith("gitdir: ") or "\n" in line:
                    return None
                git_dir = (folder / line.removeprefix("gitdir: ")).resolve()
                common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
                return _checked(git_dir, common, common.parent)
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _is_git_dir(folder: Path) -> bool:
    return (folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir()


def _checked(git_dir: Path, common: Path, workdir: Path) -> tuple[Path, Path] | None:
    if not ((git_dir / "HEAD").is_file() and _is_git_dir(common) and common.name == ".git"
            and os.stat(common).st_uid == os.geteuid()):
        return None
    config = (common / "config").read_text(encoding="utf-8", errors="replace")
    lines = {"".join(line.split()).lower() for line in config.splitlines()}
    bare = [line for line in lines if line == "bare" or line.startswith("bare=")]
    if any(line not in ("bare=false", "bare=no", "bare=off", "bare=0") for line in bare) \
            or any(line.startswith("worktree=") for line in lines):
        return None
    return common, workdir


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
    opening = pygit2.enums.RepositoryOpenFlag
    flags = opening.BARE | opening.NO_SEARCH if git_dir else opening.DEFAULT
    try:
        return str(pygit2.Repository(str(folder), flags=flags).head.target)
    except (pygit2.GitError, KeyError, ValueError):
        return None


def run_git(repo: Repo, *args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
    """git `args`, run as it runs in your checkout (its config, attributes and
    hooks folder; the git dir alone for a bare repository), with no variable
    that would redirect it. Its exit code is the caller's to judge."""
    where = ["-C", str(repo.workdir)] if repo.workdir else [f"--git-dir={repo.common_dir}"]
    return subprocess.run(["git", *where, *args], capture_output=True, text=True, input=input_,
                          env=environ_for_git_child(), check=False)
