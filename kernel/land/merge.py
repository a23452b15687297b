"""Merging a workspace's change with the system's, as git merges them.

The three trees are walked together into the folders both sides changed
only (trees compared by id, so the cost follows what the two changes share).
When no path was changed differently on both sides, the workspace's change
applies as it is.
Otherwise git itself merges: `git merge-tree --write-tree` (git's merge-ort:
line-level merges, mode merges, renames followed) on two throwaway commits
holding the system's and the workspace's trees over the base, so a collapse
merges exactly when and exactly as `git merge` would. Where git is older
than 2.38 (no `merge-tree --write-tree`), each text file both sides changed
is merged with libgit2's three-way merge instead (git's xdiff merge; rare
edge cases at the ends of files may then differ from git's).

What does not merge is a conflict, labelled from git's own report:

- `content`: overlapping line changes (the hunks name the conflicting line
  ranges in the file as git writes it with conflict markers, first line 1);
- `binary`: a file git sees as binary;
- `mode`: a file added on both sides with different modes;
- `deleted in the system` / `deleted in the workspace`: one side deleted
  what the other changed;
- `symlink`, `submodule`: links git does not merge;
- `file/folder`: a file on one side where the other has files below it;
- any other kind git reports (`rename/delete`, …) by git's name for it.

Never writes a ref or a work tree; writes only objects (merged blobs and
trees, and the two throwaway commits git merges).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from kernel.base.policy import environ_for_git_child
from kernel.base.repo import Repo
from kernel.errors import JitosError
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


#: What `sws update` can leave in a workspace for a person to resolve: files
#: with conflict markers, which a collapse refuses while they hold them.
#: Anything else (a deletion against an edit, binary, file/folder, …) stops an
#: update, since nothing in the file would show that a decision is pending.
MARKABLE = frozenset({"content"})
#: A file a collapse refuses because it still holds the markers `sws update` wrote.
UNRESOLVED = "conflict markers from sws update"


@dataclass(frozen=True, slots=True)
class Merge:
    """The workspace's change as it applies onto the system: `changes` (path →
    entry, None deletes) to apply to the system's tree, the paths merged line
    by line, and the conflicts. With conflicts, `changes` is empty, unless
    `marked`: then it holds them written for a person to resolve (files with
    diff3-style conflict markers; the changed side of a deleted path)."""

    changes: Mapping[str, Entry | None]
    merged: tuple[str, ...]
    conflicts: tuple[Conflict, ...]
    marked: bool = False
    tree: str | None = None  # the system's tree with `changes` applied, when the merge already wrote it

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.conflicts]


def merge(repo: Repo, base: str, system: str, head: str, *, markers: bool = False) -> Merge:
    """Merge `head`'s change since `base` with `system`'s. With `markers`,
    conflicts of the `MARKABLE` kinds are written into `changes` (`marked`)."""
    b, s_tree, w_tree = repo.tree_of(base), repo.tree_of(system), repo.tree_of(head)
    both = trees.changed_on_both(repo.git, b, s_tree, w_tree)
    if not both:
        return Merge(trees.diff(repo.git, b, w_tree), (), ())
    by_git = _merge_tree(repo, b, s_tree, w_tree, markers)
    if by_git is None:
        return _merge_by_file(repo, b, trees.diff(repo.git, b, s_tree), trees.diff(repo.git, b, w_tree), markers)
    tree, found = by_git
    marked = bool(found) and markers and all(c.kind in MARKABLE for c in found)
    if found and not marked:
        return Merge({}, (), found)
    merged = tuple(sorted(both - {c.path for c in found}))
    return Merge(trees.diff(repo.git, s_tree, tree), merged, found, marked, tree)


def _merge_tree(repo: Repo, base_tree: str, system_tree: str, head_tree: str,
                markers: bool = False) -> tuple[str, tuple[Conflict, ...]] | None:
    """git's merge of the two trees over `base_tree`: the tree it wrote (files
    with conflict markers where it conflicted; diff3-style, labelled `system`,
    `base` and `workspace`, with `markers`) and the conflicts among the paths
    either side changed; None when this git has no `merge-tree --write-tree`."""
    parent = throwaway(repo, base_tree, None, "base")
    sides = {name: throwaway(repo, tree, parent, name) for name, tree in (("system", system_tree),
                                                                          ("workspace", head_tree))}
    style = ["-c", "merge.conflictStyle=diff3"] if markers else []
    # Run where `git merge` would run: in your checkout, whose .gitattributes
    # (merge drivers, marker sizes) git applies; never where jitos was started.
    where = ["-C", str(repo.workdir)] if repo.workdir else [f"--git-dir={repo.common_dir}", "-c", "core.bare=true"]
    done = subprocess.run(["git", *where, *style, "merge-tree", "--write-tree", "--name-only",
                           "--messages", "-z", sides["system"], sides["workspace"]],
                          capture_output=True, check=False, env=environ_for_git_child(), cwd=repo.common_dir)
    if done.returncode not in (0, 1):
        if b"--write-tree" in done.stderr or b"usage" in done.stderr:
            return None
        raise JitosError(f"git merge-tree failed: {done.stderr.decode(errors='replace').strip()}")
    fields = done.stdout.split(b"\0")
    tree = fields[0].decode()
    if done.returncode == 0:
        return tree, ()
    at = fields.index(b"", 1) + 1  # after the conflicted paths: the messages
    listed = [os.fsdecode(p) for p in fields[1:at - 1]]
    trees_of = [repo.tree(t) for t in (base_tree, system_tree, head_tree)]

    def changed(path: str) -> bool:  # not one of the names git gives what it moves aside (`d~side`)
        was, *sides = (trees.entry_at(t, path) for t in trees_of)
        return any(entry != was for entry in sides)

    kinds: dict[str, str] = {}
    while at < len(fields) - 1 and fields[at]:
        count = int(fields[at])
        paths = [os.fsdecode(p) for p in fields[at + 1:at + 1 + count]]
        kind, message = fields[at + 1 + count].decode(), fields[at + 2 + count].decode(errors="replace")
        at += count + 3
        if kind.startswith("CONFLICT ("):
            label = _label(kind.removeprefix("CONFLICT (").removesuffix(")"), message, sides)
            for path in paths:
                if changed(path) and kinds.get(path) != "binary":
                    kinds[path] = label
    if not kinds:  # git conflicted on paths none of its messages tie to a change: still a conflict
        kinds = dict.fromkeys(listed or ["(unknown path)"], "conflict")
    result = repo.tree(tree)
    found = []
    for path, kind in sorted(kinds.items()):
        entry = trees.entry_at(result, path)
        if kind == "content" and entry is not None and entry.mode in (trees.LINK_MODE, trees.GITLINK_MODE):
            kind = "symlink" if entry.mode == trees.LINK_MODE else "submodule"
        lines = hunks(repo.blob(entry.oid).data) if kind == "content" and entry is not None else ()
        if kind == "content" and not lines:
            kind = "mode"  # the texts merged; what git could not settle is the file mode (add/add)
        found.append(Conflict(path, kind, lines))
    if markers:
        tree = _relabelled(repo, tree, found, {parent: "base", **{v: k for k, v in sides.items()}})
    return tree, tuple(found)


def _relabelled(repo: Repo, tree: str, found: list[Conflict], names: Mapping[str, str]) -> str:
    """`tree` with the conflict markers of `found` naming `system`, `base` and
    `workspace` instead of the commits git merged (full or abbreviated ids)."""
    result = repo.tree(tree)
    changes: dict[str, Entry | None] = {}
    for conflict in found:
        entry = trees.entry_at(result, conflict.path)
        if conflict.kind != "content" or entry is None:
            continue
        lines = repo.blob(entry.oid).data.split(b"\n")
        for i, line in enumerate(lines):
            if line[:MARKER] in (b"<" * MARKER, b"|" * MARKER, b">" * MARKER) and line[MARKER:MARKER + 1] == b" ":
                ending = b"\r" if line.endswith(b"\r") else b""  # a CRLF file keeps its line ends
                label = line[MARKER + 1:len(line) - len(ending)].decode(errors="replace").split(":", 1)[0]
                name = next((n for oid, n in names.items() if len(label) >= 7 and oid.startswith(label)), None)
                if name is not None:
                    lines[i] = line[:MARKER + 1] + name.encode() + ending
        changes[conflict.path] = Entry(str(repo.git.create_blob(b"\n".join(lines))), entry.mode)
    return trees.apply(repo.git, tree, changes) if changes else tree


def throwaway(repo: Repo, tree: str, parent: str | None, label: str) -> str:
    """A commit holding `tree` (on `parent`), made only for git to merge or a
    queue to stack on; nothing points at it. Fixed identity and time, so the
    same trees give the same commit."""
    sig = pygit2.Signature("jitos", "jitos@localhost", 0, 0)
    parents = [pygit2.Oid(hex=parent)] if parent else []
    return str(repo.git.create_commit(None, sig, sig, label, pygit2.Oid(hex=tree), parents))


def _label(kind: str, message: str, sides: Mapping[str, str]) -> str:
    """jitos's name for a conflict git reports as `CONFLICT (kind)`."""
    if kind == "modify/delete":
        return "deleted in the system" if f"deleted in {sides['system']}" in message else "deleted in the workspace"
    return {"contents": "content", "file/directory": "file/folder", "distinct modes": "mode",
            "binary": "binary"}.get(kind, kind)


def _merge_by_file(repo: Repo, base_tree: str, d_sys: Mapping[str, Entry | None],
                   d_ws: Mapping[str, Entry | None], markers: bool = False) -> Merge:
    """The merge where git cannot do it: path by path, libgit2 for text files;
    with `markers`, conflicts written as git's merge-tree writes them."""
    base = repo.tree(base_tree)
    changes: dict[str, Entry | None] = dict(d_ws)
    merged: list[str] = []
    found: dict[str, Conflict] = {}
    for path in sorted(d_sys.keys() & d_ws.keys()):
        ours, theirs = d_sys[path], d_ws[path]
        if ours == theirs:
            continue
        outcome = _merge_path(repo, path, trees.entry_at(base, path), ours, theirs)
        if isinstance(outcome, Conflict):
            found[path] = outcome
            if outcome.kind == "content" and ours is not None and theirs is not None:
                _, data = merge_file(repo, path, trees.entry_at(base, path), ours, theirs, diff3=True)
                changes[path] = Entry(str(repo.git.create_blob(data)), theirs.mode)
            elif outcome.kind == "deleted in the workspace":
                changes[path] = ours  # the system's changed version stays, as git leaves it
        else:
            merged.append(path)
            changes[path] = outcome
    for path in _file_folder(d_sys, d_ws):
        found.setdefault(path, Conflict(path, "file/folder"))
    conflicts = tuple(found[p] for p in sorted(found))
    if conflicts and not (markers and all(c.kind in MARKABLE for c in conflicts)):
        return Merge({}, (), conflicts)
    return Merge(changes, tuple(merged), conflicts, bool(conflicts))


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


def _merge_path(repo: Repo, path: str, base: Entry | None, ours: Entry | None, theirs: Entry | None) -> Entry | Conflict:
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


def hunks(data: bytes) -> tuple[tuple[int, int], ...]:
    """The line ranges (first, last; first line 1) of each conflict, markers
    included, in a file merged with conflict markers."""
    found: list[tuple[int, int]] = []
    start = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
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
    did not). Whether a file merges is decided without `diff3` (xdiff merges
    less eagerly in that style). pygit2's own wrapper decodes the result as
    UTF-8 and takes no options, so this calls libgit2 through pygit2's
    binding directly."""
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
