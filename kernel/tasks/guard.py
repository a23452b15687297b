"""What a step must leave alone, taken before it runs and checked after.

In an overlay view the OS refuses a worker's writes outside its workspace.
In a git worktree (the fallback backend) nothing stops them, so the runner
compares, undoes what it can and fails the step with the reason:

- your checkout, every ref that is not jitos's own, the git config, hooks and
  info files (`workers.outside_state`): reported;
- jitos's own files at the top of `.git/jitos/` (local config, ref journals,
  the checkout-update note): put back as they were;
- jitos's refs: the history ref must still descend from where it was (a step
  may record into its own workspace, which appends); a rewound or rewritten
  history ref, and any other `refs/jitos/*` that disagrees with history, is
  moved back;
- the other workspaces' folders: what the step wrote there is moved aside to
  `.git/jitos/kept/<id>/` and the recorded content put back, so it never
  counts as that workspace's own edit.

Moves refs only through `kernel.record.refs`, under the jitos lock.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.errors import IntegrityError
from kernel.record import history, refs, state
from kernel.record.history import HISTORY_REF
from kernel.tasks import workers
from kernel.workspace import leftovers, sws, trees
from kernel.workspace.checkout import write_paths
from kernel.workspace.overlayfs import is_overlay

_LINK = b"\0symlink:"  # a marker no regular control file starts with


@dataclass(frozen=True, slots=True)
class Before:
    """What the step found: outside state, control files, the history head, and
    the unrecorded changes of every other worktree workspace."""

    outside: workers.Outside
    control: dict[str, bytes]
    head: str | None
    others: dict[str, dict[str, trees.Entry | None]]


def take(repo: Repo, own: str) -> Before:
    st = state.load(repo)
    others = {} if is_overlay(repo, sws.workspace_path(repo, own)) else {
        w.id: sws.scan(repo, w).changes for w in st.sws.values()
        if w.id != own and w.state == state.SWS_ACTIVE and _worktree(repo, w.id)}
    return Before(workers.outside_state(repo), control_files(repo), history.head(repo), others)


def check(repo: Repo, before: Before, tid: str, step: str) -> list[str]:
    """What the step changed that it must not have, each undone where it can
    be, as short descriptions (empty: it kept to its workspace)."""
    found = [f"wrote outside its workspace ({', '.join(p[:5])})"
             for p in [workers.outside_changes(before.outside, workers.outside_state(repo))] if p]
    undone = restore_control_files(repo, before.control)
    if undone:
        found.append(f"changed jitos's own files ({', '.join(undone)}; put back)")
    moved = _restore_refs(repo, before.head)
    if moved:
        found.append(f"moved jitos refs ({', '.join(moved[:5])}; moved back)")
    for other, paths in _other_workspaces(repo, before, tid, step).items():
        found.append(f"wrote into workspace {other} ({', '.join(paths[:5])}; moved aside to "
                     f".git/jitos/kept/{other}/)")
    return found


# -- jitos's own files ---------------------------------------------------------


def control_files(repo: Repo) -> dict[str, bytes]:
    """jitos's own files at the top of its folder (local config, ref journals,
    the checkout-update note): what a step must leave exactly as it was. Its
    own recording (`jitos sws snapshot` inside a step) changes none of them."""
    found: dict[str, bytes] = {}
    with os.scandir(repo.jitos_dir) as entries:
        for entry in entries:
            if entry.is_symlink():
                found[entry.name] = _LINK + os.readlink(entry.path).encode()
            elif entry.is_file() and entry.path != str(repo.lock_path):
                found[entry.name] = Path(entry.path).read_bytes()
    return found


def restore_control_files(repo: Repo, before: Mapping[str, bytes]) -> list[str]:
    """Undo what a step changed among `control_files`; the names it changed."""
    after = control_files(repo)
    changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
    for name in changed:
        path = repo.jitos_dir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        if name in before and before[name].startswith(_LINK):
            os.symlink(before[name][len(_LINK):].decode(), path)
        elif name in before:
            write_atomic(path, before[name])
    return [f".git/jitos/{n}" for n in changed]


# -- jitos's refs ----------------------------------------------------------------


def _restore_refs(repo: Repo, head: str | None) -> list[str]:
    """Put jitos's refs back where history says: the history ref at the newest
    event it reached from `head` (through jitos, which only appends), every
    other jitos ref where that history leaves it. The refs moved back."""
    moved: list[str] = []
    with refs.locked(repo):
        current = history.head(repo)
        if head is not None and current != head and not _descends(repo, current, head):
            target = _newest_descendant(repo, head)
            refs.move(repo, [refs.RefMove(HISTORY_REF, current, target)],
                      "jitos: history ref moved back (a step rewound or rewrote it)")
            moved.append(HISTORY_REF)
        st = state.current(repo)
        actual = {name: refs.read(repo, name) for name in repo.git.references
                  if name.startswith("refs/jitos/") and name != HISTORY_REF}
        for name in sorted(actual.keys() | st.refs.keys()):
            if actual.get(name) != st.refs.get(name):
                refs.move(repo, [refs.RefMove(name, actual.get(name), st.refs.get(name))],
                          "jitos: ref moved back to where history says (a step moved it)")
                moved.append(name)
    return moved


def _descends(repo: Repo, oid: str | None, ancestor: str) -> bool:
    if oid is None or oid not in repo.git:
        return False
    try:
        return bool(repo.git.descendant_of(oid, ancestor))
    except (KeyError, ValueError, pygit2.GitError):
        return False


def _newest_descendant(repo: Repo, head: str) -> str:
    """The newest value the history ref's log gives it that descends from
    `head` and was written by jitos (events other processes recorded while
    the step ran), else `head`."""
    best, best_seq = head, history.read_event(repo, head)[0].seq
    try:
        entries = list(repo.git.references[HISTORY_REF].log())
    except (KeyError, pygit2.GitError):
        entries = []
    for entry in entries:
        oid = str(entry.oid_new)
        if entry.committer.name != refs.IDENTITY[0] or not _descends(repo, oid, head):
            continue
        try:
            seq = history.read_event(repo, oid)[0].seq
        except (KeyError, ValueError, IntegrityError):  # not an event: a forged entry
            continue
        if seq > best_seq:
            best, best_seq = oid, seq
    return best


# -- other workspaces ------------------------------------------------------------


def _worktree(repo: Repo, sws_id: str) -> bool:
    path = sws.workspace_path(repo, sws_id)
    return path.is_dir() and not is_overlay(repo, path)


def _other_workspaces(repo: Repo, before: Before, tid: str, step: str) -> dict[str, list[str]]:
    """Per other workspace, the paths the step wrote there: each moved aside,
    then put back as it was before the step."""
    written: dict[str, list[str]] = {}
    st = state.load(repo)
    for other, was in before.others.items():
        ws = st.sws.get(other)
        if ws is None or ws.state != state.SWS_ACTIVE or not _worktree(repo, other):
            continue
        now = sws.scan(repo, ws).changes
        paths = sorted(rel for rel in was.keys() | now.keys() if was.get(rel, _UNSEEN) != now.get(rel, _UNSEEN))
        if not paths:
            continue
        root = sws.workspace_path(repo, other)
        recorded = repo.commit(ws.head).tree
        aside = leftovers.folder(repo, other) / f"from-{tid}-{step}"
        for rel in paths:
            full = root / rel
            if full.is_symlink() or full.exists():
                (aside / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(full), str(aside / rel))
        # A path clean before gets its recorded content; one with an edit not yet
        # recorded gets that edit back (the scan before the step stored it).
        write_paths(repo, root, {rel: was[rel] if rel in was else trees.entry_at(recorded, rel) for rel in paths})
        written[other] = paths
    return written


_UNSEEN = trees.Entry("", -1)  # "no change recorded here" in a scan's changes
