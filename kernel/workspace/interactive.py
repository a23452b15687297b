"""People in workspaces: a shell inside a workspace's view, and a plain
folder for an editor when a workspace's files show only inside views.

`shell` runs your shell where a program run by jitos would run (the merged
tree at the workspace path; your checkout and the git dir read-only, for an
overlay workspace), then records what changed, like `jitos sws run`.
`materialize` turns an overlay workspace into a checked-out folder at the same
path (recording unrecorded edits first), after which editors and other tools
outside jitos see its files; it costs a checkout, as a worktree workspace
does from the start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kernel.base.policy import environ_for_git_child, refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.record import state
from kernel.workspace import checkout, sws
from kernel.workspace.backend import GitWorktree, for_path
from kernel.workspace.overlayfs import is_overlay


@dataclass(frozen=True, slots=True)
class Where:
    """A workspace's folder, and whether its files show there outside jitos views."""

    sws: str
    path: Path
    visible: bool


def where(repo: Repo, key: str) -> Where:
    path = sws.path_of(repo, key)
    return Where(path.name, path, not is_overlay(repo, path))


def shell(repo: Repo, key: str, program: str | None = None) -> tuple[int, sws.Snapshot]:
    """Run `program` (default: $SHELL, else /bin/sh) interactively inside the
    workspace; record what it changed. Returns its exit code and the snapshot."""
    refuse_inside_worker("opening a workspace shell")
    ws = sws.find_active(state.load(repo), key)
    path = sws.workspace_path(repo, ws.id)
    program = program or os.environ.get("SHELL") or "/bin/sh"
    if shutil.which(program) is None:
        raise BadInput(f"shell {program!r} not found; set $SHELL to an installed shell")
    env = environ_for_git_child()
    env["JITOS_SWS"] = ws.id
    sws.settle_before_running(repo, ws.id)
    argv = for_path(repo, path).command(repo, path, [program], network=True)
    code = subprocess.run(argv, cwd=path, env=env, check=False).returncode
    return code, sws.snapshot(repo, ws.id)


def materialize(repo: Repo, key: str) -> Where:
    """Make an overlay workspace a checked-out folder at the same path."""
    refuse_inside_worker("materialising a workspace")
    with checkout.ledger(repo) as ledger:
        ws = sws.find_active(ledger.state, key)
        path = sws.workspace_path(repo, ws.id)
        if not is_overlay(repo, path):
            return Where(ws.id, path, True)
        sws.record_changes(repo, ledger, ws, label="before materialising")
        head = ledger.state.sws[ws.id].head
        backend = for_path(repo, path)
        backend.remove(repo, path)
        GitWorktree().materialize(repo, path, head)
    backend.empty_trash(repo)
    return Where(ws.id, path, True)
