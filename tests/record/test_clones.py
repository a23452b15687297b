"""History that travels: two clones and a bare remote on disk, each recording
on its own, pushing and fetching in both orders. Every event of both shows on
both, `verify` is green on both, no id collides, nothing is lost, a repeated
fetch changes nothing; a clone that only fetched answers `verify`, `show` and
`why` after `git gc --prune=now`; `audit --require-gated` tells gated commits
from a plain `git commit`."""

import json
import subprocess
from pathlib import Path

import pytest

from tests import edits
from tests.conftest import commit_files, git, jitos


def _clone(bare: Path, where: Path, name: str) -> Path:
    git(bare.parent, "clone", "-q", str(bare), str(where))
    git(where, "config", "user.email", f"{name}@example.com")
    git(where, "config", "user.name", name)
    git(where, "config", "jitos.clone", name)
    return where


@pytest.fixture
def two(tmp_path: Path, repo: Path) -> tuple[Path, Path, Path]:
    """alice (the fixture's repository) and bob (a clone of it), each set up
    with jitos on its own, and the bare remote between them."""
    from tests.tasks.conftest import BUGGY, FIXING_AGENT, TESTS, config

    commit_files(repo, {"slugify.py": BUGGY, "test_slugify.py": TESTS, "agent.py": FIXING_AGENT,
                        ".gitignore": "__pycache__/\n", ".jitos/config.toml": config()}, "a project with a bug")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "config", "jitos.clone", "alice")
    bob = _clone(bare, tmp_path / "bob", "bob")
    jitos("init", cwd=repo)
    jitos("init", cwd=bob)
    return repo, bob, bare


GATE = "sh -c 'echo the gate ran on a clean tree && git diff --quiet HEAD'"


def _edit_and_collapse(where: Path, rel: str, text: str) -> dict[str, object]:
    """A hand workspace (`s1`, `s2`, … on each clone), one file, collapsed through a real gate."""
    made = json.loads(jitos("sws", "new", "--json", cwd=where).stdout)
    from kernel.workspace.sws import Workspace

    edits.write(Workspace(made["id"], None, Path(made["path"]), made["base"], made["base"], "active"), rel, text)
    jitos("sws", "snapshot", made["id"], cwd=where)
    done = json.loads(jitos("collapse", made["id"], "--gate", GATE, "--json", cwd=where).stdout)
    assert done["committed"], done
    return done


def _events(where: Path) -> list[tuple[str, int, str]]:
    """(clone, seq, id) of every event `log` shows; "" for this clone's."""
    return sorted((e["clone"] or "", e["seq"], e["id"]) for e in json.loads(jitos("log", "--json", cwd=where).stdout))


@pytest.mark.parametrize("order", ["alice pushes first", "bob pushes first"])
def test_two_clones_push_and_fetch_both_ways_see_everything_lose_nothing_and_collide_on_no_id(
        two: tuple[Path, Path, Path], order: str) -> None:
    alice, bob, _ = two
    for here in (alice, bob):  # an intent (agent, gate, collapse) on each, then a hand collapse
        assert json.loads(jitos("intent", "fix the bug", "--json", cwd=here).stdout)["state"] == "done"
    a = _edit_and_collapse(alice, "alice.txt", "from alice\n")
    b = _edit_and_collapse(bob, "bob.txt", "from bob\n")
    own = {alice: _events(alice), bob: _events(bob)}
    first, second = (alice, bob) if order == "alice pushes first" else (bob, alice)
    jitos("push", cwd=first)
    jitos("fetch", cwd=second)
    jitos("push", cwd=second)
    jitos("fetch", cwd=first)
    for here, there, name, other in ((alice, bob, "alice", "bob"), (bob, alice, "bob", "alice")):
        seen = _events(here)
        # every event of both: this clone's unchanged, the other's marked with its origin
        assert [e for e in seen if e[0] == ""] == own[here]
        assert [(seq, oid) for c, seq, oid in seen if c == other] == [(seq, oid) for _, seq, oid in own[there]]
        status = json.loads(jitos("status", "--json", cwd=here).stdout)
        assert [o["clone"] for o in status["others"]] == [other]
        assert json.loads(jitos("verify", "--json", cwd=here).stdout)["ok"]
        # both clones have a task t1 and workspaces s1, s2; the other's are t1@other, s2@other
        assert f"workspace s2@{other} is collapsed" in jitos("why", f"s2@{other}", cwd=here).stdout
        assert "workspace s2 is collapsed" in jitos("why", "s2", cwd=here).stdout
        assert f"task t1@{other}" in jitos("why", f"t1@{other}", cwd=here).stdout
        assert {t["id"] for t in status["others"][0]["tasks"]} == {f"t1@{other}"}
        # the other clone's collapse commit, by id: its history says how it landed
        theirs = b if here == alice else a
        answer = jitos("why", str(theirs["system"]), cwd=here).stdout
        assert f"workspace s2@{other}" in answer and "passed on exactly its tree" in answer
        fixed = jitos("why", f"refs/jitos/clones/{other}/system~1", cwd=here).stdout  # the intent's collapse
        assert "intent 'fix the bug'" in fixed and f"task t1@{other}" in fixed
    refs = {here: git(here, "for-each-ref", "refs/jitos/") for here in (alice, bob)}
    again = json.loads(jitos("fetch", "--json", cwd=alice).stdout)
    assert again["updated"] == [] and again["unchanged"] == ["bob"]
    jitos("fetch", cwd=bob)
    assert {here: git(here, "for-each-ref", "refs/jitos/") for here in (alice, bob)} == refs


def test_a_clone_that_only_fetched_answers_after_gc_prune(two: tuple[Path, Path, Path], tmp_path: Path) -> None:
    alice, _, bare = two
    done = _edit_and_collapse(alice, "alice.txt", "from alice\n")
    jitos("push", cwd=alice)
    git(alice, "push", "-q", "origin", "main")
    carol = _clone(bare, tmp_path / "carol", "carol")  # never runs `jitos init`
    jitos("fetch", cwd=carol)
    git(carol, "gc", "-q", "--prune=now")
    verified = json.loads(jitos("verify", "--json", cwd=carol).stdout)
    assert verified["ok"] and verified["events"] > 0, verified
    answer = json.loads(jitos("why", str(done["system"]), "--json", cwd=carol).stdout)
    assert answer["state"] == "gated" and "s1@alice" in answer["answer"]
    log = next(a["digest"] for a in answer["artifacts"])
    assert not (carol / ".git" / "jitos" / "store").exists()  # nothing but git holds it here
    assert "the gate ran on a clean tree" in jitos("show", log[:16], cwd=carol).stdout
    assert "workspace s1@alice is collapsed" in jitos("why", "s1@alice", cwd=carol).stdout


def test_audit_require_gated_passes_on_a_jitos_branch_and_names_a_plain_commit(
        two: tuple[Path, Path, Path], tmp_path: Path) -> None:
    alice, _, _ = two
    _edit_and_collapse(alice, "one.txt", "one\n")
    _edit_and_collapse(alice, "two.txt", "two\n")
    passed = json.loads(jitos("audit", "--require-gated", "--json", cwd=alice).stdout)
    assert passed["ok"] and [c["how"] for c in passed["commits"]] == ["gated", "gated"]
    plain = commit_files(alice, {"three.txt": "by hand\n"}, "a plain git commit")
    report = tmp_path / "audit.xml"
    failed = jitos("audit", "--require-gated", "--junit", str(report), cwd=alice, check=4)
    assert plain[:12] in failed.stderr and "a plain git commit" in failed.stdout
    xml = report.read_text()
    assert 'failures="1"' in xml and plain[:12] in xml
    assert jitos("audit", cwd=alice).returncode == 0  # without --require-gated it only reports


def test_fetch_refuses_a_history_that_lost_events_and_keeps_what_it_had(two: tuple[Path, Path, Path]) -> None:
    alice, bob, bare = two
    _edit_and_collapse(bob, "bob.txt", "from bob\n")
    jitos("push", cwd=bob)
    jitos("fetch", cwd=alice)
    kept = git(alice, "rev-parse", "refs/jitos/clones/bob/history")
    # the remote's copy of bob's history is rewritten (someone force-pushed another history over it)
    rewritten = git(bare, "commit-tree", f"{kept}^{{tree}}", "-p", f"{kept}~2", "-m", "rewritten")
    git(bare, "update-ref", "refs/jitos/clones/bob/history", rewritten)
    done = jitos("fetch", cwd=alice, check=1)
    assert "bob" in done.stderr and "kept what was fetched" in done.stderr
    assert git(alice, "rev-parse", "refs/jitos/clones/bob/history") == kept


def test_push_of_a_name_another_clone_uses_is_refused_not_overwritten(two: tuple[Path, Path, Path]) -> None:
    alice, bob, bare = two
    _edit_and_collapse(alice, "alice.txt", "from alice\n")
    _edit_and_collapse(bob, "bob.txt", "from bob\n")
    jitos("push", cwd=alice)
    git(bob, "config", "jitos.clone", "alice")  # a copied config: the same name on two clones
    done = jitos("push", cwd=bob, check=1)
    assert "jitos.clone" in done.stderr
    assert git(bare, "rev-parse", "refs/jitos/clones/alice/history") == git(alice, "rev-parse", "refs/jitos/history")


def test_the_ci_shell_recipe_passes_a_gated_pull_request_and_fails_one_with_a_plain_commit(
        two: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import os
    import shutil
    import sys

    alice, _, bare = two
    _edit_and_collapse(alice, "one.txt", "one\n")
    _edit_and_collapse(alice, "two.txt", "two\n")
    git(alice, "push", "-q", "origin", "main:feature")
    jitos("push", cwd=alice)
    ci = _clone(bare, tmp_path / "ci", "ci")
    git(ci, "checkout", "-q", "feature")
    script = Path(__file__).resolve().parents[2] / "docs" / "ci" / "provenance.sh"
    command = shutil.which("jitos", path=str(Path(sys.executable).parent))
    if command is None:  # not installed (the suite run from a source tree): a `jitos` that runs this one
        command = str(tmp_path / "bin" / "jitos")
        Path(command).parent.mkdir()
        Path(command).write_text(f"#!/bin/sh\nexec {sys.executable} -c "
                                 "'import sys; from jitos_cli.main import run; run()' \"$@\"\n")
        Path(command).chmod(0o755)
    env = {**os.environ, "JITOS_REPORTS": str(tmp_path / "reports"), "JITOS": command}

    def recipe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script), "origin/main..HEAD"], cwd=ci, env=env, capture_output=True,
                              text=True, check=False)

    done = recipe()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 commit(s)" in done.stdout
    assert 'failures="0"' in (tmp_path / "reports" / "jitos-audit.xml").read_text()
    assert 'failures="0"' in (tmp_path / "reports" / "jitos-verify.xml").read_text()
    plain = commit_files(alice, {"three.txt": "by hand\n"}, "a plain git commit")
    git(alice, "push", "-q", "origin", "main:feature")
    git(ci, "pull", "-q", "--ff-only")
    done = recipe()
    assert done.returncode == 4 and plain[:12] in done.stderr, done.stdout + done.stderr
    assert plain[:12] in (tmp_path / "reports" / "jitos-audit.xml").read_text()


def test_a_workspace_fetched_from_another_clone_collapses_here_through_the_gate(two: tuple[Path, Path, Path]) -> None:
    alice, bob, _ = two
    made = json.loads(jitos("sws", "new", "--json", cwd=bob).stdout)
    from kernel.workspace.sws import Workspace

    edits.write(Workspace(made["id"], None, Path(made["path"]), made["base"], made["base"], "active"), "bob.txt",
                "bob's work, landed by alice\n")
    jitos("sws", "snapshot", made["id"], cwd=bob)
    jitos("push", cwd=bob)
    jitos("fetch", cwd=alice)
    assert "s1@bob" in jitos("status", cwd=alice).stdout
    done = json.loads(jitos("collapse", "s1@bob", "--gate", GATE, "--json", cwd=alice).stdout)
    assert done["committed"] and (alice / "bob.txt").read_text() == "bob's work, landed by alice\n"
    answer = jitos("why", "HEAD", cwd=alice).stdout
    assert "passed on exactly its tree" in answer
    assert any(e["links"].get("from") == "s1@bob" for e in json.loads(jitos("log", "--json", cwd=alice).stdout))
    assert json.loads(jitos("verify", "--json", cwd=alice).stdout)["ok"]
    # bob's own record is untouched: his workspace is still active there
    assert git(bob, "rev-parse", "refs/jitos/sws/s1") == git(alice, "rev-parse", "refs/jitos/clones/bob/sws/s1")


def test_fetched_refs_survive_a_task_on_the_worktree_backend(two: tuple[Path, Path, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The step guard puts back jitos refs a step moved; other clones' refs are
    not this history's to put back (a fetch may run beside a step)."""
    alice, bob, _ = two
    _edit_and_collapse(bob, "bob.txt", "from bob\n")
    jitos("push", cwd=bob)
    jitos("fetch", cwd=alice)
    fetched = git(alice, "for-each-ref", "refs/jitos/clones/")
    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")
    assert json.loads(jitos("intent", "fix the bug", "--json", cwd=alice).stdout)["state"] == "done"
    assert git(alice, "for-each-ref", "refs/jitos/clones/") == fetched


def test_fetch_from_a_remote_that_is_behind_changes_nothing(two: tuple[Path, Path, Path], tmp_path: Path) -> None:
    alice, bob, _ = two
    second = tmp_path / "second.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(second))
    git(bob, "remote", "add", "second", str(second))
    jitos("push", "second", cwd=bob)
    _edit_and_collapse(bob, "bob.txt", "from bob\n")
    jitos("push", cwd=bob)
    git(alice, "remote", "add", "second", str(second))
    jitos("fetch", cwd=alice)
    newest = git(alice, "rev-parse", "refs/jitos/clones/bob/history")
    done = json.loads(jitos("fetch", "second", "--json", cwd=alice).stdout)
    assert done["unchanged"] == ["bob"] and done["refused"] == []
    assert git(alice, "rev-parse", "refs/jitos/clones/bob/history") == newest
    assert "no git remote named 'nowhere'" in jitos("fetch", "nowhere", cwd=alice, check=2).stderr


def test_fetch_refuses_a_history_it_cannot_read_and_status_still_works(two: tuple[Path, Path, Path]) -> None:
    alice, bob, _ = two
    from kernel.base import canonical

    jitos("push", cwd=bob)
    head = git(bob, "rev-parse", "refs/jitos/history")
    record = {"v": 3, "seq": 2, "kind": "future", "time": 1, "summary": "from a newer jitos", "data": {},
              "links": {}, "refs": {}}
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=bob, input=canonical.dumps(record),
                          capture_output=True, check=True).stdout.decode().strip()
    tree = subprocess.run(["git", "mktree"], cwd=bob, input=f"100644 blob {blob}\tevent.json\n", text=True,
                          capture_output=True, check=True).stdout.strip()
    newer = git(bob, "commit-tree", tree, "-p", head, "-m", "from a newer jitos")
    git(bob, "push", "-q", "origin", f"{newer}:refs/jitos/clones/bob/history")
    done = jitos("fetch", cwd=alice, check=1)
    assert "clone bob: refused" in done.stderr and "cannot read" in done.stderr
    assert jitos("status", cwd=alice).returncode == 0 and jitos("log", cwd=alice).returncode == 0


def test_a_fetched_workspace_its_clone_discarded_or_that_landed_already_is_refused(
        two: tuple[Path, Path, Path]) -> None:
    alice, bob, _ = two
    from kernel.workspace.sws import Workspace

    for text in ("discarded by bob\n", "kept by bob\n"):
        made = json.loads(jitos("sws", "new", "--json", cwd=bob).stdout)
        edits.write(Workspace(made["id"], None, Path(made["path"]), made["base"], made["base"], "active"),
                    "bob.txt", text)
        jitos("sws", "snapshot", made["id"], cwd=bob)
    jitos("sws", "discard", "s1", cwd=bob)
    jitos("push", cwd=bob)
    jitos("fetch", cwd=alice)
    assert "discarded on clone bob" in jitos("collapse", "s1@bob", "--gate", GATE, cwd=alice, check=2).stderr
    assert "named twice" in jitos("collapse", "s2@bob", "s2@bob", "--gate", GATE, cwd=alice, check=2).stderr
    jitos("collapse", "s2@bob", "--gate", GATE, cwd=alice)
    assert "already landed here" in jitos("collapse", "s2@bob", "--gate", GATE, cwd=alice, check=2).stderr
    assert (alice / "bob.txt").read_text() == "kept by bob\n"
    assert "landed by the collapse" in jitos("why", "HEAD@{0}", cwd=alice).stdout  # a reflog name, not a clone


def test_a_fetch_killed_mid_way_leaves_staging_refs_the_next_one_drops(two: tuple[Path, Path, Path]) -> None:
    alice, bob, _ = two
    jitos("push", cwd=bob)
    left = "refs/jitos/incoming/origin-4194304/bob/history"  # above any pid Linux hands out (pid_max ≤ 2^22)
    git(alice, "update-ref", left, git(alice, "rev-parse", "HEAD"))
    assert json.loads(jitos("verify", "--json", cwd=alice).stdout)["ok"]  # not history's: not a problem
    jitos("fetch", cwd=alice)
    assert git(alice, "for-each-ref", "refs/jitos/incoming/") == ""


def test_bad_input_names_what_was_wrong_and_exits_2(two: tuple[Path, Path, Path], tmp_path: Path) -> None:
    alice, _, _ = two
    assert "no history fetched from a clone named 'nobody'" in jitos("why", "s1@nobody", cwd=alice, check=2).stderr
    assert "no history fetched from a clone named 'nobody'" in jitos("collapse", "s1@nobody", "--no-gate", "--reason",
                                                                       "test", cwd=alice, check=2).stderr
    assert "is not one git knows" in jitos("audit", "nosuch..HEAD", cwd=alice, check=2).stderr
    assert "no git remote named 'nowhere'" in jitos("push", "nowhere", cwd=alice, check=2).stderr
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert "cannot write the JUnit report" in jitos("verify", "--junit", str(blocked / "r.xml"), cwd=alice,
                                                    check=2).stderr
