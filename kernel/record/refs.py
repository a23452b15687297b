"""Every ref move jitos makes, in one place: compare-and-swap, under the jitos
lock, all-or-nothing across several refs, with a reflog message.

A move is journalled before any ref changes: the journal (written atomically)
lists each ref's expected old and new value. Refs then move in one libgit2
transaction (which takes git's own `.lock` files, so plain git sees a
consistent world), and the journal is removed. If a process dies mid-way, the
next process to take the lock rolls the journal forward, so a SIGKILL at any
instant leaves either none or all of a move applied. Nothing else in jitos
writes a ref.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from kernel.base import canonical, faults
from kernel.base.files import Busy, exclusive, write_atomic
from kernel.base.repo import Repo
from kernel.errors import JitosError, RefRaceError

IDENTITY = ("jitos", "jitos@localhost")
LOCK_WAIT_SECONDS = 120.0
STALE_LOCK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RefMove:
    """Move `name` from `old` to `new` (None: absent / delete)."""

    name: str
    old: str | None
    new: str | None


def read(repo: Repo, name: str) -> str | None:
    """The commit id ref `name` points at (followed through symbolic refs), or None."""
    found = _from_files(repo.common_dir, name)
    if found is not _ASK_GIT:
        return found  # type: ignore[no-any-return]
    ref = repo.git.references.get(name)
    if ref is None:
        return None
    return str(ref.resolve().target)


def names(repo: Repo, prefix: str) -> list[str]:
    """The refs whose names start with `prefix` (a folder: ends in `/`), read
    from git's files (loose and packed) without loading libgit2 where it can."""
    root = str(repo.common_dir)
    if root not in _reftable:
        _reftable[root] = os.path.exists(os.path.join(root, "reftable"))
    if _reftable[root]:
        return sorted(n for n in repo.git.references if n.startswith(prefix))
    found = {n for n in _packed_refs(repo.common_dir) if n.startswith(prefix)}
    folder = os.path.join(root, prefix)
    for here, _, files in os.walk(folder):
        rel = os.path.relpath(here, root).replace(os.sep, "/")
        found |= {f"{rel}/{f}" for f in files if not f.endswith(".lock")}
    return sorted(found)


# Refs are read from git's files as git reads them, a loose file, else a line of
# packed-refs, so that reading one never loads git's library; anything else
# (a reftable, a value that is not an object id) is left to libgit2.
_ASK_GIT: Any = object()
_OBJECT_ID = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
_packed: dict[Path, tuple[tuple[int, int, int], dict[str, str]]] = {}
_reftable: dict[str, bool] = {}  # whether a repository keeps its refs in a reftable


def _from_files(common: Path, name: str, depth: int = 0) -> Any:  # str | None | _ASK_GIT
    root = str(common)
    if root not in _reftable:
        _reftable[root] = os.path.exists(os.path.join(root, "reftable"))
    if depth > 5 or _reftable[root] or "/../" in f"/{name}/":
        return _ASK_GIT
    try:
        with open(os.path.join(root, name), "rb") as handle:
            value = handle.read().decode("ascii").strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        packed = _packed_refs(common).get(name)
        return packed if packed is None or _OBJECT_ID.match(packed) else _ASK_GIT
    except (OSError, UnicodeDecodeError):
        return _ASK_GIT
    if value.startswith("ref: "):
        return _from_files(common, value.removeprefix("ref: "), depth + 1)
    return value if _OBJECT_ID.match(value) else _ASK_GIT


def _packed_refs(common: Path) -> dict[str, str]:
    path = common / "packed-refs"
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    known = _packed.get(path)
    if known is None or known[0] != stamp:
        refs: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line and line[0] not in "#^":
                oid, _, ref = line.partition(" ")
                refs[ref] = oid
        known = _packed[path] = (stamp, refs)
    return known[1]


def _journal(repo: Repo) -> Path:
    return repo.jitos_dir / "refs-journal.json"


@contextmanager
def locked(repo: Repo) -> Iterator[None]:
    """Hold the jitos lock (released by the kernel if the process dies), then
    finish any move a dead process left half-done."""
    try:
        with exclusive(repo.lock_path, wait=LOCK_WAIT_SECONDS):
            recover(repo)
            for lock in stale_locks(repo):
                lock.unlink(missing_ok=True)
            yield
    except Busy as busy:
        raise JitosError(
            f"another jitos process (pid {busy.holder}) has held {repo.lock_path} "
            f"for over {LOCK_WAIT_SECONDS:.0f}s; wait for it or stop it"
        ) from None


def recover(repo: Repo) -> None:
    """Roll a journalled move forward: refs still at their old value move to the new one."""
    journal = _journal(repo)
    try:
        record = canonical.loads(journal.read_bytes())
        moves = [RefMove(m["name"], m["old"], m["new"]) for m in record["moves"]]
        str(record["message"])
    except FileNotFoundError:
        return
    except (ValueError, KeyError, TypeError):
        moves = []  # not even a journal: refused below
    if not moves or not _vouched(repo, moves):
        # Not a journal jitos wrote (a worker with write access to the git dir
        # can write one): never replay it, keep it for `jitos verify` to show.
        journal.replace(refused_journal(repo))
        return
    _clear_stale_locks(repo, moves)
    current = {m.name: read(repo, m.name) for m in moves}
    # Once the history ref is at its new value the event is recorded: finish every
    # ref still at its old value (a ref someone else has since moved is left to
    # them). Before that, the move is void unless every ref is old or new.
    history_done = any(m.name == "refs/jitos/history" and current[m.name] == m.new for m in moves)
    if history_done or all(current[m.name] in (m.old, m.new) for m in moves):
        pending = [m for m in moves if current[m.name] == m.old and m.old != m.new]
        if pending:
            _apply(repo, pending, record["message"] + " (recovered)")
    journal.unlink()


def stale_locks(repo: Repo) -> list[Path]:
    """git `.lock` files on jitos refs older than git's grace period: only jitos
    moves jitos refs, under its lock, so one that old was left by a killed
    transaction."""
    root = repo.common_dir / "refs" / "jitos"
    if not root.is_dir():
        return []
    now = time.time()
    found = []
    for lock in sorted(root.rglob("*.lock")):
        try:
            if now - lock.stat().st_mtime > STALE_LOCK_SECONDS:
                found.append(lock)
        except FileNotFoundError:
            continue
    return found


def journal_pending(repo: Repo) -> bool:
    """Whether a killed move left a journal for the next lock holder to finish."""
    return _journal(repo).is_file()


def refused_journal(repo: Repo) -> Path:
    return repo.jitos_dir / "refs-journal.refused.json"


def _vouched(repo: Repo, moves: Sequence[RefMove]) -> bool:
    """Whether a journal is one jitos wrote: it moves the history ref from `old`
    to an event commit whose parent is `old`, the event itself lists exactly
    the journal's other jitos refs and their new values, and any other ref is
    the branch of a collapse event following its commit. A journal is only a
    way to finish an event; it can never move a ref the event does not name."""
    history = [m for m in moves if m.name == "refs/jitos/history"]
    if len(history) != 1 or history[0].new is None:
        return False
    try:
        commit = repo.git.get(history[0].new)
        if not isinstance(commit, pygit2.Commit) or \
                [str(p) for p in commit.parent_ids] != ([history[0].old] if history[0].old else []):
            return False
        blob = commit.tree["event.json"]  # kernel.record.history's EVENT_FILE
        if not isinstance(blob, pygit2.Blob):
            return False
        event = canonical.loads(blob.data)
    except (KeyError, AttributeError, ValueError, TypeError):
        return False
    named = {m.name: m.new for m in moves if m.name.startswith("refs/jitos/") and m.name != "refs/jitos/history"}
    if named != event.get("refs"):
        return False
    data = event.get("data") or {}
    for m in moves:
        if not m.name.startswith("refs/jitos/") and not (
                event.get("kind") == "collapse" and m.name == f"refs/heads/{data.get('branch')}"
                and m.old == data.get("parent") and m.new == data.get("commit")):
            return False
    return True


def _clear_stale_locks(repo: Repo, moves: Sequence[RefMove]) -> None:
    """Remove git `.lock` files a killed transaction left on the journalled refs.

    A live git holds a ref lock for milliseconds; one that outlives a short
    grace period while the journal says a jitos move was in flight is ours.
    """
    locks = [repo.common_dir / f"{m.name}.lock" for m in moves]
    if any(m.new is None for m in moves):
        locks.append(repo.common_dir / "packed-refs.lock")
    deadline = time.monotonic() + STALE_LOCK_SECONDS
    for lock in locks:
        while lock.exists():
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                break
            if age > STALE_LOCK_SECONDS or time.monotonic() > deadline:
                lock.unlink(missing_ok=True)
                break
            time.sleep(0.02)


def move(repo: Repo, moves: Sequence[RefMove], message: str) -> None:
    """Apply `moves` atomically if every ref is still at its `old` value.

    Must be called while holding `locked(repo)`. Raises RefRaceError (and
    changes nothing) when a ref was moved by someone else.
    """
    # Under the jitos lock nobody else moves jitos refs, so a `.lock` a killed
    # transaction left on one is stale; others get git's grace period.
    _clear_stale_locks(repo, moves)
    _check(repo, moves)
    if len(moves) == 1:  # one ref: git's own lock-and-rename is already all-or-nothing
        _apply(repo, moves, message)
        return
    journal = _journal(repo)
    record = {"message": message, "moves": [{"name": m.name, "old": m.old, "new": m.new} for m in moves]}
    write_atomic(journal, canonical.dumps(record))
    faults.point("refs.journalled")
    try:
        _apply(repo, moves, message)
    finally:
        journal.unlink()


def _check(repo: Repo, moves: Sequence[RefMove]) -> None:
    for m in moves:
        current = read(repo, m.name)
        if current != m.old:
            raise RefRaceError(
                f"{m.name} is at {str(current)[:12]} but jitos expected {str(m.old)[:12]}: "
                "it was moved outside jitos; run `jitos verify` to see what differs"
            )


def _ensure_reflog(repo: Repo, name: str) -> None:
    # git and libgit2 keep reflogs for refs outside refs/heads only when the
    # log file already exists; jitos wants one for every ref it moves.
    log = repo.common_dir / "logs" / name
    if not log.exists():
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch()


def _apply(repo: Repo, moves: Sequence[RefMove], message: str) -> None:
    for m in moves:
        if m.new is not None:
            _ensure_reflog(repo, m.name)
    with repo.git.transaction() as txn:
        for m in moves:
            txn.lock_ref(m.name)
        _check(repo, moves)
        faults.point("refs.locked")
        for m in moves:
            if m.new is None:
                txn.remove(m.name)
            else:
                txn.set_target(m.name, m.new, message=message)
    faults.point("refs.moved")
