"""Tree arithmetic without an index or a work tree: diff two trees by path
(skipping identical subtrees by id, so the cost follows the changes, not the
repository) and apply a set of path changes to a tree with TreeBuilders.

An `Entry` is what a path points at: (object id, git file mode). Blobs,
executables, symlinks and submodule links are all just entries; a path that
changes from file to folder is a deletion plus additions below it.

Writes only tree objects; never reads or writes a work tree, an index or a ref.
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
        if l_entry != r_entry:
            _diff_name(repo, prefix + name, l_entry, r_entry, out)
    return out


def _diff_name(repo: pygit2.Repository, path: str, l_entry: tuple[str, int] | None,
               r_entry: tuple[str, int] | None, out: dict[str, Entry | None]) -> None:
    """Add to `out` how `path` differs: the leaves below it when either side is
    a folder, then the path itself when `b` has a leaf there or lost one."""
    l_tree, r_tree = _tree_id(l_entry), _tree_id(r_entry)
    if l_tree or r_tree:
        out.update(diff(repo, l_tree, r_tree, path + "/"))
    if r_entry and not r_tree:
        out[path] = Entry(*r_entry)
    elif l_entry and not l_tree and (not r_entry or r_tree):
        out[path] = None


def _tree_id(entry: tuple[str, int] | None) -> str | None:
    return entry[0] if entry and entry[1] == TREE_MODE else None


def apply(repo: pygit2.Repository, base: str | None, changes: Changes) -> str:
    """Write the tree `base` + `changes` and return its id (an empty tree if nothing is left)."""
    return _apply(repo, base, changes) or str(repo.TreeBuilder().write())


def _apply(repo: pygit2.Repository, base: str | None, changes: Changes) -> str | None:
    direct, nested = _by_first_name(changes)
    base_items = _items(repo, base)
    builder = repo.TreeBuilder(base) if base else repo.TreeBuilder()
    for name, entry in direct.items():
        _apply_leaf(builder, base_items, nested, name, entry)
    for name, sub in nested.items():
        existing = base_items.get(name)
        subtree = _apply(repo, existing[0] if existing and existing[1] == TREE_MODE else None, sub)
        if subtree is not None:
            builder.insert(name, pygit2.Oid(hex=subtree), TREE_MODE)
        elif name in base_items:
            builder.remove(name)
    if len(builder) == 0:
        return None
    return str(builder.write())


def _by_first_name(changes: Changes) -> tuple[dict[str, Entry | None], dict[str, dict[str, Entry | None]]]:
    """Split changes into those at this level and, per folder, those below it."""
    direct: dict[str, Entry | None] = {}
    nested: dict[str, dict[str, Entry | None]] = {}
    for path, entry in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = entry
        else:
            direct[head] = entry
    return direct, nested


def _apply_leaf(builder: pygit2.TreeBuilder, base_items: Mapping[str, tuple[str, int]],
                nested: dict[str, dict[str, Entry | None]], name: str, entry: Entry | None) -> None:
    """Set or remove `name` at this level. A leaf replacing a folder drops the
    deletions below it (`nested` is changed); it cannot also have additions there."""
    if name in nested and entry is not None:
        if any(e is not None for e in nested[name].values()):
            raise ValueError(f"{name!r} cannot be both a file and a folder")
        nested.pop(name)
    if entry is None:
        if name in base_items and name not in nested:
            builder.remove(name)
    else:
        builder.insert(name, pygit2.Oid(hex=entry.oid), entry.mode)



def entry_at(tree: pygit2.Tree, rel: str) -> Entry | None:
    """What `rel` points at in `tree` (None: nothing)."""
    try:
        obj = tree[rel]
    except KeyError:
        return None
    return Entry(str(obj.id), int(obj.filemode))
