import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.record import history
from kernel.record.initialise import init
from kernel.verify import verify
from kernel.workspace import sws
from tests import edits
from tests.conftest import git


def busy_repo(path: Path) -> None:
    """The same scripted session, used by several tests."""
    init(open_repo(path))
    jr = open_repo(path)
    a = sws.new(jr, name="alpha")
    edits.write(a, "README.md", "changed\n")
    sws.snapshot(jr, a.id, "edit readme")
    sws.run(jr, a.id, ["sh", "-c", "echo built > out.txt"])
    b = sws.new(jr)
    edits.write(b, "new.txt", "b\n")
    sws.discard(jr, b.id, reason="not needed", force=True)


def test_verify_is_green_after_a_busy_session_and_gc(repo: Path) -> None:
    busy_repo(repo)
    git(repo, "gc", "-q", "--prune=now")
    result = verify(open_repo(repo))
    assert result.ok, result.problems
    assert result.events == 7


def test_same_script_on_identical_repos_gives_identical_ids(make_repo: Callable[..., Path]) -> None:
    first, second = make_repo(name="one"), make_repo(name="two")
    busy_repo(first)
    busy_repo(second)

    def jitos_refs(path: Path) -> str:
        return git(path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/jitos/")

    assert jitos_refs(first) == jitos_refs(second)
    assert "refs/jitos/sws/s2" in jitos_refs(first)


def test_ref_moved_outside_jitos_is_reported(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    git(jrepo, "commit", "--allow-empty", "-qm", "other")
    git(jrepo, "update-ref", f"refs/jitos/sws/{ws.id}", "HEAD")
    result = verify(jr)
    assert not result.ok
    assert result.problems[0].startswith("refs/jitos/sws/s1 is at")


def test_corrupt_store_object_is_reported(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    result = sws.run(jr, ws.id, ["echo", "log line"])
    path = jr.store.path_of(result.stdout)
    path.chmod(0o644)
    path.write_bytes(b"tampered\n")
    problems = verify(jr).problems
    assert any("corrupt" in p and result.stdout in p for p in problems)


def test_rewritten_history_event_is_reported(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    head = history.head(jr)
    assert head is not None
    tree = git(jrepo, "rev-parse", f"{head}^{{tree}}")
    forged = subprocess.run(
        ["git", "commit-tree", tree, "-m", "forged summary"], cwd=jrepo, capture_output=True, text=True, check=True
    ).stdout.strip()
    git(jrepo, "update-ref", history.HISTORY_REF, forged)
    result = verify(open_repo(jrepo))
    assert not result.ok
    assert "does not reproduce" in result.problems[0]


def _delete_object(path: Path, oid: str) -> None:
    loose = path / ".git" / "objects" / oid[:2] / oid[2:]
    assert loose.is_file(), "the object is loose (no gc ran)"
    loose.chmod(0o644)
    loose.unlink()


def test_a_deleted_snapshot_blob_is_reported_and_collapse_says_what_is_missing(jrepo: Path, backend_kind: str) -> None:
    from kernel.errors import IntegrityError
    from kernel.land.collapse import collapse
    from tests.land.test_collapse import PASS, policy

    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edits.write(ws, "only-here.txt", "written once, nowhere else\n")
    snap = sws.snapshot(jr, ws.id, "edit")
    blob = git(jrepo, "rev-parse", f"{snap.head}:only-here.txt")
    _delete_object(jrepo, blob)
    result = verify(open_repo(jrepo))
    assert not result.ok and any(blob[:12] in p and "missing" in p for p in result.problems), result.problems
    main = git(jrepo, "rev-parse", "main")
    with pytest.raises(IntegrityError, match=blob[:12]):
        collapse(open_repo(jrepo), ws.id, policy(jrepo, gate=PASS))
    assert git(jrepo, "rev-parse", "main") == main and git(jrepo, "status", "--porcelain") == ""


def test_a_store_object_named_only_by_an_overlay_manifest_is_carried_by_git_and_checked(jrepo: Path) -> None:
    from kernel.base import canonical
    from kernel.record import state

    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edits.write(ws, "notes.txt", "kept in the manifest only\n")
    sws.snapshot(jr, ws.id, "edit")
    manifest = canonical.loads(jr.store.get(state.load(open_repo(jrepo)).sws[ws.id].overlay or ""))
    content = manifest["entries"]["notes.txt"]["digest"]
    path = jr.store.path_of(content)
    path.chmod(0o644)
    path.unlink()
    # the clone's own store lost it; the snapshot event's commit still carries it
    assert verify(open_repo(jrepo)).ok
    assert open_repo(jrepo).store.get(content) == b"kept in the manifest only\n"
    carried = git(jrepo, "rev-parse", f"refs/jitos/history:{content}")
    _delete_object(jrepo, carried)
    result = verify(open_repo(jrepo))
    assert not result.ok and any(content[:12] in p and "missing" in p for p in result.problems), result.problems


def test_a_collapse_relying_on_a_gate_result_not_in_history_is_reported(jrepo: Path) -> None:
    from kernel.record import state

    jr = open_repo(jrepo)
    ws = sws.new(jr)
    with state.ledger(jr) as ledger:
        ledger.record("collapse", f"sws {ws.id}: collapsed", links={"sws": ws.id},
                      data={"gate": {"event": "0" * 40, "passed": True}})
    result = verify(open_repo(jrepo))
    assert not result.ok and any("gate result 000000000000" in p for p in result.problems), result.problems


def test_output_that_prints_the_clone_s_folders_records_the_same_ids_in_every_clone(
        make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import jitos

    heads = []
    for name in ("first-clone", "second"):
        path = make_repo(name=name)
        monkeypatch.chdir(path)
        jitos("init")
        jitos("sws", "new")
        shown = jitos("sws", "run", "s1", "--", "sh", "-c", "pwd; echo x > f; echo \"$PWD/f\" >&2")
        assert shown.stdout.strip() == str(path / ".git" / "jitos" / "ws" / "s1")  # shown as it is here
        jitos("collapse", "s1", "--gate", "sh -c 'pwd; git rev-parse --git-dir --show-toplevel'")
        heads.append(git(path, "rev-parse", "refs/jitos/history"))
    assert heads[0] == heads[1]


def test_a_format_1_history_still_verifies_and_its_next_event_carries_everything_it_named(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recorded by a jitos from before events carried store objects (format 1:
    `event.json` only), then continued by this one."""
    from kernel.record import carry, history
    from kernel.record.initialise import init

    with monkeypatch.context() as old:
        old.setattr(history, "FORMAT", 1)
        old.setattr(carry, "blobs", lambda repo, wanted: {})
        init(open_repo(repo))
        jr = open_repo(repo)
        ws = sws.new(jr)
        ran = sws.run(jr, ws.id, ["echo", "logged before carrying"])
        edits.write(ws, "notes.txt", "an edit before carrying\n")
        sws.snapshot(jr, ws.id, "edit")
    jr = open_repo(repo)
    assert {r.event.v for r in history.events(jr)} == {1} and verify(jr).ok
    assert git(repo, "ls-tree", "--name-only", "refs/jitos/history") == "event.json"
    sws.new(jr)  # the first format-2 event
    newest = history.events(open_repo(repo))[-1]
    assert newest.event.v == 2 and ran.stdout in newest.carried
    for digest in list(jr.store.digests()):  # this clone's store lost everything; history still carries it
        jr.store.path_of(digest).chmod(0o644)
        jr.store.path_of(digest).unlink()
    jr = open_repo(repo)
    result = verify(jr)
    assert result.ok, result.problems
    assert jr.store.get(ran.stdout) == b"logged before carrying\n"
