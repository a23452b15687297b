"""Tree arithmetic without an index or a work tree: diff two trees by path
(skipping identical subtrees by id, so the cost follows the changes, not the
repository) and apply a set of path changes to a tree with TreeBuilders.

An `Entry` is what a path points at: (object id, git file mode). Blobs,
executables, symlinks and submodule links are all just entries; a path that
changes from file to folder is a deletion plus additions below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import pygit2

TREE_MODE = 0o040000
BLOB_MODE = 0o100644
EXEC_MODE = 0o100755
LINK_MODE = 0o120000
GITLINK_MODE = 0o160000


class Entry(NamedTuple):
    oid: str
    mode: int


Changes = Mapping[str, Entry | None]


def _items(repo: pygit2.Repository, oid: str | None) -> dict[str, tuple[str, int]]:
    if oid is None:
        return {}
    tree = repo[oid]
    assert isinstance(tree, pygit2.Tree)
    return {obj.name: (str(obj.id), int(obj.filemode)) for obj in tree}  # type: ignore[misc]


def diff(repo: pygit2.Repository, a: str | None, b: str | None, prefix: str = "") -> dict[str, Entry | None]:
    """Path → entry in `b` (None if absent there) for every leaf path that differs."""
    out: dict[str, Entry | None] = {}
    if a == b:
        return out
    left, right = _items(repo, a), _items(repo, b)
    for name in sorted(left.keys() | right.keys()):
        l_entry, r_entry = left.get(name), right.get(name)
        if l_entry == r_entry:
            continue
        path = prefix + name
        l_tree = l_entry if l_entry and l_entry[1] == TREE_MODE else None
        r_tree = r_entry if r_entry and r_entry[1] == TREE_MODE else None
        if l_tree or r_tree:
            out.update(diff(repo, l_tree[0] if l_tree else None, r_tree[0] if r_tree else None, path + "/"))
        if r_entry and not r_tree:
            out[path] = Entry(*r_entry)
        elif l_entry and not l_tree and not r_entry or l_entry and not l_tree and r_tree:
            out[path] = None
    return out


def apply(repo: pygit2.Repository, base: str | None, changes: Changes) -> str:
    """Write the tree `base` + `changes` and return its id (an empty tree if nothing is left)."""
    return _apply(repo, base, changes) or str(repo.TreeBuilder().write())


def _apply(repo: pygit2.Repository, base: str | None, changes: Changes) -> str | None:
    direct: dict[str, Entry | None] = {}
    nested: dict[str, dict[str, Entry | None]] = {}
    for path, entry in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = entry
        else:
            direct[head] = entry
    base_items = _items(repo, base)
    builder = repo.TreeBuilder(base) if base else repo.TreeBuilder()
    for name, entry in direct.items():
        if name in nested and entry is not None:
            if any(e is not None for e in nested[name].values()):
                raise ValueError(f"{name!r} cannot be both a file and a folder")
            nested.pop(name)
        if entry is None:
            if name in base_items and name not in nested:
                builder.remove(name)
        else:
            builder.insert(name, pygit2.Oid(hex=entry.oid), entry.mode)
    for name, sub in nested.items():
        existing = base_items.get(name)
        sub_base = existing[0] if existing and existing[1] == TREE_MODE else None
        subtree = _apply(repo, sub_base, sub)
        if subtree is not None:
            builder.insert(name, pygit2.Oid(hex=subtree), TREE_MODE)
        elif name in base_items:
            builder.remove(name)
    if len(builder) == 0:
        return None
    return str(builder.write())
