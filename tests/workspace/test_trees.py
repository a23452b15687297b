"""Tree arithmetic agrees with its plain definitions on generated trees:
`diff` with comparing every path, `changed_on_both` with intersecting two diffs."""

from pathlib import Path

import pygit2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.workspace import trees

NAMES = st.sampled_from(["a", "b", "a.txt", "a-b", "d/a", "d/b", "d/e/a", "d/e/f", "e", "e/x"])
CONTENT = st.sampled_from([b"1\n", b"2\n", b"3\n"])
MODE = st.sampled_from([trees.BLOB_MODE, trees.EXEC_MODE, trees.LINK_MODE])
FILES = st.dictionaries(NAMES, st.tuples(CONTENT, MODE), max_size=6)


def _tree(repo: pygit2.Repository, files: dict[str, tuple[bytes, int]]) -> str:
    """A tree of `files`, a name that is also a folder dropped (git cannot hold both)."""
    index = pygit2.Index()
    for path, (data, mode) in sorted(files.items()):
        if any(other.startswith(path + "/") for other in files) or any(
                "/".join(path.split("/")[:i]) in files for i in range(1, path.count("/") + 1)):
            continue
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode(mode)))
    return str(index.write_tree(repo))


def _leaves(repo: pygit2.Repository, tree: str) -> dict[str, trees.Entry]:
    out = {}
    index = pygit2.Index()
    index.read_tree(repo[tree])
    for entry in index:
        out[entry.path] = trees.Entry(str(entry.id), int(entry.mode))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=FILES, ours=FILES, theirs=FILES)
def test_diff_and_changed_on_both_agree_with_their_definitions(tmp_path: Path, base: dict[str, tuple[bytes, int]],
                                                               ours: dict[str, tuple[bytes, int]],
                                                               theirs: dict[str, tuple[bytes, int]]) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    b, o, t = (_tree(repo, files) for files in (base, ours, theirs))
    leaves = {name: _leaves(repo, tree) for name, tree in (("b", b), ("o", o), ("t", t))}
    for x, y in (("b", "o"), ("b", "t"), ("o", "t")):
        want = {p: leaves[y].get(p) for p in leaves[x].keys() | leaves[y].keys() if leaves[x].get(p) != leaves[y].get(p)}
        got = trees.diff(repo, {"b": b, "o": o, "t": t}[x], {"b": b, "o": o, "t": t}[y])
        assert got == want
    d_o, d_t = trees.diff(repo, b, o), trees.diff(repo, b, t)
    # a path both changed differently: a leaf both diffs name with different
    # results, or one side's leaf where the other has files below it (or above)
    clash = {p for p in d_o.keys() & d_t.keys() if d_o[p] != d_t[p]}
    found = trees.changed_on_both(repo, b, o, t)
    for path in clash:  # named, or the name above it that is a file on one side and a folder on the other
        assert path in found or any(path.startswith(f + "/") for f in found), (path, found)
    for path in found - clash:  # a file on one side, a folder on the other: both changed at or below it
        assert any(p == path or p.startswith(path + "/") for p in d_o), (path, d_o)
        assert any(p == path or p.startswith(path + "/") for p in d_t), (path, d_t)
