"""Shared, read-only checkouts of base trees: one per tree id, made once and
used as the lower layer of every overlay workspace on that tree.

`<git dir>/jitos/bases/<tree id>/` holds `files/` (the tree checked out as
`git checkout` would write it, smudge filters applied) and `index` (an index
of that checkout with its stat data, which a workspace links to so that
`git status` inside a view does not re-hash every file). A base is built in a
temp folder and renamed into place, so a reader finds a whole base or none,
and two processes racing to build the same one both end up using one.

A base is content-addressed: nothing ever writes into one after it is made;
`jitos gc` removes the ones no live workspace uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kernel.base.policy import environ_for_git_child
from kernel.base.repo import Repo
from kernel.errors import JitosError


@dataclass(frozen=True, slots=True)
class Base:
    tree: str
    root: Path

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def has_attributes(self) -> bool:
        """Whether the tree holds a `.gitattributes` file anywhere (noted when it was built)."""
        return (self.root / "has-attributes").is_file()


def folder(repo: Repo) -> Path:
    return repo.jitos_dir / "bases"


def of(repo: Repo, tree: str) -> Base:
    return Base(tree, folder(repo) / tree)


def ensure(repo: Repo, tree: str) -> Base:
    """The shared checkout of `tree`, built now if no one has built it yet."""
    base = of(repo, tree)
    if base.index.is_file():
        return base
    folder(repo).mkdir(parents=True, exist_ok=True)
    building = folder(repo) / f".new-{tree[:12]}-{os.getpid()}-{time.monotonic_ns()}"
    (building / "files").mkdir(parents=True)
    try:
        _checkout(repo, tree, building)
        if any(entry.path == ".gitattributes" or entry.path.endswith("/.gitattributes")
               for entry in pygit2.Index(str(building / "index"))):
            (building / "has-attributes").write_text("")
        try:
            os.rename(building, base.root)
        except OSError:
            if not base.index.is_file():  # not a lost race: something else is in the way
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return base


def _checkout(repo: Repo, tree: str, into: Path) -> None:
    # `git read-tree -u` writes the files and an index with their stat data in
    # one pass, as fast as `git checkout`; libgit2's checkout is 2x slower on
    # large trees (docs/performance.md), so git does this.
    env = environ_for_git_child()
    env["GIT_INDEX_FILE"] = str(into / "index")
    done = subprocess.run(
        ["git", f"--git-dir={repo.common_dir}", f"--work-tree={into / 'files'}", "read-tree", "--reset", "-u", tree],
        cwd=into, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise JitosError(f"could not check out base tree {tree[:12]}: git read-tree: {detail}")


def on_disk(repo: Repo) -> set[str]:
    """Tree ids that have a base on disk."""
    root = folder(repo)
    return {p.name for p in root.iterdir() if not p.name.startswith(".")} if root.is_dir() else set()
