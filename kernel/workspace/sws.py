"""Speculative workspaces: create, scan, snapshot, diff, run a command in,
re-base, discard. An SWS is a folder holding its tree (stored by the backend
`kernel.workspace.backend.for_repo` chooses), a ref `refs/jitos/sws/<id>` at
its latest snapshot commit, and an overlay: the delta over its base as
path → blake3 digest (deletions as whiteouts), with the contents in the store.

Nothing here moves the system ref or touches the user's checkout; every change
of state is an event recorded through `kernel.workspace.checkout.ledger`, and
the folder is written only through the backend, by a command holding the lock.
Reading (`scan`, `diff`) never writes into the folder (only git objects).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from kernel.base import canonical, faults
from kernel.base.files import write_atomic
from kernel.base.policy import environ_for_git_child, refuse_inside_worker
from kernel.base.proc import run_captured
from kernel.base.repo import Repo, resolve_commit
from kernel.errors import BadInput, JitosError, NotFound
from kernel.record import history, state
from kernel.record.locks import is_live
from kernel.record.state import SWS_ACTIVE, Ledger, State, Sws
from kernel.workspace import checkout, leftovers, overlay, trash, trees
from kernel.workspace.backend import Reader, copy_included, for_path, for_repo
from kernel.workspace.overlayfs import is_overlay

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
ID_RE = re.compile(r"^[st][0-9]+\Z")
SHOWN_PATHS = 200


@dataclass(frozen=True, slots=True)
class Workspace:
    """What a user sees of an SWS."""

    id: str
    name: str | None
    path: Path
    base: str
    head: str
    state: str
    backend: str = "worktree"  # worktree | overlay (its files show only inside views)


@dataclass(frozen=True, slots=True)
class Snapshot:
    sws: str
    changed: tuple[str, ...]
    head: str
    event: str | None


@dataclass(frozen=True, slots=True)
class RunResult:
    sws: str
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    snapshot: Snapshot
    event: str


@dataclass(frozen=True, slots=True)
class DiffResult:
    sws: str
    base: str
    files: tuple[tuple[str, int, int], ...]
    patch: str
    unrecorded: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Scan:
    """What differs between a workspace on disk and its recorded head."""

    changes: dict[str, trees.Entry | None]
    contents: dict[str, bytes]


def workspace_path(repo: Repo, sws_id: str) -> Path:
    return repo.workspaces_dir / sws_id


def view(repo: Repo, sws: Sws) -> Workspace:
    path = workspace_path(repo, sws.id)
    kind = "overlay" if is_overlay(repo, path) else "worktree"
    return Workspace(sws.id, sws.name, path, sws.base, sws.head, sws.state, kind)


def check_name(name: str) -> str:
    problem = None
    if not NAME_RE.match(name):
        problem = "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
    elif ".." in name or name.endswith((".lock", ".")):
        problem = "it may not contain '..' or end in '.lock' or '.'"
    elif ID_RE.match(name):
        problem = "it looks like a workspace or task id (s1, t1, …)"
    if problem:
        raise BadInput(f"invalid workspace name {name!r}: {problem}")
    return name


def find(st: State, key: str) -> Sws:
    """An SWS by id or by name (names resolve to the active workspace first)."""
    if key in st.sws:
        return st.sws[key]
    named = [s for s in st.sws.values() if s.name == key]
    named.sort(key=lambda s: (s.state != SWS_ACTIVE, -s.created))
    if named:
        return named[0]
    known = ", ".join(s.id + (f" ({s.name})" if s.name else "") for s in st.sws.values() if s.state == SWS_ACTIVE)
    raise NotFound(f"no workspace {key!r}; active workspaces: {known or 'none'} (see `jitos sws list`)")


def find_active(st: State, key: str) -> Sws:
    sws = find(st, key)
    if sws.state != SWS_ACTIVE:
        raise BadInput(f"workspace {sws.id} is {sws.state}; nothing can change in it any more")
    return sws


def new(repo: Repo, from_rev: str | None = None, name: str | None = None, task: str | None = None) -> Workspace:
    if name is not None:
        check_name(name)
    config = repo.config()
    backend = for_repo(repo)
    with checkout.ledger(repo) as ledger:
        st = ledger.state
        base = str(resolve_commit(repo, from_rev).id) if from_rev is not None else st.system
        assert base is not None
        if name is not None and any(s.name == name and s.state == SWS_ACTIVE for s in st.sws.values()):
            raise BadInput(f"an active workspace is already named {name!r}; pick another name")
        sws_id = st.next_sws_id()
        path = workspace_path(repo, sws_id)
        if path.exists():  # left by a process that died before recording it
            backend.remove(repo, path)
        backend.materialize(repo, path, base)
        faults.point("sws.made")
        try:
            if repo.workdir is not None and config.sws_include:
                copy_included(repo, repo.workdir, backend.new_files_root(repo, path), config.sws_include)
            manifest = overlay.store(repo, {"base": base, "entries": {}})
            label = f" ({name})" if name else ""
            ledger.record(
                "sws-new",
                f"sws {sws_id}{label}: new workspace from {base[:12]}",
                data={"base": base, "name": name, "from": from_rev, "overlay": manifest},
                links={"sws": sws_id, **({"task": task} if task else {})},
                moves={history.SWS_REF_PREFIX + sws_id: base},
            )
        except BaseException:
            backend.remove(repo, path)
            raise
        created = view(repo, ledger.state.sws[sws_id])
    overlay.mirror(repo, sws_id, manifest)
    backend.empty_trash(repo)
    return created


def list_all(repo: Repo, include_inactive: bool = False) -> list[Workspace]:
    st = state.load(repo)
    return [view(repo, s) for s in st.sws.values() if include_inactive or s.state == SWS_ACTIVE]


def get(repo: Repo, key: str) -> Workspace:
    return view(repo, find(state.load(repo), key))


def path_of(repo: Repo, key: str) -> Path:
    """The folder of a workspace that still has one."""
    ws = get(repo, key)
    if not ws.path.is_dir():
        raise BadInput(
            f"workspace {ws.id} is {ws.state} and has no folder; its last state is at refs/jitos/sws/{ws.id} "
            f"(`jitos sws new --from refs/jitos/sws/{ws.id}` starts from it)"
        )
    return ws.path


def _check_path(rel: str) -> None:
    if any("\udc80" <= ch <= "\udcff" for ch in rel):
        shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
        raise BadInput(f"file name {shown!r} is not valid UTF-8; rename it (history records names as UTF-8)")


def _pending_path(repo: Repo, sws_id: str) -> Path:
    return repo.overlays_dir / sws_id / "pending-move.json"


def _write_pending_move(repo: Repo, sws_id: str, commit: str, changes: dict[str, trees.Entry | None]) -> None:
    """Note, before recording a re-base to `commit`, which files it rewrites."""
    note = {"commit": commit, "changes": {p: (list(e) if e else None) for p, e in changes.items()}}
    path = _pending_path(repo, sws_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, canonical.dumps(note))


def _read_pending(repo: Repo, sws_id: str) -> dict[str, Any] | None:
    try:
        note: dict[str, Any] = canonical.loads(_pending_path(repo, sws_id).read_bytes())
    except FileNotFoundError:
        return None
    return note


def _note_changes(note: Mapping[str, Any]) -> dict[str, trees.Entry | None]:
    return {p: (trees.Entry(e[0], e[1]) if e else None) for p, e in note["changes"].items()}


def _pending_move(repo: Repo, sws: Sws) -> dict[str, trees.Entry | None]:
    """The files a recorded re-base of `sws` has yet to rewrite in its folder
    (none when there is no note, or when the re-base it notes never got recorded)."""
    note = _read_pending(repo, sws.id)
    return _note_changes(note) if note is not None and note["commit"] == sws.head else {}


def finish_pending_move(repo: Repo, sws: Sws) -> None:
    """Bring the folder to the recorded head of a re-base that was noted: if the
    re-base is in history, rewrite its files and HEAD; if not, it never happened.
    Writes the folder: only a command holding the lock calls this."""
    note = _read_pending(repo, sws.id)
    if note is None:
        return
    if note["commit"] == sws.head:
        path = workspace_path(repo, sws.id)
        for_path(repo, path).move_to(repo, path, sws.head, _note_changes(note), onto=sws.base)
        if sws.overlay is not None:
            overlay.mirror(repo, sws.id, sws.overlay)
    _pending_path(repo, sws.id).unlink()


def settle_before_running(repo: Repo, sws_id: str) -> None:
    """Before a program runs in the workspace: finish the files of a recorded
    re-base a killed command left half-written, so the program sees exactly
    the recorded head (takes the lock only when there is such a re-base)."""
    if not _pending_path(repo, sws_id).is_file():
        return
    with checkout.ledger(repo) as ledger:
        current = ledger.state.sws.get(sws_id)
        if current is not None:
            finish_pending_move(repo, current)


@contextmanager
def private_writes(repo: Repo, sws_id: str, label: str) -> Iterator[Path | None]:
    """A folder that takes a program's writes instead of the workspace, for a
    step that only reads (several run at once, each in its own view); it is
    discarded afterwards. None on the worktree backend, which cannot divert
    writes: there the step writes into the folder, as anyone there can."""
    path = workspace_path(repo, sws_id)
    if not is_overlay(repo, path):
        yield None
        return
    (repo.jitos_dir / "tmp").mkdir(exist_ok=True)
    # The pid in the name lets `jitos gc` remove a folder a killed jitos left.
    folder = Path(tempfile.mkdtemp(prefix=f"private-{sws_id}-{label}-pid{os.getpid()}-", dir=repo.jitos_dir / "tmp"))
    try:
        yield folder
    finally:
        trash.set_aside(repo, folder, folder.name)
        for_path(repo, path).empty_trash(repo)


def rebase(repo: Repo, ledger: Ledger, sws: Sws, onto: str, links: Mapping[str, str] | None = None, *,
           changes: trees.Changes | None = None, merged: tuple[str, ...] = (),
           unresolved: tuple[str, ...] = (), tree: str | None = None) -> Sws:
    """Carry `sws`'s change (base → head) onto the system commit `onto`: its
    own diff, or `changes` as merged with the system's (`kernel.land.merge`;
    `merged` names the paths merged line by line, `unresolved` the files
    `changes` writes with conflict markers, recorded in the same event so a
    crash can never leave markers unmarked; `tree`, the system's tree with
    `changes` applied, when the merge already wrote it). A snapshot commit (parent: the
    old head), the overlay over the new base, a `rebase` event, then the
    files. Caller holds the ledger."""
    base_tree, head_tree = repo.tree_of(sws.base), repo.tree_of(sws.head)
    if changes is None:
        changes = trees.diff(repo.git, base_tree, head_tree)
    new_tree = tree or trees.apply(repo.git, repo.tree_of(onto), changes)
    when = canonical.now()
    sig = history.signature(when)
    msg = f"re-base {sws.id} onto {onto[:12]}\n\nJitos-Sws: {sws.id}\n"
    commit = str(repo.git.create_commit(None, sig, sig, msg, pygit2.Oid(hex=new_tree), [pygit2.Oid(hex=sws.head)]))
    moved = trees.diff(repo.git, head_tree, new_tree)
    manifest = overlay.rebuild(repo, sws.id, onto, new_tree)
    # History first, then the files; the pending-move note lets the next
    # command that records in this workspace finish the files if we die in
    # between, and lets a scan meanwhile see the workspace as if it had.
    _write_pending_move(repo, sws.id, commit, moved)
    ledger.record(
        "rebase",
        f"sws {sws.id}: re-based onto system {onto[:12]} ({len(moved)} path(s) from the system)",
        data={"base": onto, "from": sws.base, "commit": commit, "tree": new_tree, "overlay": manifest,
              "paths": sorted(moved)[:SHOWN_PATHS], **({"merged": sorted(merged)} if merged else {}),
              **({"unresolved": sorted(unresolved)} if unresolved else {})},
        links={"sws": sws.id, **(links or {})},
        moves={sws.ref: commit},
        when=when,
    )
    finish_pending_move(repo, ledger.state.sws[sws.id])
    return ledger.state.sws[sws.id]


def scan(repo: Repo, sws: Sws) -> Scan:
    """What changed on disk since the recorded head, seen as if a recorded
    re-base still rewriting files had finished (the files it rewrites are
    the recorded head's, whatever the folder holds now). Never writes a file
    in the folder; writes only git blobs."""
    path = workspace_path(repo, sws.id)
    if not path.is_dir():
        raise JitosError(f"workspace {sws.id} has no directory at {path}; run `jitos verify`")
    recorded = repo.commit(sws.head).tree
    pending = _pending_move(repo, sws)
    backend = for_path(repo, path)
    reader = backend.reader(repo, path)
    changes: dict[str, trees.Entry | None] = {}
    contents: dict[str, bytes] = {}
    for rel in sorted(_with_nested_repositories(repo, reader, recorded,
                                                backend.candidates(repo, path, str(recorded.id)))):
        _check_path(rel)
        seen = None if _rewritten(pending, rel) else _look(repo, reader, rel, trees.entry_at(recorded, rel))
        if seen is not None:
            changes[rel], data = seen
            if data is not None:
                contents[rel] = data
    return Scan(changes, contents)


def _with_nested_repositories(repo: Repo, reader: Reader, recorded: pygit2.Tree,
                              candidates: Iterable[str]) -> set[str]:
    """The candidates, without what git cannot store (a nested repository's git
    dir, `.Git`, `git~1`: kept aside when the workspace ends, see
    `leftovers`), and with the files of every nested repository (a folder an
    agent cloned or `git init`ed), which `git status` reports as one folder:
    they are recorded as ordinary files, so they are never lost unseen."""
    found: set[str] = set()
    for rel in candidates:
        rel = rel.rstrip("/")
        if not leftovers.recordable(rel):
            continue
        found.add(rel)
        full = reader.locate(rel)
        if full is None or full.is_symlink() or not full.is_dir() or trees.entry_at(recorded, rel) is not None:
            continue
        if any(leftovers.git_refuses(name) for name in os.listdir(full)):
            found |= _files_below(repo, full, rel)
    return found


def _files_below(repo: Repo, top: Path, rel: str) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not leftovers.git_refuses(d)]
        below = Path(folder).relative_to(top).as_posix()
        prefix = rel if below == "." else f"{rel}/{below}"
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = f"{prefix}/{name}"
            if not leftovers.git_refuses(name) and not repo.git.path_is_ignored(path):
                found.add(path)
    return found


def _rewritten(pending: Mapping[str, trees.Entry | None], rel: str) -> bool:
    """Whether finishing the pending move writes `rel`: it is one of the move's
    paths, or lies inside a folder the move replaces by a file."""
    if rel in pending:
        return True
    parts = rel.split("/")
    return any(pending.get("/".join(parts[:i])) is not None for i in range(1, len(parts)))


def _look(repo: Repo, reader: Reader, rel: str,
          before: trees.Entry | None) -> tuple[trees.Entry | None, bytes | None] | None:
    """What `rel` holds on disk when it differs from `before`: its entry (None:
    gone) and, for a file or link, its bytes; None when nothing changed."""
    full = reader.locate(rel)
    info = _lstat(full) if full is not None else None
    if full is None or info is None:
        return _gone(before)
    if before is not None and before.mode == trees.GITLINK_MODE:
        moved = reader.submodule_head(rel)  # a submodule: record the commit it has checked out
        return (trees.Entry(moved, trees.GITLINK_MODE), None) if moved is not None and moved != before.oid else None
    if stat.S_ISDIR(info.st_mode):
        return _gone(before)
    leaf = _read_leaf(repo, reader, full, rel, info)
    return leaf if leaf is not None and leaf[0] != before else None


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _gone(before: trees.Entry | None) -> tuple[None, None] | None:
    """A path with no file or link now: deleted if it held one."""
    return (None, None) if before is not None and before.mode != trees.TREE_MODE else None


def _read_leaf(repo: Repo, reader: Reader, full: Path, rel: str,
               info: os.stat_result) -> tuple[trees.Entry, bytes] | None:
    """A symlink or regular file as git stores it; None for what is not content (sockets, fifos)."""
    if stat.S_ISLNK(info.st_mode):
        data = os.fsencode(os.readlink(full))
        return trees.Entry(str(repo.git.create_blob(data)), trees.LINK_MODE), data
    if stat.S_ISREG(info.st_mode):
        mode = trees.EXEC_MODE if info.st_mode & 0o111 else trees.BLOB_MODE
        oid = reader.blob(rel, full)  # as git stores it: clean filters (eol, …) applied
        return trees.Entry(oid, mode), repo.blob(oid).data
    return None


def record_changes(
    repo: Repo, ledger: Ledger, sws: Sws, message: str | None = None, kind: str = "snapshot",
    extra: dict[str, object] | None = None,
    links: dict[str, str] | None = None, summary: str | None = None, label: str | None = None,
) -> Snapshot:
    """Scan the workspace and record what changed as a snapshot commit inside an
    event of `kind` (with `extra` data). `message` is the user's (recorded, and
    used by collapse); `label` only names the snapshot commit. With nothing
    changed a plain snapshot records nothing; any other kind is recorded
    regardless. Caller holds the ledger."""
    finish_pending_move(repo, sws)
    found = scan(repo, sws)
    paths = tuple(sorted(found.changes))
    data: dict[str, object] = dict(extra or {})
    moves: dict[str, str | None] = {}
    head = sws.head
    when = canonical.now()
    if paths:
        parent = repo.commit(sws.head)
        tree = trees.apply(repo.git, str(parent.tree_id), found.changes)
        sig = history.signature(when)
        text = message or label or f"{len(paths)} path{'s' if len(paths) != 1 else ''} changed"
        commit_msg = f"{text}\n\nJitos-Sws: {sws.id}\n"
        head = str(repo.git.create_commit(None, sig, sig, commit_msg, pygit2.Oid(hex=tree), [parent.id]))
        manifest = overlay.update(repo, sws, found.changes, found.contents)
        data.update({"commit": head, "tree": tree, "paths": list(paths[:SHOWN_PATHS]), "changed": len(paths),
                     "overlay": manifest})
        if message:
            data["message"] = message
        moves[sws.ref] = head
    elif kind == "snapshot" and not message:
        return Snapshot(sws.id, (), sws.head, None)
    elif message:  # nothing new to record: the message is for the edits already recorded (by `sws run`)
        data["message"] = message
    summary = summary or _summary(kind, sws, paths, data)
    rec = ledger.record(kind, summary, data=data, links={"sws": sws.id, **(links or {})}, moves=moves, when=when)
    if paths:
        overlay.mirror(repo, sws.id, str(data["overlay"]))
        path = workspace_path(repo, sws.id)
        for_path(repo, path).settle(repo, path, head, dict(found.changes))
    return Snapshot(sws.id, paths, head, rec.oid)


def _summary(kind: str, sws: Sws, paths: tuple[str, ...], data: dict[str, object]) -> str:
    count = f"{len(paths)} path{'s' if len(paths) != 1 else ''}"
    if kind == "run":
        argv = " ".join(str(a) for a in data["argv"])  # type: ignore[attr-defined]
        return f"sws {sws.id}: ran `{argv[:60]}` → exit {data['exit']}" + (f", {count} changed" if paths else "")
    if kind == "sws-discard":
        return f"sws {sws.id}: snapshot before discard, {count}"
    if not paths and data.get("message"):
        return f"sws {sws.id}: message for the edits recorded — {data['message']}"
    return f"sws {sws.id}: snapshot, {count}" + (f" — {data['message']}" if data.get("message") else "")


def snapshot(repo: Repo, key: str, message: str | None = None) -> Snapshot:
    with checkout.ledger(repo) as ledger:
        sws = find_active(ledger.state, key)
        return record_changes(repo, ledger, sws, message)


def diff(repo: Repo, key: str) -> DiffResult:
    """The workspace's content (recorded plus unrecorded edits) against its base."""
    st = state.load(repo)
    sws = find(st, key)
    current = repo.tree_of(sws.head)
    unrecorded: tuple[str, ...] = ()
    if sws.state == SWS_ACTIVE:
        found = scan(repo, sws)
        unrecorded = tuple(sorted(found.changes))
        current = trees.apply(repo.git, current, found.changes)
    patch = repo.commit(sws.base).tree.diff_to_tree(repo.tree(current))
    files = tuple(
        (p.delta.new_file.path, p.line_stats[1], p.line_stats[2]) for p in patch if p is not None
    )
    return DiffResult(sws.id, sws.base, files, patch.patch or "", unrecorded)


def discard(repo: Repo, key: str, reason: str | None = None, force: bool = False) -> Snapshot:
    """Remove a workspace's folder after recording its last state. Also clears the
    folder a collapse left behind (edits made while its gate ran)."""
    refuse_inside_worker("discarding a workspace")
    with checkout.ledger(repo) as ledger:
        sws = find(ledger.state, key)
        path = workspace_path(repo, sws.id)
        if sws.state != SWS_ACTIVE and not path.is_dir():
            raise BadInput(f"workspace {sws.id} is {sws.state} and has no folder left; nothing to discard")
        if sws.task and is_live(repo, sws.task):
            raise BadInput(f"workspace {sws.id} belongs to task {sws.task}, which is running; "
                           f"stop it first (Ctrl-C), or `jitos cancel {sws.task}` once it has stopped")
        kept = Snapshot(sws.id, (), sws.head, None)
        if path.is_dir():
            pending = scan(repo, sws)
            if pending.changes and not force:
                shown = ", ".join(sorted(pending.changes)[:5])
                first = f"run `jitos sws snapshot {sws.id}` first, or " if sws.state == SWS_ACTIVE else ""
                raise BadInput(
                    f"workspace {sws.id} has unrecorded edits in {len(pending.changes)} path(s) ({shown}); "
                    f"{first}pass --force to record them and discard"
                )
            if pending.changes:
                kept = record_changes(repo, ledger, sws, label="snapshot before discard")
                sws = ledger.state.sws[sws.id]
        data: dict[str, object] = {"reason": reason, "head": sws.head}
        moved_aside = keep_unrecorded(repo, sws) if path.is_dir() else []
        if moved_aside:
            data["kept"] = {"count": len(moved_aside), "paths": moved_aside[:SHOWN_PATHS]}
        ledger.record(
            "sws-discard",
            f"sws {sws.id}: discarded" + (f" — {reason}" if reason else ""),
            data=data,
            links={"sws": sws.id},
        )
        for_path(repo, path).remove(repo, path)
        shutil.rmtree(overlay.path_of(repo, sws.id).parent, ignore_errors=True)
    trash.empty_later(repo)  # the folder is deleted after the command has answered
    return Snapshot(sws.id, kept.changed, sws.head, kept.event)


def keep_unrecorded(repo: Repo, sws: Sws) -> list[str]:
    """Before the workspace's folder goes: move what its history cannot hold
    (ignored files, a nested repository's git dir) to its kept folder, unless
    `[sws] keep_unrecorded = false`; the paths moved."""
    if not repo.config().sws_keep_unrecorded:
        return []
    path = workspace_path(repo, sws.id)
    root = for_path(repo, path).new_files_root(repo, path)
    return leftovers.set_aside(repo, root, repo.commit(sws.head).tree, sws.id)


def remove_if_clean(repo: Repo, sws: Sws) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """After `sws` landed: remove its folder, unless it holds edits the landed
    snapshot does not (made while the gate ran, or by the gate): then those
    paths are returned first and the folder stays. Otherwise what history
    cannot hold is kept aside first (returned second). Caller holds the
    ledger, and empties the backend's trash once it is released."""
    path = workspace_path(repo, sws.id)
    if not path.is_dir():
        return (), ()
    left = tuple(sorted(scan(repo, sws).changes))
    if left:
        return left, ()
    kept = tuple(keep_unrecorded(repo, sws))
    for_path(repo, path).remove(repo, path)
    return (), kept


def run(repo: Repo, key: str, argv: list[str], message: str | None = None) -> RunResult:
    """Run `argv` (never through a shell) with its cwd in the workspace; store its
    output, record its exit code and snapshot whatever it changed (with
    `message`, as `sws snapshot -m` would), as one event."""
    if not argv:
        raise BadInput("no command given; use `jitos sws run ID -- COMMAND [ARGS…]`")
    st = state.load(repo)
    sws = find_active(st, key)
    path = workspace_path(repo, sws.id)
    env = environ_for_git_child()
    env["JITOS_SWS"] = sws.id
    program = argv[0]
    if "/" not in program and shutil.which(program, path=env.get("PATH")) is None:
        raise BadInput(f"command not found: {program!r}; check the spelling or give its path")
    settle_before_running(repo, sws.id)
    try:
        done = run_captured(repo, for_path(repo, path).command(repo, path, argv, network=True), cwd=path, env=env)
    except OSError as exc:
        raise BadInput(f"cannot run {program!r}: {exc.strerror}") from None
    assert done.exit_code is not None and done.stderr is not None  # no timeout, stderr kept apart
    with checkout.ledger(repo) as ledger:
        sws = find_active(ledger.state, key)
        extra: dict[str, object] = {"argv": list(argv), "exit": done.exit_code, "stdout": done.stdout,
                                    "stderr": done.stderr}
        snap = record_changes(repo, ledger, sws, message, label=f"after `{' '.join(argv)[:60]}`", kind="run",
                              extra=extra)
    return RunResult(sws.id, tuple(argv), done.exit_code, done.stdout, done.stderr, snap, snap.event or "")
