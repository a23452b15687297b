"""`jitos gc`: remove what no live workspace uses — shared bases no active
overlay workspace stands on, layers and worktree records of workspaces that
are no longer active, half-built bases, the temp files (store, saved chain)
and private folders a killed process left, and the trash.

Never anything history names: refs, history, store objects and the
workspaces' recorded states stay (they are what `jitos verify` checks and
what `git gc` keeps reachable). Decides under the jitos lock, deletes after.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from kernel.base.proc import alive
from kernel.base.repo import Repo
from kernel.record.state import SWS_ACTIVE
from kernel.workspace import bases, checkout, overlayfs, trash

_TEMP = re.compile(r"\.(\d+)\.\d+\.tmp$")
_PRIVATE = re.compile(r"^private-.*-pid(\d+)-")


@dataclass(frozen=True, slots=True)
class Collected:
    bases: tuple[str, ...]  # tree ids
    layers: tuple[str, ...]  # workspace ids
    temp_files: int
    freed: int  # bytes


def collect(repo: Repo) -> Collected:
    with checkout.ledger(repo) as ledger:
        active = {sid for sid, ws in ledger.state.sws.items() if ws.state == SWS_ACTIVE}
        gone_layers = _stale_layers(repo, active)
        for sid in gone_layers:
            path = repo.workspaces_dir / sid
            trash.set_aside(repo, overlayfs.layer(repo, path), f"layers-{sid}")
            _remove_record(repo, path)
        used = {_base_of(repo, repo.workspaces_dir / sid) for sid in active} - {None}
        gone_bases = sorted(bases.on_disk(repo) - used)
        for tree in gone_bases:
            trash.set_aside(repo, bases.of(repo, tree).root, f"base-{tree}")
        for half_built in sorted(bases.folder(repo).glob(".new-*")) if bases.folder(repo).is_dir() else []:
            trash.set_aside(repo, half_built, half_built.name)
        temps = _dead_temp_files(repo.jitos_dir / "store" / "tmp") + _dead_temp_files(repo.jitos_dir / "cache")
        for temp in temps:
            temp.unlink(missing_ok=True)
        for private in _dead_private_folders(repo.jitos_dir / "tmp"):
            trash.set_aside(repo, private, private.name)
    freed = _size(trash.folder(repo))
    trash.empty(repo)
    return Collected(tuple(gone_bases), tuple(gone_layers), len(temps), freed)


def _stale_layers(repo: Repo, active: set[str]) -> list[str]:
    root = repo.jitos_dir / "layers"
    return sorted(p.name for p in root.iterdir() if p.name not in active) if root.is_dir() else []


def _base_of(repo: Repo, path: Path) -> str | None:
    try:
        return (overlayfs.layer(repo, path) / "base").read_text().strip()
    except FileNotFoundError:
        return None


def _remove_record(repo: Repo, path: Path) -> None:
    record = overlayfs.admin(repo, path)
    if (record / "locked").is_file() and (record / "gitdir").read_text().strip() == str(path / ".git"):
        for child in sorted(record.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        record.rmdir()
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


def _dead_temp_files(folder: Path) -> list[Path]:
    """Store temp files whose writer (the pid in the name) is gone."""
    found = []
    for temp in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = _TEMP.search(temp.name)
        if match and not alive(int(match.group(1))):
            found.append(temp)
    return found


def _dead_private_folders(folder: Path) -> list[Path]:
    """Folders that took a read-only step's writes, left by a killed jitos (the pid in the name)."""
    found = []
    for entry in sorted(folder.glob("private-*")) if folder.is_dir() else []:
        match = _PRIVATE.search(entry.name)
        if match and not alive(int(match.group(1))):
            found.append(entry)
    return found


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total
