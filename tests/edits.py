"""Edit a workspace where its files are, on either backend, as a person in
`jitos sws shell` would: a worktree's folder directly, an overlay inside its
view. No event is recorded. `where` is a `Workspace` or its folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kernel.base.repo import open_repo
from kernel.workspace.backend import for_path, for_repo
from kernel.workspace.overlayfs import OverlayWorkspace
from kernel.workspace.sws import Workspace


def _argv(where: Workspace | Path, argv: list[str]) -> tuple[list[str], Path]:
    path = where.path if isinstance(where, Workspace) else Path(where)
    repo = open_repo(path)
    return for_path(repo, path).command(repo, path, argv, network=True), path


def edit(where: Workspace | Path, script: str, *args: str) -> None:
    """Run `sh -c script sh ARGS…` where the workspace's files are, as a person
    in `jitos sws shell` would (no event is recorded)."""
    argv, path = _argv(where, ["sh", "-c", script, "sh", *args])
    subprocess.run(argv, cwd=path, check=True)


def write(where: Workspace | Path, rel: str, text: str) -> None:
    edit(where, 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', rel, text)


def remove(where: Workspace | Path, rel: str) -> None:
    edit(where, 'rm -rf "$1"', rel)


def read(where: Workspace | Path, rel: str) -> str:
    argv, path = _argv(where, ["cat", rel])
    return subprocess.run(argv, cwd=path, check=True, capture_output=True, text=True).stdout


def exists(where: Workspace | Path, rel: str) -> bool:
    argv, path = _argv(where, ["test", "-e", rel])
    return subprocess.run(argv, cwd=path, check=False).returncode == 0


def output(where: Workspace | Path, *argv: str) -> str:
    """What `argv` prints, run where the workspace's files are (stripped)."""
    command, path = _argv(where, list(argv))
    return subprocess.run(command, cwd=path, check=True, capture_output=True, text=True).stdout.strip()


def files(where: Workspace | Path) -> dict[str, str]:
    """Every file of the workspace (its `.git` aside) and its text."""
    listing = output(where, "sh", "-c", "find . -path ./.git -prune -o -type f -print0 | xargs -0 -r sha1sum")
    return {line[42:].removeprefix("./"): line[:40] for line in listing.splitlines()}


def shown_outside(repo: Path, sid: str, rel: str) -> Path:
    """Where a file a program creates at `rel` in workspace `sid` (new to its
    base) can be seen from outside any view: the overlay's upper layer, or the
    worktree folder. Decided by the backend new workspaces get, so it can be
    asked before the workspace exists."""
    jitos_dir = repo / ".git" / "jitos"
    overlay = isinstance(for_repo(open_repo(repo)), OverlayWorkspace)
    return (jitos_dir / "layers" / sid / "upper" if overlay else jitos_dir / "ws" / sid) / rel
