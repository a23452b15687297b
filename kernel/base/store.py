"""The blake3 content-addressed store: immutable objects (overlay contents,
step logs, test output) named by the blake3 digest of their bytes.

Objects live under the git common dir (never in a work tree) in fan-out
folders `ab/cdef…`. A write goes to a temp file, is fsynced and renamed into
place, so a reader never sees a partial object and a crash leaves at most a
stray temp file. This module never deletes an object.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import blake3

from kernel.base.files import write_atomic
from kernel.errors import IntegrityError, NotFound

DIGEST_RE = re.compile(r"^[0-9a-f]{64}\Z")
re_prefix = re.compile(r"^[0-9a-f]{8,64}\Z")
_CHUNK = 1 << 20


def digest_bytes(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


#: The history ref, and the prefix under which other clones' refs are
#: fetched (`…/<clone>/history`): their event commits carry store objects.
HISTORY_REF = "refs/jitos/history"
CLONES_PREFIX = "refs/jitos/clones/"


class Carried(Protocol):
    """Store objects as git carries them (in history's event commits)."""

    def read(self, digest: str) -> bytes | None: ...

    def find(self, prefix: str) -> list[str]: ...


#: Small objects this process wrote lately, by (store, digest): the event that
#: names a manifest or a log right after it was stored reads it from here.
#: Content-addressed, so never stale.
_RECENT: dict[tuple[str, str], bytes] = {}
_RECENT_KEPT = 256
_RECENT_MAX_BYTES = 1 << 16


class Store:
    """A write-once blake3 store rooted at `root`; an object it does not hold
    is read from `carried` (git), as history carries it from other clones."""

    def __init__(self, root: Path, carried: Carried | None = None) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self.carried = carried

    def create(self) -> None:
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> Path:
        if not DIGEST_RE.match(digest):
            raise NotFound(f"{digest!r} is not a blake3 digest (64 lowercase hex characters)")
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file() or (self.carried is not None and self.carried.read(digest) is not None)

    def put(self, data: bytes) -> str:
        """Store `data`; return its digest. Storing existing content is a no-op."""
        digest = digest_bytes(data)
        final = self.path_of(digest)
        if not final.exists():
            self._tmp.mkdir(parents=True, exist_ok=True)
            final.parent.mkdir(exist_ok=True)
            write_atomic(final, data, durable=True, mode=0o444, tmp_dir=self._tmp)
        if len(data) <= _RECENT_MAX_BYTES:
            if len(_RECENT) >= _RECENT_KEPT:
                _RECENT.clear()
            _RECENT[(str(self.root), digest)] = data
        return digest

    def local(self, digest: str) -> bytes | None:
        """The object as this clone's store holds it (None: it does not)."""
        recent = _RECENT.get((str(self.root), digest))
        if recent is not None:
            return recent
        try:
            return self.path_of(digest).read_bytes()
        except OSError:
            return None

    def get(self, digest: str) -> bytes:
        recent = _RECENT.get((str(self.root), digest))
        if recent is not None:
            return recent
        path = self.path_of(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            data = self.carried.read(digest) if self.carried is not None else None
            if data is None:
                raise NotFound(f"object {digest[:12]} is not in the store at {self.root} nor carried by a "
                               "history here; `jitos fetch` from a clone that has it") from None
            if digest_bytes(data) != digest:
                raise IntegrityError(f"store object {digest} as git carries it hashes to {digest_bytes(data)}")
            return data

    def get_prefix(self, prefix: str) -> bytes:
        """An object by a unique digest prefix of at least 8 characters."""
        if not re_prefix.match(prefix):
            raise NotFound(f"{prefix!r} is not a digest prefix (8-64 lowercase hex characters)")
        folder = self.root / prefix[:2]
        matches = sorted(f for f in os.listdir(folder) if f.startswith(prefix[2:])) if folder.is_dir() else []
        if self.carried is not None:
            matches = sorted(set(matches) | {d[2:] for d in self.carried.find(prefix)})
        if len(matches) != 1:
            if not matches:
                raise NotFound(f"no object in the store matches {prefix!r}; `jitos why ID` lists artifacts")
            raise NotFound(f"{len(matches)} objects in the store match {prefix!r}; give more of the digest")
        return self.get(prefix[:2] + matches[0])

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for fan in sorted(os.listdir(self.root)):
            if len(fan) != 2:
                continue
            for rest in sorted(os.listdir(self.root / fan)):
                yield fan + rest

    def check(self, digest: str) -> None:
        """Raise IntegrityError unless the object exists and hashes to its name."""
        path = self.path_of(digest)
        hasher = blake3.blake3()
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
        except FileNotFoundError:
            raise IntegrityError(f"store object {digest} is missing") from None
        if hasher.hexdigest() != digest:
            raise IntegrityError(f"store object {digest} is corrupt: its content hashes to {hasher.hexdigest()}")
