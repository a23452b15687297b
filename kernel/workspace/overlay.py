"""A workspace's overlay manifest: its delta over its base as path → blake3
digest and mode (deletions as whiteouts, submodules as gitlinks), with the
contents in the store.

The manifest's truth is the store object the latest event names
(`Sws.overlay`); `<git dir>/jitos/overlay/<id>/manifest.json` is a mirror of it,
written only after that event is recorded, so a crash can never make the file
contradict history. Writes only store objects and the mirror file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kernel.base import canonical
from kernel.base.files import write_atomic
from kernel.base.repo import Repo
from kernel.record.state import Sws
from kernel.workspace import trees


def path_of(repo: Repo, sws_id: str) -> Path:
    return repo.overlays_dir / sws_id / "manifest.json"



def read(repo: Repo, sws: Sws) -> dict[str, object]:
    if sws.overlay is None:
        return {"base": sws.base, "entries": {}}
    data: dict[str, object] = canonical.loads(repo.store.get(sws.overlay))
    return data


def store(repo: Repo, manifest: dict[str, object]) -> str:
    return repo.store.put(canonical.dumps(manifest))


def mirror(repo: Repo, sws_id: str, digest: str) -> None:
    """Write the manifest file for a recorded overlay digest."""
    path = path_of(repo, sws_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, repo.store.get(digest))


def rebuild(repo: Repo, sws_id: str, base: str, tree: str) -> str:
    """Store the overlay of `tree` over a new `base` (after a re-base); return its digest."""
    base_commit = repo.commit(base)
    entries: dict[str, object] = {}
    for rel, entry in trees.diff(repo.git, str(base_commit.tree_id), tree).items():
        if entry is None:
            entries[rel] = {"whiteout": True}
        elif entry.mode == trees.GITLINK_MODE:
            entries[rel] = {"gitlink": entry.oid}
        else:
            blob = repo.blob(entry.oid)
            entries[rel] = {"digest": repo.store.put(blob.data), "mode": entry.mode, "blob": entry.oid}
    return store(repo, {"base": base, "entries": entries})


def update(repo: Repo, sws: Sws, changes: Mapping[str, trees.Entry | None], contents: Mapping[str, bytes]) -> str:
    """Store `sws`'s overlay after recording `changes` (with their `contents`); return its digest."""
    manifest = read(repo, sws)
    entries = dict(manifest["entries"])  # type: ignore[call-overload]
    base_commit = repo.commit(sws.base)
    base_tree = base_commit.tree
    for rel, entry in changes.items():
        try:
            obj = base_tree[rel]
            in_base: trees.Entry | None = trees.Entry(str(obj.id), int(obj.filemode))
        except KeyError:
            in_base = None
        if entry == in_base:
            entries.pop(rel, None)
        elif entry is None:
            entries[rel] = {"whiteout": True}
        elif entry.mode == trees.GITLINK_MODE:
            entries[rel] = {"gitlink": entry.oid}
        else:
            entries[rel] = {"digest": repo.store.put(contents[rel]), "mode": entry.mode, "blob": entry.oid}
    return store(repo, {"base": sws.base, "entries": entries})
