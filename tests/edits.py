"""Edit a workspace where its files are, on either backend, as a person in
`jitos sws shell` would: a worktree's folder directly, an overlay inside its
view. No event is recorded."""

from __future__ import annotations

import subprocess

from kernel.base.repo import open_repo
from kernel.workspace.backend import for_path
from kernel.workspace.sws import Workspace


def edit(ws: Workspace, script: str, *args: str) -> None:
    """Run `sh -c script sh ARGS…` where the workspace's files are, as a person
    in `jitos sws shell` would (no event is recorded)."""
    repo = open_repo(ws.path)
    argv = for_path(repo, ws.path).command(repo, ws.path, ["sh", "-c", script, "sh", *args], network=True)
    subprocess.run(argv, cwd=ws.path, check=True)


def write(ws: Workspace, rel: str, text: str) -> None:
    edit(ws, 'mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', rel, text)


def remove(ws: Workspace, rel: str) -> None:
    edit(ws, 'rm -rf "$1"', rel)


def read(ws: Workspace, rel: str) -> str:
    repo = open_repo(ws.path)
    argv = for_path(repo, ws.path).command(repo, ws.path, ["cat", rel], network=True)
    return subprocess.run(argv, cwd=ws.path, check=True, capture_output=True, text=True).stdout
