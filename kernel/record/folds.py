"""Folds of history that a command reads without replaying all of it.

A `Fold` says how to build a value from events (`apply` the newer ones onto an
older value) and how to write it down. `folded(repo, fold)` returns the value
for the current history head: from this process's last answer, else from the
checkpoint saved under `.git/jitos/cache/`, folding only the events recorded
since; with neither, from every event. A checkpoint is only a shortcut to what
history says, so it is used only when

* it names the commit it describes, and that commit is on the chain under the
  history ref at the sequence number it claims (history rewritten or replaced
  under it: the checkpoint is ignored);
* its bytes, with the event it names, hash to the digest it holds (a torn or
  edited file is ignored; this is a check against damage, not against a
  forger, who can recompute it: on the worktree backend a step could plant
  one, which the step guard removes when the step ends);
* it was written by the same fold code: the digest of the modules that define
  the fold is part of its key, so a jitos that folds differently never reads
  an older jitos's checkpoint.

`jitos verify` folds from scratch and compares (`stale`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.record import history
from kernel.record.history import Recorded

T = TypeVar("T")

SAVE_AFTER = 32  # events folded onto a checkpoint before it is written again


@dataclass(frozen=True, slots=True)
class Fold(Generic[T]):
    name: str  # the checkpoint file is cache/fold-<name>.json
    modules: tuple[str, ...]  # the modules whose code decides the value
    empty: Callable[[], T]
    apply: Callable[[T, Iterable[Recorded]], T]  # must not change the value it is given
    encode: Callable[[T], Any]  # to JSON-able data
    decode: Callable[[Any], T]


@dataclass(frozen=True, slots=True)
class _Point(Generic[T]):
    head: str | None
    seq: int
    value: T


_memo: dict[tuple[str, str], _Point[Any]] = {}


def folded(repo: Repo, fold: Fold[T], ref: str = history.HISTORY_REF) -> T:
    """The fold of every event up to the head of the history at `ref`."""
    key = (str(repo.common_dir), fold.name + history.cache_name(ref))
    start = _memo.get(key) or _load(repo, fold, ref)
    newer: list[Recorded] = []
    if start is not None and start.head is not None and history.head(repo, ref) == start.head:
        pass  # nothing recorded since
    elif start is not None:
        for rec in history.walk(repo, ref=ref):
            if rec.oid == start.head:
                break
            if rec.event.seq <= start.seq:  # passed where the checkpoint claims to be: not this chain
                start = None
                break
            newer.append(rec)
        else:
            start = None if start.head is not None else start
    if start is None:
        records = history.events(repo, ref)
        point = _Point(records[-1].oid if records else None, len(records), fold.apply(fold.empty(), records))
        saved = records != []
    else:
        newer.reverse()
        point = _Point(newer[-1].oid, newer[-1].event.seq, fold.apply(start.value, newer)) if newer else start
        saved = len(newer) >= SAVE_AFTER or (newer != [] and key not in _memo)
    _memo[key] = point
    if saved:
        _save(repo, fold, point, ref)
    return point.value


def remember(repo: Repo, fold: Fold[T], value: T, head: str, seq: int) -> None:
    """`value` is the fold up to event `seq` (`head`): the recorder that just
    appended it knows, so the next `folded` in this process starts there."""
    _memo[(str(repo.common_dir), fold.name)] = _Point(head, seq, value)


def stale(repo: Repo, fold: Fold[T], records: list[Recorded], whole: T | None = None) -> str | None:
    """Why the saved checkpoint of `fold` disagrees with folding `records` (all
    of history, oldest first) from scratch up to the event it names; None when
    it agrees or there is none to check. `whole`: the fold of all `records`,
    when the caller has it (used when the checkpoint is at the last event)."""
    point = _load(repo, fold)
    if point is None or point.head is None:
        return None
    at = point.seq - 1
    if not 0 <= at < len(records) or records[at].oid != point.head:
        return None  # not on this chain: never used, so nothing to report
    scratch = whole if whole is not None and point.seq == len(records) else \
        fold.apply(fold.empty(), records[:point.seq])
    if fold.encode(scratch) != fold.encode(point.value):
        return (f"the saved fold of {fold.name} at event {point.seq} differs from history folded from scratch; "
                f"delete {_path(repo, fold)} (it is only a cache, rebuilt from history)")
    return None


def _path(repo: Repo, fold: Fold[Any], ref: str = history.HISTORY_REF) -> Path:
    return repo.jitos_dir / "cache" / f"fold-{fold.name}{history.cache_name(ref)}.json"


_codes: dict[str, str | None] = {}


def _code(fold: Fold[Any]) -> str | None:
    """A digest of the fold's code, or None where it cannot be read (no
    checkpoints then); read once per process."""
    if fold.name not in _codes:
        digest: Any = hashlib.sha1(fold.name.encode())
        for name in (__name__, *fold.modules):
            origin = getattr(getattr(sys.modules.get(name), "__spec__", None), "origin", None) or ""
            try:
                digest.update(Path(origin).read_bytes())
            except OSError:  # no source to read (or "" : the module is not loaded from a file)
                digest = None
                break
        _codes[fold.name] = digest.hexdigest() if digest is not None else None
    return _codes[fold.name]


def _load(repo: Repo, fold: Fold[T], ref: str = history.HISTORY_REF) -> _Point[T] | None:
    code = _code(fold)
    try:
        header, _, body = _path(repo, fold, ref).read_bytes().partition(b"\n")
        meta = json.loads(header)
        if code is None or meta["code"] != code or meta["sum"] != _digest(meta["head"], meta["seq"], body):
            return None
        head, seq = meta["head"], meta["seq"]
        if not (isinstance(head, str) and isinstance(seq, int) and seq > 0):
            return None
        return _Point(head, seq, fold.decode(json.loads(body)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def _digest(head: object, seq: object, body: bytes) -> str:
    """What a checkpoint's `sum` covers: the event it names and its value."""
    return hashlib.sha1(f"{head} {seq}\n".encode() + body).hexdigest()


def _save(repo: Repo, fold: Fold[T], point: _Point[T], ref: str = history.HISTORY_REF) -> None:
    code = _code(fold)
    if code is None or point.head is None:
        return
    body = json.dumps(fold.encode(point.value), separators=(",", ":")).encode()  # keeps dict order
    header = json.dumps({"code": code, "head": point.head, "seq": point.seq,
                         "sum": _digest(point.head, point.seq, body)}, sort_keys=True).encode()
    path = _path(repo, fold, ref)
    try:
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, header + b"\n" + body)
    except OSError:
        return  # a read-only git dir (a view) folds from its last checkpoint each time
