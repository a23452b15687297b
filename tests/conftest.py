"""Hermetic test environment: no user or system git config leaks in, dates are
pinned, and every test gets throwaway repositories built with real git."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

EPOCH = "1700000000"


@pytest.fixture(autouse=True)
def hermetic_seal(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("GIT_AUTHOR_DATE", f"{EPOCH} +0000")
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{EPOCH} +0000")
    monkeypatch.setenv("GIT_EDITOR", "false")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("NO_COLOR", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL"):
        monkeypatch.delenv(var, raising=False)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    # libgit2 reads HOME once per process for its config search path: point it at
    # this test's home too, or the first test's (or the real) one leaks in.
    import pygit2

    levels = pygit2.enums.ConfigLevel
    saved = {level: pygit2.settings.search_path[level] for level in (levels.GLOBAL, levels.XDG, levels.SYSTEM)}
    pygit2.settings.search_path[levels.GLOBAL] = str(home)
    pygit2.settings.search_path[levels.XDG] = str(home / ".config")
    pygit2.settings.search_path[levels.SYSTEM] = str(home / "etc")
    yield
    for level, value in saved.items():
        pygit2.settings.search_path[level] = value


def git(cwd: Path, *args: str) -> str:
    """Run real git in `cwd` and return its stdout (stripped)."""
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def commit_files(repo: Path, files: dict[str, str | None], message: str = "change") -> str:
    """Write (or, with None, delete) files in `repo`, commit them all, return the commit id."""
    for rel, content in files.items():
        path = repo / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory for throwaway repositories with one initial commit."""

    counter = iter(range(1000))

    def make(files: dict[str, str] | None = None, name: str | None = None) -> Path:
        path = tmp_path / (name or f"repo{next(counter)}")
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        commit_files(path, files or {"README.md": "hello\n", "src/app.py": "print('hi')\n"}, "initial")
        return path

    return make


@pytest.fixture
def repo(make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh repository with one commit; the test's cwd."""
    path = make_repo(name="repo")
    monkeypatch.chdir(path)
    return path


def jitos(*args: str, cwd: Path | None = None, check: int | None = 0,
          process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the `jitos` command line (in-process; in a real subprocess with
    `process=True`); assert its exit code unless check is None."""
    import sys

    from tests.clirun import run_cli

    if process:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from jitos_cli.main import main; sys.exit(main())", *args],
            check=False, cwd=cwd, capture_output=True, text=True,
        )
    else:
        done = run_cli(list(args), cwd)
    if check is not None:
        assert done.returncode == check, f"jitos {' '.join(args)} → {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def jrepo(repo: Path) -> Path:
    """A repository with `jitos init` done."""
    from kernel.base.repo import open_repo
    from kernel.record.initialise import init

    init(open_repo(repo))
    return repo


@pytest.fixture(params=["worktree", "overlay"])
def backend_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on each backend (overlay where the OS allows views)."""
    from kernel.base import sandbox

    if request.param == "overlay" and not sandbox.support().available:
        pytest.skip(f"no namespaces here: {sandbox.support().reason}")
    monkeypatch.setenv("JITOS_SWS_BACKEND", request.param)
    return str(request.param)
