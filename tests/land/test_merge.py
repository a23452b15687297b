"""Line-level merging in the collapse re-base agrees with git, and everything
it cannot merge is a labelled conflict with its lines (also where git is too
old to merge trees and libgit2 merges file by file)."""

import json
import subprocess
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitos_cli.main import main
from kernel.base.repo import open_repo
from kernel.land import merge as merging
from kernel.land.collapse import collapse
from kernel.land.gate import GatePolicy
from kernel.workspace import sws, trees
from tests import edits
from tests.conftest import commit_files, git

TWO_FUNCTIONS = """\
def first(x):
    value = x + 1
    return value


def middle():
    pass


def second(y):
    value = y * 2
    return value
"""


def _ungated(jrepo: Path) -> GatePolicy:
    return GatePolicy.from_options(open_repo(jrepo), no_gate=True, reason="merge test")


def _workspace_editing(jrepo: Path, old: str, new: str) -> str:
    jr = open_repo(jrepo)
    ws = sws.new(jr, "main")  # lib.py is on the branch; the collapse adopts it
    text = edits.read(ws, "lib.py")
    edits.write(ws, "lib.py", text.replace(old, new))
    sws.snapshot(jr, ws.id)
    return ws.id


@pytest.mark.parametrize("order", ["first, second", "second, first"])
def test_two_workspaces_editing_different_functions_of_one_file_both_land_as_git_merges_them(
        jrepo: Path, order: str) -> None:
    commit_files(jrepo, {"lib.py": TWO_FUNCTIONS}, "two functions")
    a = _workspace_editing(jrepo, "x + 1", "x + 100")
    b = _workspace_editing(jrepo, "y * 2", "y * 200")
    heads = {s.id: s.head for s in (sws.get(open_repo(jrepo), a), sws.get(open_repo(jrepo), b))}
    expected = git(jrepo, "merge-tree", "--write-tree", heads[a], heads[b]).splitlines()[0]
    for sid in ([a, b] if order == "first, second" else [b, a]):
        result = collapse(open_repo(jrepo), sid, _ungated(jrepo))
        assert result.committed, result
    assert result.merged == ("lib.py",) and result.rebased
    assert git(jrepo, "rev-parse", "main^{tree}") == expected
    assert "x + 100" in (jrepo / "lib.py").read_text() and "y * 200" in (jrepo / "lib.py").read_text()
    rebase = next(json.loads(git(jrepo, "show", f"{c}:event.json"))
                  for c in git(jrepo, "rev-list", "refs/jitos/history").split()
                  if json.loads(git(jrepo, "show", f"{c}:event.json"))["kind"] == "rebase")
    assert rebase["data"]["merged"] == ["lib.py"]


def test_a_true_conflict_exits_3_moves_nothing_and_names_its_lines(jrepo: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    commit_files(jrepo, {"lib.py": TWO_FUNCTIONS}, "two functions")
    a = _workspace_editing(jrepo, "x + 1", "x + 100")
    b = _workspace_editing(jrepo, "x + 1", "x - 1")
    assert collapse(open_repo(jrepo), a, _ungated(jrepo)).committed
    before = {ref: git(jrepo, "rev-parse", ref) for ref in ("main", "refs/jitos/system")}
    capsys.readouterr()
    assert main(["collapse", b, "--no-gate", "--json"]) == 3
    shown = json.loads(capsys.readouterr().out)
    assert shown["outcome"] == "conflict" and shown["conflicts"] == ["lib.py"]
    assert shown["conflict_details"] == [{"path": "lib.py", "kind": "content", "hunks": [[2, 6]]}]
    assert {ref: git(jrepo, "rev-parse", ref) for ref in before} == before
    assert main(["collapse", b, "--no-gate"]) == 3
    assert "lib.py (lines 2-6)" in capsys.readouterr().err
    event = json.loads(git(jrepo, "show", "refs/jitos/history:event.json"))
    assert event["kind"] == "conflict" and event["data"]["conflicts"][0]["hunks"] == [[2, 6]]


# -- what cannot be merged, labelled -----------------------------------------------


def _merge_tree(jrepo: Path, ours: str, theirs: str) -> tuple[str, int]:
    """`git merge-tree --write-tree`: its output and exit code (1: a conflict)."""
    done = subprocess.run(["git", "merge-tree", "--write-tree", ours, theirs], cwd=jrepo, capture_output=True,
                          text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout, done.returncode


def _commit(repo: pygit2.Repository, files: dict[str, tuple[bytes, int]], parent: str | None) -> str:
    """A commit holding exactly `files` (path → (content, mode)), nested folders included."""
    index = pygit2.Index()
    for path, (data, mode) in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode(mode)))
    tree = index.write_tree(repo)
    sig = pygit2.Signature("t", "t@example.com", 1700000000, 0)
    return str(repo.create_commit(None, sig, sig, "c", tree, [pygit2.Oid(hex=parent)] if parent else []))


B, X, L = trees.BLOB_MODE, trees.EXEC_MODE, trees.LINK_MODE


@pytest.mark.parametrize(("base", "system", "workspace", "kind"), [
    ({"f": (b"a\0b", B)}, {"f": (b"a\0c", B)}, {"f": (b"a\0d", B)}, "binary"),
    ({"f": (b"a\n", B)}, {}, {"f": (b"b\n", B)}, "deleted in the system"),
    ({"f": (b"a\n", B)}, {"f": (b"b\n", B)}, {}, "deleted in the workspace"),
    ({"f": (b"a", L)}, {"f": (b"b", L)}, {"f": (b"c", L)}, "symlink"),
    ({}, {"f": (b"one\n", B)}, {"f": (b"one\n", X)}, "mode"),
    ({}, {"d": (b"a file\n", B)}, {"d/x": (b"below\n", B)}, "file/folder"),
    ({}, {"f": (b"one\n", B)}, {"f": (b"two\n", B)}, "content"),
])
@pytest.mark.parametrize("merger", ["git merge-tree", "libgit2, where git is older than 2.38"])
def test_what_git_would_not_merge_is_a_labelled_conflict(jrepo: Path, base: dict[str, tuple[bytes, int]],
                                                         system: dict[str, tuple[bytes, int]],
                                                         workspace: dict[str, tuple[bytes, int]], kind: str,
                                                         merger: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if merger.startswith("libgit2"):
        monkeypatch.setattr(merging, "_merge_tree", lambda *args: None)
    jr = open_repo(jrepo)
    b = _commit(jr.git, base, None)
    s, w = _commit(jr.git, system, b), _commit(jr.git, workspace, b)
    found = merging.merge(jr, b, s, w)
    assert [c.kind for c in found.conflicts] == [kind], found
    assert not found.changes and not found.merged
    assert _merge_tree(jrepo, s, w)[1] == 1  # git: a conflict too


# -- agreement with git, generated ---------------------------------------------------

LINES = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", ""]), max_size=10)


@st.composite
def versions(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    """A base text and two edited versions: lines replaced, inserted and deleted
    near or far from each other, CRLF or LF, with or without a last newline."""
    base = draw(LINES)

    def edit(lines: list[str]) -> list[str]:
        out = list(lines)
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(["replace", "insert", "delete"]))
            at = draw(st.integers(0, len(out)))
            if op == "insert" or not out:
                out.insert(at, draw(st.sampled_from(["X", "Y", "Z", "a", ""])))
            elif op == "replace":
                out[min(at, len(out) - 1)] = draw(st.sampled_from(["X", "Y", "Z", "b"]))
            else:
                del out[min(at, len(out) - 1)]
        return out

    eol = draw(st.sampled_from(["\n", "\r\n"]))

    def text(lines: list[str]) -> bytes:
        body = eol.join(lines)
        return (body + (eol if lines and draw(st.booleans()) else "")).encode()

    return text(base), text(edit(base)), text(edit(base))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=versions())
def test_jitos_merges_exactly_when_git_merge_tree_does_and_to_the_same_tree(jrepo: Path,
                                                                             texts: tuple[bytes, bytes, bytes]) -> None:
    base, ours, theirs = texts
    jr = open_repo(jrepo)
    keep = {"keep.txt": (b"untouched\n", B)}
    b = _commit(jr.git, {**keep, "f.txt": (base, B)}, None)
    s = _commit(jr.git, {**keep, "f.txt": (ours, B)}, b)
    w = _commit(jr.git, {**keep, "f.txt": (theirs, B)}, b)
    tree, rc = _merge_tree(jrepo, s, w)
    found = merging.merge(jr, b, s, w)
    if rc == 0:
        assert not found.conflicts, (texts, found)
        assert trees.apply(jr.git, jr.tree_of(s), found.changes) == tree.splitlines()[0], texts
    else:
        assert found.paths == ["f.txt"], (texts, found)


def test_a_workspace_merge_result_is_what_jitos_lands_not_only_what_it_predicts(jrepo: Path) -> None:
    commit_files(jrepo, {"lib.py": TWO_FUNCTIONS}, "two functions")
    a = _workspace_editing(jrepo, "x + 1", "x + 100")
    commit_files(jrepo, {"lib.py": TWO_FUNCTIONS.replace("y * 2", "y * 3")}, "outside")
    from kernel.views import status

    prediction = status(open_repo(jrepo)).predictions[a]
    assert prediction.clean and prediction.rebase
    assert collapse(open_repo(jrepo), a, _ungated(jrepo)).committed
    text = (jrepo / "lib.py").read_text()
    assert "x + 100" in text and "y * 3" in text


def test_without_git_merge_tree_text_files_still_merge_line_by_line(jrepo: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merging, "_merge_tree", lambda *args: None)
    jr = open_repo(jrepo)
    b = _commit(jr.git, {"f": (TWO_FUNCTIONS.encode(), B)}, None)
    s = _commit(jr.git, {"f": (TWO_FUNCTIONS.replace("x + 1", "x + 2").encode(), B)}, b)
    w = _commit(jr.git, {"f": (TWO_FUNCTIONS.replace("y * 2", "y * 3").encode(), B)}, b)
    found = merging.merge(jr, b, s, w)
    assert found.merged == ("f",) and not found.conflicts
    assert trees.apply(jr.git, jr.tree_of(s), found.changes) == _merge_tree(jrepo, s, w)[0].splitlines()[0]


def test_a_file_the_system_renamed_and_the_workspace_edited_is_followed_as_git_follows_it(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    text = b"".join(b"line %d\n" % i for i in range(20))
    b = _commit(jr.git, {"old.txt": (text, B)}, None)
    s = _commit(jr.git, {"new.txt": (text, B)}, b)
    w = _commit(jr.git, {"old.txt": (text.replace(b"line 5\n", b"line five\n"), B)}, b)
    found = merging.merge(jr, b, s, w)
    assert not found.conflicts, found
    landed = trees.apply(jr.git, jr.tree_of(s), found.changes)
    assert landed == _merge_tree(jrepo, s, w)[0].splitlines()[0]
    assert b"line five" in jr.blob(trees.entry_at(jr.tree(landed), "new.txt").oid).data  # type: ignore[union-attr]
    assert trees.entry_at(jr.tree(landed), "old.txt") is None


def test_the_merge_does_not_depend_on_where_jitos_runs(jrepo: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    jr = open_repo(jrepo)
    b = _commit(jr.git, {"f": (b"a\nb\nc\n", B)}, None)
    s = _commit(jr.git, {"f": (b"a\nX\nc\n", B)}, b)
    w = _commit(jr.git, {"f": (b"a\nY\nc\n", B)}, b)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".gitattributes").write_text("* merge=union\n")  # would make it merge, if git read it
    monkeypatch.chdir(elsewhere)
    assert [c.kind for c in merging.merge(jr, b, s, w).conflicts] == ["content"]
