"""Finding the repository and reading refs without loading libgit2 gives what
libgit2 gives, and leaves every case it does not know to libgit2."""

from pathlib import Path

import pygit2
import pytest

from kernel.base import repo as repo_module
from kernel.base.repo import open_repo
from kernel.record import refs
from tests.conftest import commit_files, git


def _by_libgit2(start: Path) -> tuple[Path, Path | None]:
    found = Path(pygit2.discover_repository(str(start)))
    common = (found / (found / "commondir").read_text().strip()).resolve() \
        if (found / "commondir").is_file() else found
    workdir = pygit2.Repository(str(common)).workdir
    return common.resolve(), Path(workdir).resolve() if workdir else None


def test_from_anywhere_in_a_checkout_or_a_linked_worktree_the_same_as_libgit2(jrepo: Path, tmp_path: Path) -> None:
    (jrepo / "a" / "b").mkdir(parents=True)
    git(jrepo, "worktree", "add", "-q", "--detach", str(tmp_path / "linked"))
    (tmp_path / "linked" / "deep" / "er").mkdir(parents=True)
    for start in (jrepo, jrepo / "a" / "b", tmp_path / "linked", tmp_path / "linked" / "deep" / "er"):
        lean = repo_module._plain_checkout(start.resolve())
        assert lean is not None, start
        assert (lean[0].resolve(), lean[1].resolve()) == _by_libgit2(start), start
        opened = open_repo(start)
        assert opened._git is None  # nothing loaded git's handle yet
        assert opened.git.path.rstrip("/") == str(lean[0])


@pytest.mark.parametrize("case", ["inside .git", "bare", "core.bare spelled 1", "core.bare alone", "core.worktree",
                                  "submodule-like", "other owner"])
def test_anything_unusual_is_left_to_libgit2(jrepo: Path, tmp_path: Path, case: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    start = jrepo
    if case == "inside .git":
        start = jrepo / ".git" / "refs"
    elif case == "bare":
        git(tmp_path, "clone", "-q", "--bare", str(jrepo), "bare.git")
        start = tmp_path / "bare.git"
    elif case == "core.bare spelled 1":
        with (jrepo / ".git" / "config").open("a") as config:
            config.write("[core]\n\tbare = 1\n")
    elif case == "core.bare alone":
        with (jrepo / ".git" / "config").open("a") as config:
            config.write("[core]\n\tbare\n")
    elif case == "core.worktree":
        git(jrepo, "config", "core.worktree", str(jrepo))
    elif case == "submodule-like":
        start = tmp_path / "sub"
        start.mkdir()
        (start / ".git").write_text(f"gitdir: {jrepo / '.git'}\n")
    else:
        monkeypatch.setattr(repo_module.os, "geteuid", lambda: 12345)
    assert repo_module._plain_checkout(start.resolve()) is None


def test_refs_read_from_files_agree_with_libgit2_loose_packed_and_symbolic(jrepo: Path) -> None:
    commit_files(jrepo, {"x.txt": "x\n"})
    git(jrepo, "branch", "other")
    git(jrepo, "tag", "-a", "-m", "annotated", "v1")
    git(jrepo, "symbolic-ref", "refs/heads/alias", "refs/heads/other")
    r = open_repo(jrepo)
    names = [n for n in r.git.references if n != "refs/heads/alias"]

    def agree() -> None:
        for name in [*names, "refs/heads/alias"]:
            expected = str(r.git.references[name].resolve().target)
            assert refs._from_files(r.common_dir, name) == expected, name
            assert refs.read(r, name) == expected
        assert refs.read(r, "refs/heads/missing") is None

    agree()
    git(jrepo, "pack-refs", "--all")  # now every ref is a line of packed-refs
    assert not (jrepo / ".git" / "refs" / "jitos" / "history").exists()
    agree()
    commit_files(jrepo, {"x.txt": "y\n"})  # a loose ref again, newer than its packed line
    agree()
