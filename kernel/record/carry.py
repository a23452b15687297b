"""Store objects travel with history.

The blake3 store lives under one clone's git directory; git remotes carry only
git objects. So each store object an event names — overlay manifests and the
file contents they list, step logs, test output, a task's governing config —
is also a blob in that event's own commit tree, named by its blake3 digest
(next to `event.json`; event format 2). Whatever reaches the history ref
reaches every object history names: `git push`/`git fetch` of `refs/jitos/*`
carries it, `git gc` keeps it, and `jitos verify` checks each blob's bytes
against the name it is filed under. The digests stay the names.

What an event carries: every digest its data names (`DIGEST_KEYS`), and for
an overlay manifest the file contents it lists that the workspace's previous
manifest did not (those were carried by the event that named that one). An
object already in git costs no write: only the tree entry. A history recorded
in format 1 gets everything its earlier events named carried by its first
format-2 event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kernel.base.repo import Repo
from kernel.base.store import DIGEST_RE
from kernel.errors import JitosError

#: Keys of event data whose value is a store digest.
DIGEST_KEYS = frozenset({"stdout", "stderr", "overlay", "log", "config"})
#: The key whose digest is an overlay manifest, which names file contents in turn.
MANIFEST_KEY = "overlay"


def digests(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, digest) for every store digest event data names directly."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from digests(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from digests(item, key)
    elif isinstance(value, str) and key in DIGEST_KEYS and DIGEST_RE.match(value):
        yield key, value


def manifest_contents(data: bytes) -> dict[str, str | None]:
    """The file contents an overlay manifest names: digest → the git blob id
    it records for it (None where it records none). Raises ValueError,
    KeyError, … if it is not a manifest."""
    entries = json.loads(data)["entries"]  # only names are read: no need for canonical's checks
    return {e["digest"]: e.get("blob") for e in sorted(entries.values(), key=lambda e: e.get("digest", ""))
            if "digest" in e}


def named(repo: Repo, data: Mapping[str, Any], previous: str | None = None) -> dict[str, str | None]:
    """Every store digest `data` names, with the contents of the manifests it
    names that the `previous` manifest (of the same workspace) did not list:
    digest → its git blob id where a manifest records one."""
    found: dict[str, str | None] = {}
    before: dict[str, str | None] | None = None
    for key, digest in digests(dict(data)):
        found.setdefault(digest, None)
        if key == MANIFEST_KEY and digest != previous:
            before = _contents(repo, previous) if before is None else before
            found.update((c, blob) for c, blob in _contents(repo, digest).items() if c not in before)
    return found


def _contents(repo: Repo, manifest: str | None) -> dict[str, str | None]:
    if manifest is None:
        return {}
    try:
        return manifest_contents(repo.store.get(manifest))
    except (JitosError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # a manifest that cannot be read carries nothing more; `jitos verify` says so


def blobs(repo: Repo, wanted: Mapping[str, str | None]) -> dict[str, str]:
    """Each of `wanted` (digest → a blob id known for it, or None) as a git
    blob: the known one when git has it, else written from this clone's
    store. One the store does not have either is left out (`jitos verify`
    reports what history names and nothing carries)."""
    out = {}
    odb = repo.git.odb if wanted else None
    for digest, known in wanted.items():
        if known is not None and odb is not None and known in odb:  # a header check, not a read
            out[digest] = known
            continue
        data = repo.store.local(digest)
        if data is not None:
            out[digest] = str(repo.git.create_blob(data))
    return out
