import json
from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.errors import BadInput, NotFound
from kernel.record import history, refs, state
from kernel.record.initialise import init
from kernel.verify import verify
from kernel.workspace import checkout, sws
from kernel.workspace.backend import for_path
from tests.conftest import commit_files, git
from tests.edits import edit, files, output, read, remove, write


def events(repo: Path) -> list[str]:
    return [r.event.kind for r in history.events(open_repo(repo))]


def test_new_workspace_is_a_worktree_at_the_system_with_a_ref(jrepo: Path, backend_kind: str) -> None:
    ws = sws.new(open_repo(jrepo), name="fix")
    assert ws.id == "s1" and ws.name == "fix"
    assert read(ws, "src/app.py") == "print('hi')\n"
    assert output(ws, "git", "rev-parse", "HEAD") == git(jrepo, "rev-parse", "HEAD")
    assert refs.read(open_repo(jrepo), "refs/jitos/sws/s1") == ws.base
    assert events(jrepo) == ["init", "sws-new"]


def test_workspace_ids_are_derived_from_history(jrepo: Path) -> None:
    ids = [sws.new(open_repo(jrepo)).id for _ in range(3)]
    assert ids == ["s1", "s2", "s3"]


def test_new_from_a_revision(jrepo: Path) -> None:
    first = git(jrepo, "rev-parse", "HEAD")
    commit_files(jrepo, {"x.txt": "x\n"})
    ws = sws.new(open_repo(jrepo), from_rev=first[:10])
    assert ws.base == first


@pytest.mark.parametrize("rev", ["nope", "-rf", "--help", "HEAD~99"])
def test_new_from_a_bad_revision_is_refused_without_an_event(jrepo: Path, rev: str) -> None:
    with pytest.raises(BadInput):
        sws.new(open_repo(jrepo), from_rev=rev)
    assert events(jrepo) == ["init"]


@pytest.mark.parametrize("name", ["../x", "a..b", "x@{1}", "-rf", "has space", "x" * 300, "s12", "t3", "a.lock", "",
                                  "abc\n", "s1\n"])
def test_unsafe_names_are_refused_without_an_event(jrepo: Path, name: str) -> None:
    with pytest.raises(BadInput, match="invalid workspace name"):
        sws.new(open_repo(jrepo), name=name)
    assert events(jrepo) == ["init"]


def test_unknown_id_is_named(jrepo: Path) -> None:
    with pytest.raises(NotFound, match="no workspace 's7'"):
        sws.snapshot(open_repo(jrepo), "s7")


def test_snapshot_records_changes_as_a_commit_and_an_overlay(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    write(ws, "src/app.py", "print('fixed')\n")
    write(ws, "new.txt", "new\n")
    remove(ws, "README.md")
    snap = sws.snapshot(jr, ws.id, "my edit")
    assert snap.changed == ("README.md", "new.txt", "src/app.py")
    assert git(jrepo, "show", f"{snap.head}:src/app.py") == "print('fixed')"
    assert git(jrepo, "log", "-1", "--format=%s", snap.head) == "my edit"
    manifest = (jr.overlays_dir / ws.id / "manifest.json").read_text()
    assert '"README.md":{"whiteout":true}' in manifest
    assert jr.store.get(__import__("json").loads(manifest)["entries"]["new.txt"]["digest"]) == b"new\n"
    edit(ws, 'test -z "$(git status --porcelain)"')


def test_snapshot_with_no_change_records_nothing(jrepo: Path, backend_kind: str) -> None:
    ws = sws.new(open_repo(jrepo))
    assert sws.snapshot(open_repo(jrepo), ws.id).event is None
    assert events(jrepo) == ["init", "sws-new"]


def test_second_snapshot_records_only_new_edits(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    write(ws, "a.txt", "1\n")
    first = sws.snapshot(jr, ws.id)
    write(ws, "b.txt", "2\n")
    second = sws.snapshot(jr, ws.id)
    assert second.changed == ("b.txt",)
    assert git(jrepo, "rev-parse", f"{second.head}^") == first.head


def test_executable_bit_and_symlink_are_recorded_not_followed(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, "chmod 755 src/app.py && ln -s /etc/passwd outside")
    snap = sws.snapshot(jr, ws.id)
    tree = git(jrepo, "ls-tree", "-r", snap.head)
    assert "100755 blob" in next(l for l in tree.splitlines() if l.endswith("src/app.py"))
    link_line = next(l for l in tree.splitlines() if l.endswith("outside"))
    assert link_line.startswith("120000 blob")
    assert git(jrepo, "cat-file", "-p", link_line.split()[2]) == "/etc/passwd"


def test_file_replaced_by_folder_is_recorded(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, "rm README.md && mkdir README.md && echo inside > README.md/index.md")
    snap = sws.snapshot(jr, ws.id)
    assert git(jrepo, "show", f"{snap.head}:README.md/index.md") == "inside"
    assert verify(jr).ok


def test_non_utf8_file_name_is_refused_without_an_event(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, "printf x > \"$(printf 'bad\\377name')\"")
    with pytest.raises(BadInput, match="not valid UTF-8"):
        sws.snapshot(jr, ws.id)
    assert events(jrepo) == ["init", "sws-new"]


def test_workspace_never_touches_system_checkout_or_status(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    system = refs.read(jr, history.SYSTEM_REF)
    branch = git(jrepo, "rev-parse", "main")
    ws = sws.new(jr)
    write(ws, "README.md", "changed\n")
    sws.snapshot(jr, ws.id)
    sws.run(jr, ws.id, ["sh", "-c", "echo more > more.txt"])
    assert refs.read(jr, history.SYSTEM_REF) == system
    assert git(jrepo, "rev-parse", "main") == branch
    assert (jrepo / "README.md").read_text() == "hello\n"
    assert git(jrepo, "status", "--porcelain", "--ignored") == ""


def test_run_records_exit_code_output_and_edits_in_one_event(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    result = sws.run(jr, ws.id, ["sh", "-c", "echo out; echo err >&2; echo x > made.txt; exit 5"])
    assert result.exit_code == 5
    assert jr.store.get(result.stdout) == b"out\n" and jr.store.get(result.stderr) == b"err\n"
    assert result.snapshot.changed == ("made.txt",)
    last = history.events(jr)[-1].event
    assert last.kind == "run" and last.data["exit"] == 5 and last.data["argv"][0] == "sh"


def test_run_never_uses_a_shell_for_its_arguments(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    result = sws.run(jr, ws.id, ["echo", "$(touch pwned); rm -rf x"])
    assert jr.store.get(result.stdout) == b"$(touch pwned); rm -rf x\n"
    assert sws.snapshot(jr, ws.id).changed == ()  # nothing made a file called pwned


def test_run_of_a_missing_program_is_bad_input(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    with pytest.raises(BadInput, match="command not found"):
        sws.run(jr, ws.id, ["no-such-program-xyz"])
    assert events(jrepo) == ["init", "sws-new"]


def test_include_copies_ignored_files_into_new_workspaces(repo: Path) -> None:
    commit_files(repo, {".gitignore": ".env\n"}, "ignore")
    init(open_repo(repo))
    jrepo = repo
    (jrepo / ".env").write_text("SECRET=1\n")
    (jrepo / ".jitos").mkdir()
    (jrepo / ".jitos" / "config.toml").write_text('[sws]\ninclude = [".env"]\n')
    ws = sws.new(open_repo(jrepo))
    assert read(ws, ".env") == "SECRET=1\n"
    assert sws.snapshot(open_repo(jrepo), ws.id).event is None  # ignored, so never recorded


def test_discard_refuses_unrecorded_edits_without_force(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    write(ws, "README.md", "precious\n")
    with pytest.raises(BadInput, match="unrecorded edits"):
        sws.discard(jr, ws.id)
    assert ws.path.is_dir() and read(ws, "README.md") == "precious\n"
    assert events(jrepo) == ["init", "sws-new"]


def test_discard_with_force_records_edits_first_and_keeps_them_reachable(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    write(ws, "README.md", "precious\n")
    result = sws.discard(jr, ws.id, reason="wrong idea", force=True)
    assert events(jrepo)[-2:] == ["snapshot", "sws-discard"]
    assert not ws.path.exists()
    assert git(jrepo, "show", "refs/jitos/sws/s1:README.md") == "precious"
    assert result.head == git(jrepo, "rev-parse", "refs/jitos/sws/s1")
    assert state.load(jr).sws["s1"].state == "discarded"
    assert verify(jr).ok


def test_discarded_workspace_cannot_change(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    sws.discard(jr, ws.id)
    with pytest.raises(BadInput, match="discarded"):
        sws.snapshot(jr, ws.id)


def test_diff_shows_recorded_and_unrecorded_edits_against_base(jrepo: Path, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    write(ws, "README.md", "hello\nworld\n")
    sws.snapshot(jr, ws.id)
    write(ws, "x.txt", "x\n")
    result = sws.diff(jr, ws.id)
    assert [f[0] for f in result.files] == ["README.md", "x.txt"]
    assert result.unrecorded == ("x.txt",)
    assert "+world" in result.patch


def test_diff_writes_nothing_while_a_recorded_rebase_still_has_files_to_rewrite(
        jrepo: Path, monkeypatch: pytest.MonkeyPatch, backend_kind: str) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    write(ws, "README.md", "mine\n")
    sws.snapshot(jr, ws.id)
    onto = commit_files(jrepo, {"src/app.py": "theirs\n"}, "outside")

    def crash(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # killed after the rebase event, before its files

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt), checkout.ledger(jr) as ledger:
        patched.setattr(type(for_path(jr, ws.path)), "move_to", crash)
        sws.rebase(jr, ledger, ledger.state.sws[ws.id], onto)
    write(ws, "new.txt", "new\n")
    folder = files(ws)
    head, history_head = output(ws, "git", "rev-parse", "HEAD"), history.head(jr)

    result = sws.diff(jr, ws.id)

    assert [f[0] for f in result.files] == ["README.md", "new.txt"]
    assert result.unrecorded == ("new.txt",)  # the system's change is not shown as a workspace edit
    assert files(ws) == folder and "src/app.py" in folder
    assert read(ws, "src/app.py") == "print('hi')\n"
    assert output(ws, "git", "rev-parse", "HEAD") == head and history.head(jr) == history_head
    sws.snapshot(jr, ws.id)  # a command that records finishes the re-base's files first
    assert read(ws, "src/app.py") == "theirs\n"


def test_a_large_trash_is_deleted_after_the_command_by_a_detached_process(jrepo: Path) -> None:
    import time

    from kernel.workspace import trash

    jr = open_repo(jrepo)
    big = jrepo / "big"
    for i in range(trash.INLINE_ENTRIES + 10):
        (big / str(i % 50)).mkdir(parents=True, exist_ok=True)
        (big / str(i % 50) / str(i)).write_text("x")
    trash.set_aside(jr, big, "big")
    trash.empty_later(jr)
    deadline = time.monotonic() + 30
    while any(trash.folder(jr).iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(trash.folder(jr).iterdir())


def test_a_message_for_edits_sws_run_recorded_reaches_the_collapse_commit(jrepo: Path) -> None:
    """The README's by-hand flow: `sws run` records the edits, `sws snapshot -m` then names them."""
    from tests.conftest import jitos

    made = json.loads(jitos("sws", "new", "--json", cwd=jrepo).stdout)
    jitos("sws", "run", made["id"], "--", "sh", "-c", "echo fixed > fix.txt", cwd=jrepo)
    jitos("sws", "snapshot", made["id"], "-m", "what I did", cwd=jrepo)
    jitos("collapse", made["id"], "--no-gate", "--reason", "test", cwd=jrepo)
    assert git(jrepo, "log", "-1", "--format=%s") == "what I did"
    again = json.loads(jitos("sws", "new", "--json", cwd=jrepo).stdout)
    jitos("sws", "run", again["id"], "-m", "said with the run", "--", "sh", "-c", "echo more > more.txt", cwd=jrepo)
    jitos("collapse", again["id"], "--no-gate", "--reason", "test", cwd=jrepo)
    assert git(jrepo, "log", "-1", "--format=%s") == "said with the run"
