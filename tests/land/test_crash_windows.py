"""Crash windows, filters and checkout safety found in review: each a real repository."""

import os
import time
from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.errors import BadInput
from kernel.land import collapse as collapse_mod
from kernel.land.collapse import collapse
from kernel.record import history
from kernel.verify import verify
from kernel.workspace import sws
from kernel.workspace.backend import for_repo
from tests import edits
from tests.conftest import commit_files, git, jitos
from tests.land.test_collapse import PASS, policy, workspace


def test_untracked_file_where_a_new_folder_goes_is_never_deleted(jrepo: Path) -> None:
    sid = workspace(jrepo, {"newdir/x.txt": "x\n"})
    (jrepo / "newdir").write_text("my notes\n")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "checkout-dirty" and result.conflicts == ("newdir",)
    assert (jrepo / "newdir").read_text() == "my notes\n"


def test_untracked_folder_where_a_new_file_goes_is_never_deleted(jrepo: Path) -> None:
    sid = workspace(jrepo, {"notes": "from workspace\n"})
    (jrepo / "notes").mkdir()
    (jrepo / "notes" / "mine.txt").write_text("keep\n")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "checkout-dirty" and result.conflicts == ("notes/mine.txt",)
    assert (jrepo / "notes" / "mine.txt").read_text() == "keep\n"


def test_checkout_update_cut_short_is_finished_by_the_next_command(jrepo: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sid = workspace(jrepo, {"README.md": "landed\n"})

    def crash(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # as if killed right after the refs moved

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(collapse_mod, "write_paths", crash)
        collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert git(jrepo, "show", "main:README.md") == "landed"
    sws.new(open_repo(jrepo))  # any recording command finishes the update first
    assert (jrepo / "README.md").read_text() == "landed\n"
    assert git(jrepo, "status", "--porcelain") == ""


@pytest.mark.parametrize("command", [["status"], ["verify"], ["log"], ["sws", "list"]])
def test_a_read_only_command_finishes_a_checkout_update_a_crash_left(jrepo: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     command: list[str]) -> None:
    sid = workspace(jrepo, {"README.md": "landed\n"})
    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(collapse_mod, "write_paths", _killed)
        collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert git(jrepo, "status", "--porcelain") != ""  # as a killed collapse leaves it
    assert any("left your checkout behind" in p for p in verify(open_repo(jrepo)).problems)
    done = jitos(*command)
    assert "finished updating your checkout" in done.stderr
    assert git(jrepo, "status", "--porcelain") == "" and (jrepo / "README.md").read_text() == "landed\n"
    assert verify(open_repo(jrepo)).ok


def _killed(*_: object) -> None:
    raise KeyboardInterrupt  # as if killed right after the refs moved


def test_a_stale_git_lock_on_the_history_ref_is_reported_and_cleared(jrepo: Path) -> None:
    lock = jrepo / ".git" / "refs" / "jitos" / "history.lock"
    lock.write_text("0" * 40 + "\n")
    old = time.time() - 60
    os.utime(lock, (old, old))
    sws.new(open_repo(jrepo))
    assert not lock.exists() and verify(open_repo(jrepo)).ok


def test_any_command_clears_a_stale_lock_on_a_jitos_ref_so_verify_is_green(jrepo: Path) -> None:
    lock = jrepo / ".git" / "refs" / "jitos" / "history.lock"
    lock.write_text("0" * 40 + "\n")
    old = time.time() - 60
    os.utime(lock, (old, old))
    assert jitos("verify").returncode == 0  # cleared before verify looked
    assert not lock.exists()


def test_overlay_mirror_file_is_not_the_truth(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edits.write(ws, "a.txt", "a\n")
    sws.snapshot(jr, ws.id)
    mirror = jr.overlays_dir / ws.id / "manifest.json"
    mirror.write_text("{}\n")
    assert verify(jr).ok
    edits.write(ws, "b.txt", "b\n")
    sws.snapshot(jr, ws.id)
    assert '"a.txt"' in mirror.read_text() and '"b.txt"' in mirror.read_text()


def test_rebase_cut_short_never_turns_system_changes_into_workspace_edits(jrepo: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sid = workspace(jrepo, {"README.md": "mine\n"})
    commit_files(jrepo, {"src/app.py": "theirs 1\n"}, "outside")

    def crash(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # killed after the rebase event, before its files

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(type(for_repo(open_repo(jrepo))), "move_to", crash)
        collapse(open_repo(jrepo), sid, policy(jrepo, gate="false"))
    commit_files(jrepo, {"src/app.py": "theirs 2\n"}, "outside again")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.committed, result.conflicts
    assert git(jrepo, "show", "main:src/app.py") == "theirs 2"
    kinds = [(r.event.kind, r.event.data.get("paths")) for r in history.events(open_repo(jrepo))]
    assert ("snapshot", ["src/app.py"]) not in kinds


def test_crlf_attributes_are_applied_when_recording_and_comparing(make_repo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kernel.record.initialise import init

    path = make_repo(files={".gitattributes": "*.txt text eol=crlf\n", "a.txt": "one\n"})
    monkeypatch.chdir(path)
    init(open_repo(path))
    sid = workspace(path, {"a.txt": "one\r\ntwo\r\n"})
    blob = git(path, "rev-parse", f"refs/jitos/sws/{sid}:a.txt")
    assert "\r" not in git(path, "cat-file", "-p", blob)
    assert collapse(open_repo(path), sid, policy(path, gate=PASS)).committed


def test_folder_replaced_by_a_file_can_be_recorded_and_landed(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edits.edit(ws, "rm src/app.py && rmdir src && echo 'now a file' > src")
    snap = sws.snapshot(jr, ws.id)
    assert set(snap.changed) == {"src", "src/app.py"}
    assert collapse(open_repo(jrepo), ws.id, policy(jrepo, gate=PASS)).committed
    assert (jrepo / "src").read_text() == "now a file\n"


@pytest.mark.parametrize("value", ["-5", "1700000000000", "99999999999999999999"])
def test_out_of_range_source_date_epoch_is_bad_input(jrepo: Path, monkeypatch: pytest.MonkeyPatch,
                                                     value: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(BadInput, match="out of range"):
        sws.new(open_repo(jrepo))


def test_a_rewritten_branch_keeps_the_old_system_reachable(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "landed\n"})
    landed = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS)).system
    git(jrepo, "reset", "-q", "--hard", "HEAD~1")
    commit_files(jrepo, {"other.txt": "o\n"}, "rewritten")
    sid2 = workspace(jrepo, {"b.txt": "b\n"})
    assert collapse(open_repo(jrepo), sid2, policy(jrepo, gate=PASS)).committed
    kept = [line.split()[0] for line in git(jrepo, "for-each-ref", "--format=%(objectname) %(refname)",
                                             "refs/jitos/kept/").splitlines()]
    assert kept == [landed]
    git(jrepo, "reflog", "expire", "--expire-unreachable=now", "--all")
    git(jrepo, "gc", "-q", "--prune=now")
    assert git(jrepo, "cat-file", "-t", landed) == "commit"
    assert verify(open_repo(jrepo)).ok


def test_include_never_copies_tracked_files(make_repo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kernel.record.initialise import init

    path = make_repo(files={".gitignore": ".env\n", "a.txt": "committed\n",
                            ".jitos/config.toml": '[sws]\ninclude = ["*.txt", ".env"]\n'})
    monkeypatch.chdir(path)
    init(open_repo(path))
    (path / "a.txt").write_text("uncommitted hack\n")
    (path / ".env").write_text("S=1\n")
    ws = sws.new(open_repo(path))
    assert edits.read(ws, "a.txt") == "committed\n" and edits.read(ws, ".env") == "S=1\n"


def test_collapse_commit_id_does_not_depend_on_gate_output(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "x\n"})
    collapse(open_repo(jrepo), sid, policy(jrepo, gate="sh -c 'date +%N'"))
    assert git(jrepo, "log", "-1", "--format=%(trailers:key=Jitos-Gate,valueonly)") == "sh -c 'date +%N' passed"


def test_submodules_are_kept_and_follow_a_rebase(make_repo, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kernel.record.initialise import init

    lib = make_repo(files={"lib.txt": "v1\n"}, name="lib")
    path = make_repo(name="app")
    git(path, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "sub")
    git(path, "commit", "-qm", "add sub")
    monkeypatch.chdir(path)
    init(open_repo(path))
    first = git(path, "rev-parse", "HEAD:sub")
    sid = workspace(path, {"README.md": "edited\n"})
    assert git(path, "rev-parse", f"refs/jitos/sws/{sid}:sub") == first  # not recorded as deleted
    v2 = commit_files(lib, {"lib.txt": "v2\n"}, "v2")
    git(path / "sub", "-c", "protocol.file.allow=always", "fetch", "-q")
    git(path / "sub", "checkout", "-q", v2)
    git(path, "commit", "-qam", "bump sub")
    result = collapse(open_repo(path), sid, policy(path, gate=PASS))
    assert result.committed and result.rebased
    assert git(path, "rev-parse", "main:sub") == v2
    # a workspace that moves the submodule itself lands over a checkout that has it checked out
    jr = open_repo(path)
    ws = sws.new(jr)
    edits.edit(ws, 'git -c protocol.file.allow=always submodule update -q --init && git -C sub checkout -q "$1"', first)
    sws.snapshot(jr, ws.id)
    moved = collapse(open_repo(path), ws.id, policy(path, gate=PASS))
    assert moved.committed, moved.conflicts
    assert git(path, "rev-parse", "main:sub") == first


def _stale(lock: Path) -> None:
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))


def test_a_stale_index_lock_in_a_workspace_is_a_clear_error_before_anything_runs(
        jrepo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")
    ws = sws.new(open_repo(jrepo))
    lock = Path(git(ws.path, "rev-parse", "--absolute-git-dir")) / "index.lock"
    _stale(lock)
    events = len(history.events(open_repo(jrepo)))
    done = jitos("sws", "run", ws.id, "--", "sh", "-c", "echo x > ran", check=2)
    assert f"rm {lock}" in done.stderr and "internal error" not in done.stderr
    assert not (ws.path / "ran").exists() and len(history.events(open_repo(jrepo))) == events
    lock.unlink()
    jitos("sws", "run", ws.id, "--", "sh", "-c", "echo x > ran")
    assert edits.read(ws, "ran") == "x\n"


def test_a_stale_index_lock_in_the_checkout_is_a_clear_error_and_nothing_moves(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "landed\n"})
    lock = jrepo / ".git" / "index.lock"
    _stale(lock)
    main = git(jrepo, "rev-parse", "main")
    done = jitos("collapse", sid, "--gate", PASS, check=2)
    assert f"rm {lock}" in done.stderr and git(jrepo, "rev-parse", "main") == main


def test_a_stale_index_lock_in_an_overlay_workspace_is_a_clear_error(jrepo: Path) -> None:
    from kernel.base import sandbox
    from kernel.workspace.overlayfs import admin

    if not sandbox.support().available:
        pytest.skip(f"no namespaces here: {sandbox.support().reason}")
    ws = sws.new(open_repo(jrepo))
    jitos("sws", "run", ws.id, "--", "sh", "-c", "echo x > one")  # recorded: the index waits for the next view
    lock = admin(open_repo(jrepo), ws.path) / "index.lock"
    _stale(lock)
    events = len(history.events(open_repo(jrepo)))
    done = jitos("sws", "run", ws.id, "--", "sh", "-c", "echo y > two", check=2)
    assert f"rm {lock}" in done.stderr and len(history.events(open_repo(jrepo))) == events
    lock.unlink()
    assert not edits.exists(ws, "two")


@pytest.mark.parametrize("planted", [b"{}", b"not json", b'{"moves": [{"name": 1}], "message": "x"}'])
def test_a_ref_journal_that_is_not_one_is_refused_not_a_crash(jrepo: Path, planted: bytes) -> None:
    (jrepo / ".git" / "jitos" / "refs-journal.json").write_bytes(planted)
    jitos("status")  # before: internal error (KeyError) from every command
    problems = verify(open_repo(jrepo)).problems
    assert any("ref journal jitos did not write was refused" in p for p in problems)
