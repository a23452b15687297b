"""Merging a workspace's change with the system's, path by path, as git does.

Only the paths each side changed since the workspace's base are looked at
(trees are compared by id, so the cost follows the changes). A path one side
changed is taken from that side; a path both changed the same way is taken
once; a text file both changed differently is merged line by line with
libgit2's three-way merge (git's xdiff merge), and lands when the changes do
not overlap. Everything else both sides changed is a conflict, labelled:

- `content`: overlapping line changes (the hunks name the conflicting line
  ranges in the file written with conflict markers, first line 1);
- `binary`: a file git sees as binary (a NUL byte in its first 8,000 bytes);
- `mode`: both sides changed the file mode, differently;
- `deleted in the system` / `deleted in the workspace`: one side deleted
  what the other changed;
- `symlink`, `submodule`: links git does not merge;
- `file/folder`: a file on one side where the other has files below it.

Never writes a ref or a work tree; writes only the merged blobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from kernel.base.repo import Repo
from kernel.workspace import trees
from kernel.workspace.trees import Entry

BINARY_SNIFF = 8000  # bytes git looks at for a NUL to call a file binary
MARKER = 7  # git's conflict marker size


@dataclass(frozen=True, slots=True)
class Conflict:
    path: str
    kind: str
    hunks: tuple[tuple[int, int], ...] = ()  # for `content`: conflicting line ranges (first, last)

    def describe(self) -> str:
        if not self.hunks:
            return f"{self.path} ({self.kind})"
        ranges = ", ".join(f"{a}-{b}" for a, b in self.hunks)
        return f"{self.path} (lines {ranges})"

    def record(self) -> dict[str, object]:
        return {"path": self.path, "kind": self.kind, "hunks": [list(h) for h in self.hunks]}


@dataclass(frozen=True, slots=True)
class Merge:
    """The workspace's change as it applies onto the system: `changes` (path →
    entry, None deletes) to apply to the system's tree, the paths merged line
    by line, and the conflicts (when there are any, `changes` must not be used)."""

    changes: Mapping[str, Entry | None]
    merged: tuple[str, ...]
    conflicts: tuple[Conflict, ...]

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.conflicts]


def merge(repo: Repo, base: str, system: str, head: str, *, markers: bool = False) -> Merge:
    """Merge `head`'s change since `base` with `system`'s. With `markers`, a
    conflicting text file's entry in `changes` is the file with diff3-style
    conflict markers (what `sws update` writes for a person to resolve)."""
    b = repo.tree_of(base)
    d_sys = trees.diff(repo.git, b, repo.tree_of(system))
    d_ws = trees.diff(repo.git, b, repo.tree_of(head))
    base_tree = repo.tree(b)
    changes: dict[str, Entry | None] = dict(d_ws)
    merged: list[str] = []
    found: dict[str, Conflict] = {}
    for path in sorted(d_sys.keys() & d_ws.keys()):
        ours, theirs = d_sys[path], d_ws[path]
        if ours == theirs:
            continue
        outcome = _merge_path(repo, path, trees.entry_at(base_tree, path), ours, theirs, markers)
        if isinstance(outcome, Conflict):
            found[path] = outcome
            if outcome.kind != "content" or not markers:
                continue
            outcome = _marked(repo, path, trees.entry_at(base_tree, path), ours, theirs)
        else:
            merged.append(path)
        changes[path] = outcome
    for path in _file_folder(d_sys, d_ws):
        found.setdefault(path, Conflict(path, "file/folder"))
    return Merge(changes, tuple(merged), tuple(found[p] for p in sorted(found)))


def conflicts(repo: Repo, base: str, system: str, head: str) -> list[str]:
    """The paths a collapse of `head` onto `system` would conflict on."""
    return merge(repo, base, system, head).paths


def _file_folder(d_sys: Mapping[str, Entry | None], d_ws: Mapping[str, Entry | None]) -> set[str]:
    """Paths added below what the other side has as a file."""
    clash = set()
    for mine, theirs in ((d_ws, d_sys), (d_sys, d_ws)):
        for path, entry in mine.items():
            if entry is None:
                continue
            parts = path.split("/")
            for i in range(1, len(parts)):
                if theirs.get("/".join(parts[:i])) is not None:
                    clash.add(path)
    return clash


def _merge_path(repo: Repo, path: str, base: Entry | None, ours: Entry | None, theirs: Entry | None,
                markers: bool) -> Entry | Conflict:
    """`ours` is the system's entry, `theirs` the workspace's; they differ."""
    if ours is None or theirs is None:
        return Conflict(path, "deleted in the system" if ours is None else "deleted in the workspace")
    kinds = {e.mode for e in (base, ours, theirs) if e is not None}
    if trees.GITLINK_MODE in kinds:
        return Conflict(path, "submodule")
    if trees.LINK_MODE in kinds:
        return Conflict(path, "symlink")
    mode = _merged_mode(base.mode if base else None, ours.mode, theirs.mode)
    if mode is None:
        return Conflict(path, "mode")
    if ours.oid == theirs.oid:
        return Entry(ours.oid, mode)
    if base is not None and base.oid == ours.oid:
        return Entry(theirs.oid, mode)
    if base is not None and base.oid == theirs.oid:
        return Entry(ours.oid, mode)
    blobs = [repo.blob(e.oid).data for e in (base, ours, theirs) if e is not None]
    if any(b"\0" in data[:BINARY_SNIFF] for data in blobs):
        return Conflict(path, "binary")
    clean, data = merge_file(repo, path, base, ours, theirs)
    if not clean:
        return Conflict(path, "content", hunks(data))
    return Entry(str(repo.git.create_blob(data)), mode)


def _merged_mode(base: int | None, ours: int, theirs: int) -> int | None:
    """git's rule: a side that changed the mode wins; both changing it differently conflicts."""
    if ours == theirs:
        return ours
    if base == ours:
        return theirs
    if base == theirs:
        return ours
    return None


def _marked(repo: Repo, path: str, base: Entry | None, ours: Entry | None, theirs: Entry | None) -> Entry:
    assert ours is not None and theirs is not None
    _, data = merge_file(repo, path, base, ours, theirs, diff3=True)
    return Entry(str(repo.git.create_blob(data)), theirs.mode)


def hunks(data: bytes) -> tuple[tuple[int, int], ...]:
    """The line ranges (first, last; first line 1) of each conflict, markers
    included, in a file merged with conflict markers."""
    found: list[tuple[int, int]] = []
    start = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.startswith(b"<" * MARKER) and not start:
            start = number
        elif line.startswith(b">" * MARKER) and start:
            found.append((start, number))
            start = 0
    return tuple(found)


def merge_file(repo: Repo, path: str, base: Entry | None, ours: Entry, theirs: Entry, *,
               diff3: bool = False) -> tuple[bool, bytes]:
    """libgit2's three-way merge of one file (git's xdiff merge at git's
    level, markers labelled `system` and `workspace`, and `base` with
    `diff3`): whether it merged cleanly, and the bytes (with markers when it
    did not). `diff3` only changes how a conflict is written: xdiff merges
    less eagerly in that style, so whether a file merges is always decided
    without it. pygit2's own wrapper decodes the result as UTF-8 and takes no
    options, so this calls libgit2 through pygit2's binding directly."""
    from pygit2.ffi import C, ffi

    keep = []

    def entry(e: Entry | None) -> object:
        if e is None:
            return ffi.NULL
        centry, name = pygit2.IndexEntry(path, pygit2.Oid(hex=e.oid), pygit2.enums.FileMode(e.mode))._to_c()
        keep.append(name)
        return centry

    options = ffi.new("git_merge_file_options *")
    options.version = 1
    options.flags = C.GIT_MERGE_FILE_STYLE_DIFF3 if diff3 else C.GIT_MERGE_FILE_DEFAULT
    options.marker_size = MARKER
    labels = [ffi.new("char[]", text) for text in (b"base", b"system", b"workspace")]
    options.ancestor_label, options.our_label, options.their_label = labels
    result = ffi.new("git_merge_file_result *")
    err = C.git_merge_file_from_index(result, repo.git._repo, entry(base), entry(ours), entry(theirs), options)
    pygit2.errors.check_error(err)
    try:
        return bool(result.automergeable), bytes(ffi.buffer(result.ptr, result.len))
    finally:
        C.git_merge_file_result_free(result)
