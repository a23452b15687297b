"""The history ref: an append-only, linear chain of canonical event commits.

Each event is one commit on `refs/jitos/history`. Its tree holds the canonical
event record (`event.json`) and, from format 2 on, the store objects the
event carries into git (`kernel.record.carry`): one blob per object, named by
its blake3 digest. Its message is the record's one-line summary and `Jitos-*`
trailers; its author and committer are the fixed jitos identity at the
event's recorded time. A commit is a pure function of (record, carried
objects, parent), so `jitos verify` can recompute every id. An append is a
compare-and-swap of the history ref (and of any jitos ref the event moves)
under the jitos lock.

Format 1 (the first) trees hold `event.json` only; they are read and
verified as they are.

This module knows nothing about what events mean; `kernel.record.state` folds them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from kernel.base import canonical, faults, store
from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.base.store import CLONES_PREFIX
from kernel.errors import IntegrityError, NotInitialised
from kernel.record import refs

HISTORY_REF = store.HISTORY_REF  # (the store reads the objects its events carry)
FORMAT = 2  # events this jitos records
READS = (1, 2)  # event formats it reads and verifies
SYSTEM_REF = "refs/jitos/system"
SWS_REF_PREFIX = "refs/jitos/sws/"
# Other clones' refs are fetched under CLONES_PREFIX: `refs/jitos/clones/<clone>/history`, … .
EVENT_FILE = "event.json"
_DIGEST_NAME = re.compile(r"[0-9a-f]{64}\Z")


def history_ref(clone: str | None = None) -> str:
    """This clone's history ref, or the one fetched from `clone`."""
    return HISTORY_REF if clone is None else f"{CLONES_PREFIX}{clone}/history"


def cache_name(ref: str) -> str:
    """What a cache file about the history at `ref` adds to its name: nothing
    for this clone's, `-<clone>` for one fetched from another clone."""
    return "" if ref == HISTORY_REF else "-" + ref.removeprefix(CLONES_PREFIX).removesuffix("/history")


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded event. `refs` lists the jitos refs the event moves (None: deleted)."""

    seq: int
    kind: str
    time: int
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    refs: Mapping[str, str | None] = field(default_factory=dict)
    v: int = FORMAT

    def record(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "seq": self.seq,
            "kind": self.kind,
            "time": self.time,
            "summary": self.summary,
            "data": dict(self.data),
            "links": dict(self.links),
            "refs": dict(self.refs),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Event:
        if record.get("v") not in READS:
            raise IntegrityError(f"event format {record.get('v')!r} is not one this jitos reads "
                                 f"({', '.join(map(str, READS))}); a newer jitos recorded it: upgrade jitos")
        return cls(
            seq=record["seq"],
            kind=record["kind"],
            time=record["time"],
            summary=record["summary"],
            data=record["data"],
            links=record["links"],
            refs=record["refs"],
            v=record["v"],
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as it sits on the history ref: its commit id, the event, and
    the store objects its tree carries (blake3 digest → git blob id)."""

    oid: str
    event: Event
    carried: Mapping[str, str] = field(default_factory=dict)


def message(event: Event) -> str:
    trailers = [f"Jitos-Event: {event.kind}", f"Jitos-Seq: {event.seq}"]
    trailers += [f"Jitos-{key.capitalize()}: {' '.join(value.split())}" for key, value in sorted(event.links.items())]
    summary = event.summary.replace("\n", " ").strip() or event.kind
    return f"{summary}\n\n" + "\n".join(trailers) + "\n"


def signature(when: int) -> pygit2.Signature:
    return pygit2.Signature(refs.IDENTITY[0], refs.IDENTITY[1], when, 0)


def write_commit(repo: Repo, event: Event, parent: str | None, carried: Mapping[str, str] | None = None) -> str:
    """Write the event's blob, tree and commit objects (no ref moves), the
    tree also holding the `carried` blobs (digest → blob id, written by the
    caller); return the commit id."""
    git = repo.git
    blob = git.create_blob(canonical.dumps(event.record()))
    # The tree's bytes as `commit_id` hashes them, written as they are: the
    # carried blobs were just written or found in the object database.
    tree = git.odb.write(pygit2.enums.ObjectType.TREE, _tree_body(blob.raw, carried or {}))
    sig = signature(event.time)
    parents = [pygit2.Oid(hex=parent)] if parent else []
    commit = str(git.create_commit(None, sig, sig, message(event), tree, parents))
    faults.point("history.written", event.kind)
    return commit


def head(repo: Repo, ref: str = HISTORY_REF) -> str | None:
    return refs.read(repo, ref)


def read_event(repo: Repo, oid: str) -> tuple[Event, bytes, pygit2.Commit]:
    commit = repo.git[oid]
    if not isinstance(commit, pygit2.Commit):
        raise IntegrityError(f"history entry {oid[:12]} is not a commit")
    try:
        blob = commit.tree[EVENT_FILE]
    except KeyError:
        raise IntegrityError(f"history commit {oid[:12]} has no {EVENT_FILE}") from None
    data = blob.data
    return Event.from_record(canonical.loads(data)), data, commit


def carried_of(commit: pygit2.Commit) -> dict[str, str]:
    """The store objects an event commit's tree carries: blake3 digest → git blob id."""
    return {e.name: str(e.id) for e in commit.tree if e.name and _DIGEST_NAME.match(e.name)}


def walk(repo: Repo, start: str | None = None, ref: str = HISTORY_REF) -> Iterator[Recorded]:
    """Events newest first, following the (linear) chain from `start` or the head of `ref`."""
    oid = start or head(repo, ref)
    while oid:
        event, _, commit = read_event(repo, oid)
        yield Recorded(oid, event, carried_of(commit) if event.v > 1 else {})
        oid = str(commit.parent_ids[0]) if commit.parent_ids else None


# Events already read, per repository: history is append-only and hash-chained,
# so a later call only walks back from the head to the last event it has seen.
_seen: dict[str, tuple[Recorded, ...]] = {}


def events(repo: Repo, ref: str = HISTORY_REF) -> list[Recorded]:
    """All events of the history at `ref`, oldest first: those this process or
    the saved chain (`_saved`) already holds, then the newer ones read from git."""
    key = str(repo.common_dir) + cache_name(ref)
    known = _seen.get(key) or _saved(repo, ref)
    last = known[-1].oid if known else None
    newer: list[Recorded] = []
    stale = False
    for rec in walk(repo, ref=ref):
        if rec.oid == last:
            break
        newer.append(rec)
    else:
        known = ()  # the chain held is not under the head (a new repository at the same path)
        stale = last is not None
    newer.reverse()
    found = known + tuple(newer)
    _seen[key] = found
    if len(found) - (0 if stale else len(_saved(repo, ref))) >= SAVE_EVERY:
        _save(repo, found, ref)
    elif stale:
        _chain_file(repo, ref).unlink(missing_ok=True)
        _saved_cache[key] = ()
    return list(found)


# Reading an event from git costs three object lookups; a long history is read
# from a saved copy of the chain instead, one canonical record a line. It is
# only a faster way to read what git holds: every record is checked to give
# its commit id after its parent (pure hashing, as `jitos verify` does), and
# the newest saved event must be on the chain under the history ref, so a copy
# anyone altered, or one left behind by a rewritten history, is not used.
SAVE_EVERY = 256  # events read from git before the saved chain is written again
_saved_cache: dict[str, tuple[Recorded, ...]] = {}


def _chain_file(repo: Repo, ref: str = HISTORY_REF) -> Path:
    return repo.jitos_dir / "cache" / f"events{cache_name(ref)}.jsonl"


def _saved(repo: Repo, ref: str = HISTORY_REF) -> tuple[Recorded, ...]:
    key = str(repo.common_dir) + cache_name(ref)
    if key not in _saved_cache:
        _saved_cache[key] = _read_saved(_chain_file(repo, ref))
    return _saved_cache[key]


def _read_saved(path: Path) -> tuple[Recorded, ...]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return ()
    found: list[Recorded] = []
    parent: str | None = None
    try:
        for line in lines:  # "<commit id> <carried: - or digest:blob,…> <the event's canonical record>"
            oid, _, rest = line.partition(b" ")
            listed, _, record = rest.partition(b" ")
            carried = _carried_field(listed.decode("ascii"))
            event = Event.from_record(canonical.loads(record))
            if carried is None or commit_id(event, parent, record + b"\n", carried) != oid.decode():
                return ()
            found.append(Recorded(oid.decode(), event, carried))
            parent = oid.decode()
    except (IntegrityError, ValueError, KeyError, TypeError):
        return ()
    return tuple(found)


def _save(repo: Repo, chain: tuple[Recorded, ...], ref: str = HISTORY_REF) -> None:
    path = _chain_file(repo, ref)
    try:
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, b"".join(r.oid.encode() + b" " + _carried_line(r.carried).encode() + b" "
                                    + canonical.dumps(r.event.record()) for r in chain))
    except OSError:
        return  # a read-only git dir (a view) keeps reading from git
    _saved_cache[str(repo.common_dir) + cache_name(ref)] = chain


def _carried_line(carried: Mapping[str, str]) -> str:
    return ",".join(f"{d}:{o}" for d, o in sorted(carried.items())) or "-"


def _carried_field(text: str) -> dict[str, str] | None:
    """The carried objects of a saved chain line; None when it is not one."""
    if text == "-":
        return {}
    found = {}
    for item in text.split(","):
        digest, _, oid = item.partition(":")
        if not _DIGEST_NAME.match(digest) or not re.fullmatch(r"[0-9a-f]{40}", oid):
            return None
        found[digest] = oid
    return found


def _tree_body(record_blob: bytes, carried: Mapping[str, str]) -> bytes:
    """An event commit's tree, as git stores it: `event.json` and each carried
    blob (named by its digest), files all, in git's order (by name)."""
    entries = [(EVENT_FILE.encode(), record_blob)] + [(d.encode(), bytes.fromhex(o)) for d, o in carried.items()]
    return b"".join(b"100644 " + name + b"\0" + oid for name, oid in sorted(entries))


def commit_id(event: Event, parent: str | None, record: bytes | None = None,
              carried: Mapping[str, str] | None = None) -> str:
    """The id `write_commit` gives this event after `parent` (its tree also
    carrying `carried`), computed without writing anything (git's object
    hashing: sha1 of "<type> <size>\\0<body>"). `record`, when given, is the
    event's stored bytes (the blob hashed as is)."""

    def object_id(kind: bytes, body: bytes) -> bytes:
        return hashlib.sha1(kind + b" " + str(len(body)).encode() + b"\0" + body).digest()

    blob = object_id(b"blob", canonical.dumps(event.record()) if record is None else record)
    tree = object_id(b"tree", _tree_body(blob, carried or {}))
    who = f"{refs.IDENTITY[0]} <{refs.IDENTITY[1]}> {event.time} +0000"
    head = f"tree {tree.hex()}\n" + (f"parent {parent}\n" if parent else "")
    body = f"{head}author {who}\ncommitter {who}\n\n{message(event)}".encode()
    return object_id(b"commit", body).hex()


def require(repo: Repo) -> str:
    oid = head(repo)
    if oid is None:
        raise NotInitialised("jitos is not set up in this repository; run `jitos init` first")
    return oid


@contextmanager
def lock(repo: Repo) -> Iterator[None]:
    with refs.locked(repo):
        yield


def append(
    repo: Repo,
    parent: str | None,
    seq: int,
    kind: str,
    summary: str,
    *,
    data: Mapping[str, Any] | None = None,
    links: Mapping[str, str] | None = None,
    moves: Mapping[str, tuple[str | None, str | None]] | None = None,
    extra_moves: tuple[refs.RefMove, ...] = (),
    when: int | None = None,
    carried: Mapping[str, str] | None = None,
) -> Recorded:
    """Append one event after `parent`, moving the history ref and `moves`
    (jitos ref → (old, new)) together; `extra_moves` are non-jitos refs (the
    system branch) that move in the same transaction but are not part of the
    record. Caller holds `lock(repo)`."""
    moves = moves or {}
    event = Event(
        seq=seq,
        kind=kind,
        time=canonical.now() if when is None else when,
        summary=summary,
        data=dict(data or {}),
        links=dict(links or {}),
        refs={name: new for name, (_, new) in sorted(moves.items())},
        v=FORMAT,
    )
    oid = write_commit(repo, event, parent, carried)
    ref_moves = [refs.RefMove(name, old, new) for name, (old, new) in sorted(moves.items())]
    ref_moves += list(extra_moves)
    ref_moves.append(refs.RefMove(HISTORY_REF, parent, oid))
    refs.move(repo, ref_moves, f"jitos {kind}: {summary}")
    return Recorded(oid, event, dict(carried or {}))
