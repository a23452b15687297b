"""Tree arithmetic without an index or a work tree: diff two trees by path
(skipping identical subtrees by id, so the cost follows the changes, not the
repository) and apply a set of path changes to a tree with TreeBuilders.

An `Entry` is what a path points at: (object id, git file mode). Blobs,
executables, symlinks and submodule links are all just entries; a path that
changes from file to folder is a deletion plus additions below it.

Writes only tree objects; never reads or writes a work tree, an index or a ref.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
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


#: A tree's entries as git stores them (`<mode> <name>\0<20-byte id>`), read
#: once per process: a tree's id names its content in every repository, so
#: nothing here can go stale. Two trees are compared by these raw entries, and
#: only the ones that differ are decoded: one collapse compares a few hundred
#: trees along the changed paths (two diffs from the base, the merge, the
#: re-base), where decoding every entry of each into Python would cost more
#: than git's own merge of them.
_RAW: dict[str, frozenset[bytes]] = {}
_RAW_KEPT = 8192
_ENTRY = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.DOTALL)


def _raw(repo: pygit2.Repository, oid: str) -> frozenset[bytes]:
    known = _RAW.get(oid)
    if known is None:
        kind, data = repo.odb.read(oid)[:2]
        if kind != pygit2.enums.ObjectType.TREE:
            raise ValueError(f"{oid} is not a tree")
        known = frozenset(_ENTRY.findall(data))
        if len(_RAW) >= _RAW_KEPT:
            _RAW.clear()
        _RAW[oid] = known
    return known


def _decoded(chunks: Iterable[bytes]) -> dict[str, tuple[str, int]]:
    out = {}
    for chunk in chunks:
        text, _, rest = chunk.partition(b" ")
        mode = int(text, 8)
        if mode & 0o170000 == 0o100000:  # as libgit2 reads them: old modes such as 100664 are files
            mode = EXEC_MODE if mode & 0o111 else BLOB_MODE
        out[os.fsdecode(rest[:-21])] = (rest[-20:].hex(), mode)
    return out


def _items(repo: pygit2.Repository, oid: str | None) -> Mapping[str, tuple[str, int]]:
    if oid is None:
        return {}
    if len(oid) != 40:  # not a SHA-1 repository: let libgit2 read the entries
        tree = repo[oid]
        assert isinstance(tree, pygit2.Tree)
        return {obj.name: (str(obj.id), int(obj.filemode)) for obj in tree}  # type: ignore[misc]
    return _decoded(_raw(repo, oid))


def _changed_items(repo: pygit2.Repository, a: str | None, b: str | None
                   ) -> tuple[Mapping[str, tuple[str, int]], Mapping[str, tuple[str, int]]]:
    """The entries of `a` and of `b` that are not in both, decoded."""
    if a is None or b is None or len(a) != 40 or len(b) != 40:
        return _items(repo, a), _items(repo, b)
    left, right = _raw(repo, a), _raw(repo, b)
    return _decoded(left - right), _decoded(right - left)


def diff(repo: pygit2.Repository, a: str | None, b: str | None, prefix: str = "") -> dict[str, Entry | None]:
    """Path → entry in `b` (None if absent there) for every leaf path that differs."""
    out: dict[str, Entry | None] = {}
    if a == b:
        return out
    left, right = _changed_items(repo, a, b)
    for name in sorted(left.keys() | right.keys()):
        l_entry, r_entry = left.get(name), right.get(name)
        if l_entry != r_entry:
            _diff_name(repo, prefix + name, l_entry, r_entry, out)
    return out


def changed_on_both(repo: pygit2.Repository, base: str | None, ours: str | None, theirs: str | None,
                    prefix: str = "") -> set[str]:
    """The paths `ours` and `theirs` both changed from `base`, differently: a
    file both changed (or one deleted), or a name that is a folder on one side
    and not on the other. Walks only into folders both sides changed, so the
    cost follows what the two changes share, not what each changed."""
    found: set[str] = set()
    if ours == theirs or base == ours or base == theirs:
        return found
    was_items = _items(repo, base)
    mine, yours = _changed_items(repo, ours, theirs)  # a name in neither: the same on both sides
    for name in mine.keys() | yours.keys():
        was, one, other = was_items.get(name), mine.get(name), yours.get(name)
        if one == was or other == was:
            continue  # only one side changed it
        if _is_leaf(one) or _is_leaf(other):
            found.add(prefix + name)
        else:  # folders (or a folder one side deleted): which files below both changed
            found |= changed_on_both(repo, _tree_id(was), _tree_id(one), _tree_id(other), prefix + name + "/")
    return found


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


def _is_leaf(entry: tuple[str, int] | None) -> bool:
    return entry is not None and entry[1] != TREE_MODE


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
