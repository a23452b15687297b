"""`jitos sws update`: a workspace brought onto the current system in place;
conflicts written into it for a person to resolve, and never lost."""

import json
from pathlib import Path

import pytest

from jitos_cli.main import main
from kernel.base.repo import open_repo
from kernel.record import state
from kernel.views import why
from kernel.workspace import sws
from tests import edits
from tests.conftest import commit_files, git
from tests.land.test_merge import TWO_FUNCTIONS


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> dict[str, object]:
    capsys.readouterr()
    assert main([*argv, "--json"]) == code
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _workspace(jrepo: Path, old: str, new: str) -> sws.Workspace:
    """A workspace from the branch with one edit to lib.py, snapshotted."""
    jr = open_repo(jrepo)
    ws = sws.new(jr, "main")
    edits.write(ws, "lib.py", edits.read(ws, "lib.py").replace(old, new))
    sws.snapshot(jr, ws.id)
    return ws


@pytest.fixture
def lib(jrepo: Path) -> Path:
    commit_files(jrepo, {"lib.py": TWO_FUNCTIONS}, "two functions")
    return jrepo


def test_an_update_merges_the_branch_into_the_workspace_in_place(lib: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(lib, "x + 1", "x + 100")
    commit_files(lib, {"lib.py": TWO_FUNCTIONS.replace("y * 2", "y * 3")}, "the branch moves")
    shown = _json(capsys, "sws", "update", ws.id)
    assert shown["outcome"] == "updated" and shown["merged"] == ["lib.py"] and shown["conflicts"] == []
    text = edits.read(ws, "lib.py")
    assert "x + 100" in text and "y * 3" in text
    now = state.load(open_repo(lib))
    assert now.sws[ws.id].base == now.system == git(lib, "rev-parse", "main")
    assert _json(capsys, "sws", "update", ws.id)["outcome"] == "current"
    assert main(["collapse", ws.id, "--no-gate"]) == 0
    assert "x + 100" in (lib / "lib.py").read_text() and "y * 3" in (lib / "lib.py").read_text()


def test_a_conflict_is_written_for_a_person_and_collapse_waits_until_it_is_resolved(
        lib: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(lib, "x + 1", "x + 100")
    before = sws.get(open_repo(lib), ws.id).head
    commit_files(lib, {"lib.py": TWO_FUNCTIONS.replace("x + 1", "x - 1")}, "the branch moves")
    shown = _json(capsys, "sws", "update", ws.id, code=3)
    assert shown["outcome"] == "conflict" and shown["conflicts"] == ["lib.py"]
    assert shown["conflict_details"] == [{"path": "lib.py", "kind": "content", "hunks": [[2, 8]]}]
    text = edits.read(ws, "lib.py")
    assert text.splitlines()[1:8] == ["<<<<<<< system", "    value = x - 1", "||||||| base", "    value = x + 1",
                                      "=======", "    value = x + 100", ">>>>>>> workspace"], text
    # The workspace's own version is never lost: it is the re-base commit's parent.
    head = sws.get(open_repo(lib), ws.id).head
    assert git(lib, "rev-parse", f"{head}^") == before
    assert "x + 100" in git(lib, "show", f"{before}:lib.py")
    # status and why say so; a collapse refuses, changing nothing.
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "conflict markers to resolve in 1 file(s): lib.py" in capsys.readouterr().out
    assert "path(s) to resolve" in why(open_repo(lib), ws.id).answer
    main_before = git(lib, "rev-parse", "main")
    assert main(["collapse", ws.id, "--no-gate"]) == 3
    assert "still hold the conflict markers" in capsys.readouterr().err
    assert git(lib, "rev-parse", "main") == main_before
    # Resolved and snapshotted: it lands.
    edits.write(ws, "lib.py", TWO_FUNCTIONS.replace("x + 1", "x - 100"))
    assert main(["sws", "snapshot", ws.id]) == 0
    assert main(["collapse", ws.id, "--no-gate"]) == 0
    assert "x - 100" in (lib / "lib.py").read_text()


def test_a_conflict_that_cannot_be_written_in_place_changes_nothing(jrepo: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    commit_files(jrepo, {"data.bin": "a\0b"}, "binary")
    jr = open_repo(jrepo)
    ws = sws.new(jr, "main")
    edits.edit(ws, "printf 'a\\000c' > data.bin")
    sws.snapshot(jr, ws.id)
    commit_files(jrepo, {"data.bin": "a\0d"}, "the branch moves")
    head = sws.get(open_repo(jrepo), ws.id).head
    shown = _json(capsys, "sws", "update", ws.id, code=3)
    assert shown["outcome"] == "refused"
    assert shown["conflict_details"] == [{"path": "data.bin", "kind": "binary", "hunks": []}]
    assert sws.get(open_repo(jrepo), ws.id).head == head
    assert edits.read(ws, "data.bin") == "a\0c"


def test_killed_before_its_conflict_event_the_markers_still_block_a_collapse(
        lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _workspace(lib, "x + 1", "x + 100")
    commit_files(lib, {"lib.py": TWO_FUNCTIONS.replace("x + 1", "x - 1")}, "the branch moves")
    real = state.Ledger.record

    def dies_at_the_conflict_event(self: state.Ledger, kind: str, *args: object, **kwargs: object) -> object:
        if kind == "conflict":
            raise KeyboardInterrupt  # the process dies right after the rebase event
        return real(self, kind, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(state.Ledger, "record", dies_at_the_conflict_event)
        with pytest.raises(KeyboardInterrupt):
            from kernel.land.update import update

            update(open_repo(lib), ws.id)
    assert "<<<<<<< system" in edits.read(ws, "lib.py")
    assert state.load(open_repo(lib)).sws[ws.id].unresolved == ("lib.py",)
    assert main(["collapse", ws.id, "--no-gate"]) == 3


def test_a_later_update_keeps_the_markers_an_earlier_one_left_unresolved(
        lib: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _workspace(lib, "x + 1", "x + 100")
    commit_files(lib, {"lib.py": TWO_FUNCTIONS.replace("x + 1", "x - 1")}, "the branch moves")
    assert _json(capsys, "sws", "update", ws.id, code=3)["outcome"] == "conflict"
    assert _json(capsys, "sws", "update", ws.id, code=3)["conflicts"] == ["lib.py"]  # still to resolve
    commit_files(lib, {"other.txt": "unrelated\n"}, "the branch moves on")
    again = _json(capsys, "sws", "update", ws.id, code=3)
    assert again["conflicts"] == ["lib.py"] and "other.txt" in edits.files(ws)
    assert main(["collapse", ws.id, "--no-gate"]) == 3
    assert "<<<<<<<" not in git(lib, "show", "main:lib.py")


def test_markers_in_a_crlf_file_are_named_and_block_a_collapse(jrepo: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    crlf = TWO_FUNCTIONS.replace("\n", "\r\n")
    (jrepo / "lib.py").write_bytes(crlf.encode())
    git(jrepo, "add", "lib.py")
    git(jrepo, "commit", "-qm", "crlf")
    jr = open_repo(jrepo)
    ws = sws.new(jr, "main")
    edits.edit(ws, "sed -i 's/x + 1/x + 100/' lib.py")  # in place: the CRLF line ends stay
    sws.snapshot(jr, ws.id)
    (jrepo / "lib.py").write_bytes(crlf.replace("x + 1", "x - 1").encode())
    git(jrepo, "commit", "-qam", "the branch moves")
    assert _json(capsys, "sws", "update", ws.id, code=3)["outcome"] == "conflict"
    data = subprocess.run(["git", "show", f"refs/jitos/sws/{ws.id}:lib.py"], cwd=jrepo, capture_output=True,
                          check=True).stdout
    lines = data.split(b"\n")
    assert b"<<<<<<< system\r" in lines and b">>>>>>> workspace\r" in lines, lines
    assert main(["collapse", ws.id, "--no-gate"]) == 3


def test_a_deletion_against_an_edit_is_not_written_in_place(jrepo: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    commit_files(jrepo, {"gone.txt": "soon deleted\n"}, "a file")
    jr = open_repo(jrepo)
    ws = sws.new(jr, "main")
    edits.write(ws, "gone.txt", "edited in the workspace\n")
    sws.snapshot(jr, ws.id)
    git(jrepo, "rm", "-q", "gone.txt")
    git(jrepo, "commit", "-qm", "the branch deletes it")
    head = sws.get(open_repo(jrepo), ws.id).head
    shown = _json(capsys, "sws", "update", ws.id, code=3)
    assert shown["outcome"] == "refused"
    assert shown["conflict_details"] == [{"path": "gone.txt", "kind": "deleted in the system", "hunks": []}]
    assert sws.get(open_repo(jrepo), ws.id).head == head
