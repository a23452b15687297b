"""Store objects travel with history.

The blake3 store lives under one clone's git directory; git remotes carry only
git objects. So every store object an event names — overlay manifests and the
file contents they list, step logs, test output, a task's governing config —
is also a git blob in the tree of `refs/jitos/store`, at
`<first 2 hex>/<other 62 hex>` of its blake3 digest. The event moves that ref
in its own ref transaction (a new commit on it, only when it carries objects
not carried before), so the event's record names the store commit holding
what it names: `git push`/`git fetch` of `refs/jitos/*` carries everything,
`git gc` keeps it, and `jitos verify` checks each blob's bytes against the
digest it is filed under. The digests stay the names.

A history recorded before this existed gets everything its earlier events
named carried by its next event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pygit2

from kernel.base import canonical
from kernel.base.repo import Repo
from kernel.base.store import DIGEST_RE, carried_path
from kernel.errors import JitosError
from kernel.record import refs

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


def manifest_contents(data: bytes) -> list[str]:
    """The file contents an overlay manifest names (raises ValueError/KeyError/… if it is not one)."""
    entries = canonical.loads(data)["entries"]
    return sorted({e["digest"] for e in entries.values() if "digest" in e})


def named(repo: Repo, data: Mapping[str, Any]) -> list[str]:
    """Every store digest `data` names, with the contents of the manifests it names."""
    found: dict[str, None] = {}
    for key, digest in digests(dict(data)):
        found[digest] = None
        if key == MANIFEST_KEY:
            try:
                found.update(dict.fromkeys(manifest_contents(repo.store.get(digest))))
            except (JitosError, ValueError, KeyError, TypeError, AttributeError):
                pass  # a manifest that cannot be read carries nothing more; `jitos verify` says so
    return list(found)


def carry(repo: Repo, store: str | None, wanted: Iterable[str], when: int, what: str) -> str | None:
    """A commit on `store` (the store ref's commit, or None) whose tree also
    holds each of `wanted` not already in it; None when nothing is new. An
    object this clone's store does not have is left out (`jitos verify`
    reports what history names and nothing holds)."""
    tree = repo.commit(store).tree if store else None
    new: dict[str, dict[str, pygit2.Oid]] = {}
    for digest in wanted:
        fan, rest = carried_path(digest)
        if tree is not None and _holds(tree, f"{fan}/{rest}"):
            continue
        try:
            data = repo.store.get(digest)
        except JitosError:
            continue
        new.setdefault(fan, {})[rest] = repo.git.create_blob(data)
    if not new:
        return None
    root = repo.git.TreeBuilder(tree) if tree is not None else repo.git.TreeBuilder()
    for fan, blobs in sorted(new.items()):
        existing = tree[fan] if tree is not None and fan in tree else None
        builder = repo.git.TreeBuilder(existing) if isinstance(existing, pygit2.Tree) else repo.git.TreeBuilder()
        for rest, blob in sorted(blobs.items()):
            builder.insert(rest, blob, pygit2.enums.FileMode.BLOB)
        root.insert(fan, builder.write(), pygit2.enums.FileMode.TREE)
    sig = pygit2.Signature(refs.IDENTITY[0], refs.IDENTITY[1], when, 0)
    count = sum(len(b) for b in new.values())
    message = f"carry {count} store object(s) for {what}\n"
    parents = [pygit2.Oid(hex=store)] if store else []
    return str(repo.git.create_commit(None, sig, sig, message, root.write(), parents))


def _holds(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return True
