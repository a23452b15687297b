"""What a step must leave alone, taken before it runs and checked after.

In an overlay view the OS refuses a worker's writes outside its workspace,
so only your checkout and the refs are compared (a change there is someone
else's, reported). In a git worktree (the fallback backend) nothing stops a
worker, so the runner also compares, undoes what it can and fails the step
with the reason:

- your checkout, every ref that is not jitos's own, the git config, hooks and
  info files (`workers.outside_state`): reported;
- jitos's local configuration (`.git/jitos/config.toml`) and any file a step
  adds at the top of `.git/jitos/`: put back, the step's version kept in
  `.git/jitos/kept/`. (Ref journals and the checkout-update note are only
  trusted as far as history and git objects vouch for them, so they are not
  compared: another jitos may write them while the step runs.)
- what jitos keeps in `.git/jitos/cache/` (saved folds of history, the
  namespace probe's answer): a file that changed while the step ran is
  removed, never trusted, since a step could write one that lies; the next
  command rebuilds it from history;
- jitos's refs: the history ref must still descend from where it was through
  real events (a step may record into its own workspace, and other tasks
  append while it runs); a rewound or rewritten history ref goes back to the
  newest real event it reached, and any other `refs/jitos/*` that then
  disagrees with history is moved back;
- the other workspaces no running task owns and nobody recorded into while
  the step ran: what the step wrote there is moved aside to
  `.git/jitos/kept/<id>/from-<task>-<step>[-N]/` and that workspace put back
  as it was before the step, so it never counts as that workspace's own edit.

Moves refs only through `kernel.record.refs`, under the jitos lock.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.errors import IntegrityError, JitosError
from kernel.record import clones, history, refs, state
from kernel.record.history import HISTORY_REF
from kernel.record.locks import is_live
from kernel.tasks import workers
from kernel.workspace import leftovers, sws, trees
from kernel.workspace.backend import for_path
from kernel.workspace.overlayfs import is_overlay

#: Files at the top of `.git/jitos/` that jitos itself writes while a step runs
#: (under its lock, vouched for when read): never compared.
JITOS_WRITES = frozenset({"lock", "refs-journal.json", "refs-journal.refused.json", "checkout-pending.json"})
MAX_APPENDED = 100_000  # events a step's run may add to history that are checked one by one


@dataclass(frozen=True, slots=True)
class Before:
    """What the step found: outside state, and on the worktree backend the
    control files, the history head and the other workspaces' heads and
    unrecorded changes."""

    outside: workers.Outside
    isolated: bool  # an overlay view: the OS keeps the step inside its workspace
    control: dict[str, bytes]
    refused_journal: bool  # whether a refused ref journal was already there
    cache: dict[str, tuple[int, int, int]]  # .git/jitos/cache/ files: inode, size, ctime (a write sets it)
    head: str | None
    others: dict[str, tuple[str, dict[str, trees.Entry | None]]]


def take(repo: Repo, own: str) -> Before:
    outside = workers.outside_state(repo)
    if is_overlay(repo, sws.workspace_path(repo, own)):
        return Before(outside, True, {}, False, {}, None, {})
    st = state.load(repo)
    others = {}
    for ws in st.sws.values():
        if ws.id == own or ws.state != state.SWS_ACTIVE or (ws.task and is_live(repo, ws.task)):
            continue
        try:
            others[ws.id] = (ws.head, sws.scan(repo, ws).changes)
        except JitosError:
            continue  # a workspace jitos cannot read now (a name git refuses, say) is not watched
    return Before(outside, False, control_files(repo), refs.refused_journal(repo).is_file(), _cache(repo),
                  history.head(repo), others)


def check(repo: Repo, before: Before, tid: str, step: str) -> list[str]:
    """What the step changed that it must not have, each undone where it can
    be, as short descriptions (empty: it kept to its workspace)."""
    found = [f"wrote outside its workspace ({', '.join(p[:5])})"
             for p in [workers.outside_changes(before.outside, workers.outside_state(repo))] if p]
    if before.isolated:
        return found
    undone = restore_control_files(repo, before.control, f"{tid}-{step}")
    for name, stamp in _cache(repo).items():
        if before.cache.get(name) != stamp:
            (repo.jitos_dir / "cache" / name).unlink(missing_ok=True)
    if undone:
        found.append(f"changed jitos's own files ({', '.join(undone)}; put back, its version kept in "
                     ".git/jitos/kept/control/)")
    moved = _restore_refs(repo, before.head)  # takes the lock: a planted ref journal is refused there
    if moved:
        found.append(f"moved jitos refs ({', '.join(moved[:5])}; moved back)")
    refused = refs.refused_journal(repo)
    if refused.is_file() and not before.refused_journal:
        kept = _fresh(repo.jitos_dir / "kept" / "control" / f"{tid}-{step}-journal")
        kept.mkdir(parents=True)
        os.rename(refused, kept / refused.name)
        found.append(f"wrote a ref journal for jitos to replay (never replayed; kept in "
                     f"{kept.relative_to(repo.jitos_dir.parent)})")
    for other, (aside, paths) in _other_workspaces(repo, before, tid, step).items():
        found.append(f"wrote into workspace {other} ({', '.join(paths[:5])}; moved aside to {aside})")
    return found


# -- jitos's own files ---------------------------------------------------------


def control_files(repo: Repo) -> dict[str, bytes]:
    """The files at the top of jitos's folder a step must leave as they were
    (the local configuration, and any it adds); its own recording (`jitos sws
    snapshot` inside a step) changes none of them."""
    found: dict[str, bytes] = {}
    with os.scandir(repo.jitos_dir) as entries:
        for entry in entries:
            if entry.name in JITOS_WRITES or entry.is_dir(follow_symlinks=False):
                continue
            found[entry.name] = b"" if entry.is_symlink() else Path(entry.path).read_bytes()
    return found


def restore_control_files(repo: Repo, before: dict[str, bytes], label: str) -> list[str]:
    """Put back what a step changed among `control_files`, keeping its versions
    in `.git/jitos/kept/control/<label>/`; the names it changed."""
    after = control_files(repo)
    changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
    aside = _fresh(repo.jitos_dir / "kept" / "control" / label)
    for name in changed:
        path = repo.jitos_dir / name
        if path.is_dir() and not path.is_symlink():  # a folder where the file was: moved aside whole
            aside.mkdir(parents=True, exist_ok=True)
            os.rename(path, aside / name)
        elif path.is_symlink() or path.exists():
            aside.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, aside / name, follow_symlinks=False)
        if name in before:
            write_atomic(path, before[name])  # one rename: the file is never missing
        else:
            path.unlink(missing_ok=True)
    return [f".git/jitos/{n}" for n in changed]


def _cache(repo: Repo) -> dict[str, tuple[int, int, int]]:
    found: dict[str, tuple[int, int, int]] = {}
    try:
        with os.scandir(repo.jitos_dir / "cache") as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                found[entry.name] = (st.st_ino, st.st_size, st.st_ctime_ns)
    except OSError:
        pass
    return found


def _fresh(folder: Path) -> Path:
    """`folder`, or `folder-2`, `-3` … : the first that does not exist yet."""
    candidate, n = folder, 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


# -- jitos's refs ----------------------------------------------------------------


def _restore_refs(repo: Repo, head: str | None) -> list[str]:
    """Put jitos's refs back where history says: the history ref at the newest
    real event it reached from `head`, every other jitos ref where that
    history leaves it. The refs moved back."""
    moved: list[str] = []
    with refs.locked(repo):
        current = history.head(repo)
        if head is not None and current != head and not _events_from(repo, head, current):
            target = _newest_descendant(repo, head)
            refs.move(repo, [refs.RefMove(HISTORY_REF, current, target)],
                      "jitos: history ref moved back (a step rewound or rewrote it)")
            moved.append(HISTORY_REF)
        st = state.current(repo)
        actual = {name: refs.read(repo, name) for name in repo.git.references
                  if name.startswith("refs/jitos/") and name != HISTORY_REF
                  and not name.startswith(clones.FETCHED)}  # other clones' refs: only `jitos fetch` moves them
        for name in sorted(actual.keys() | st.refs.keys()):
            if actual.get(name) != st.refs.get(name):
                refs.move(repo, [refs.RefMove(name, actual.get(name), st.refs.get(name))],
                          "jitos: ref moved back to where history says (a step moved it)")
                moved.append(name)
    return moved


def _events_from(repo: Repo, head: str, oid: str | None) -> bool:
    """Whether `oid` is `head` followed by real events only: each commit is the
    one its record gives after its parent, as `jitos verify` recomputes it."""
    for _ in range(MAX_APPENDED):
        if oid == head:
            return True
        if oid is None or oid not in repo.git:
            return False
        try:
            event, _, commit = history.read_event(repo, oid)
        except (IntegrityError, KeyError, ValueError, TypeError):
            return False
        parent = str(commit.parent_ids[0]) if len(commit.parent_ids) == 1 else None
        if parent is None or history.commit_id(event, parent, carried=history.carried_of(commit)) != oid:
            return False
        oid = parent
    return False


def _newest_descendant(repo: Repo, head: str) -> str:
    """The newest value the history ref's log gives it that is `head` followed
    by real events (what other processes recorded while the step ran), else
    `head`."""
    best, best_seq = head, history.read_event(repo, head)[0].seq
    try:
        entries = list(repo.git.references[HISTORY_REF].log())
    except (KeyError, pygit2.GitError):
        entries = []
    for entry in entries:
        oid = str(entry.oid_new)
        if oid == best or not _events_from(repo, head, oid):
            continue
        seq = history.read_event(repo, oid)[0].seq
        if seq > best_seq:
            best, best_seq = oid, seq
    return best


# -- other workspaces ------------------------------------------------------------


def _other_workspaces(repo: Repo, before: Before, tid: str, step: str) -> dict[str, tuple[str, list[str]]]:
    """Per other workspace the step wrote into: where its writes were moved and
    the paths. Each path is moved aside, then put back as it was before the
    step. A workspace someone recorded into meanwhile, or whose task started
    running, is left alone: its changes are not the step's."""
    written: dict[str, tuple[str, list[str]]] = {}
    st = state.load(repo)
    for other, (head, was) in before.others.items():
        ws = st.sws.get(other)
        if ws is None or ws.state != state.SWS_ACTIVE or ws.head != head or (ws.task and is_live(repo, ws.task)):
            continue
        try:
            now = sws.scan(repo, ws).changes
        except JitosError:
            continue
        paths = sorted(rel for rel in was.keys() | now.keys() if was.get(rel, _UNSEEN) != now.get(rel, _UNSEEN))
        if not paths:
            continue
        aside = _fresh(leftovers.folder(repo, other) / f"from-{tid}-{step}")
        root = sws.workspace_path(repo, other)
        _move_aside(repo, root, aside, paths, is_overlay(repo, root))
        # A path clean before gets its recorded content; one with an edit not yet
        # recorded gets that edit back (the scan before the step stored it).
        recorded = repo.commit(ws.head).tree
        put_back = {rel: was[rel] if rel in was else trees.entry_at(recorded, rel) for rel in paths}
        try:
            for_path(repo, root).write(repo, root, put_back)
        except JitosError as err:
            written[other] = (f"{aside}, but could not put it back: {err}", paths)
            continue
        written[other] = (str(aside.relative_to(repo.jitos_dir.parent)), paths)
    return written


def _move_aside(repo: Repo, root: Path, aside: Path, paths: list[str], overlay: bool) -> None:
    """Move each of `paths` (as the workspace shows it) into `aside`."""
    reader = for_path(repo, root).reader(repo, root)
    for rel in paths:
        found = reader.locate(rel) if overlay else root / rel
        if found is None or not (found.is_symlink() or found.exists()):
            continue
        (aside / rel).parent.mkdir(parents=True, exist_ok=True)
        if overlay:  # the upper layer's copy is the workspace's file; the put-back rewrites it
            shutil.copy2(found, aside / rel, follow_symlinks=False)
        else:
            shutil.move(str(found), str(aside / rel))


_UNSEEN = trees.Entry("", -1)  # "no change recorded here" in a scan's changes
