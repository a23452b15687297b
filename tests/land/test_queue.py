"""`jitos collapse ID ID …`: a local merge queue — stacked, gated once,
culprits found by bisection and left out, the rest landed together."""

import json
from pathlib import Path

import pytest

from jitos_cli.main import main
from kernel.base.repo import open_repo
from kernel.record import history, state
from kernel.verify import verify
from kernel.workspace import sws
from tests import edits
from tests.conftest import git

# Red when any file named bad-* is in the tree the gate runs on.
GATE = "sh -c 'test -z \"$(ls | grep ^bad-)\"'"


def _workspace(jrepo: Path, files: dict[str, str]) -> str:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    for rel, text in files.items():
        edits.write(ws, rel, text)
    sws.snapshot(jr, ws.id)
    return ws.id


def _queue(capsys: pytest.CaptureFixture[str], *argv: str, code: int) -> dict[str, object]:
    capsys.readouterr()
    assert main(["collapse", *argv, "--json"]) == code
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_eight_workspaces_two_break_the_gate_the_six_others_land_together(
        jrepo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [_workspace(jrepo, {f"w{i}.txt": f"work {i}\n", **({f"bad-{i}": "breaks\n"} if i in (3, 6) else {})})
           for i in range(1, 9)]
    before = git(jrepo, "rev-parse", "main")
    shown = _queue(capsys, *ids, "--gate", GATE, code=4)
    bad = [ids[2], ids[5]]
    assert [c["sws"] for c in shown["left_out"]] == bad  # type: ignore[index]
    assert all(c["why"] == "gate-failed" for c in shown["left_out"])  # type: ignore[union-attr]
    assert shown["landed"] == [i for i in ids if i not in bad] and shown["committed"]
    # At most 1 + 2·⌈log2 8⌉·2 = 13; this queue runs 9: all (red), 1–4 (red), 1–2,
    # 1–3 (red), 1–2+4, 1–2+4–8 (red), 1–2+4–6 (red), 1–2+4–5, 1–2+4–5+7–8.
    assert shown["gate_runs"] <= 1 + 2 * 3 * 2
    assert shown["gate_runs"] == 9, shown["gate_runs"]
    landed = git(jrepo, "ls-tree", "--name-only", "main").split()
    assert [f"w{i}.txt" for i in (1, 2, 4, 5, 7, 8)] == [n for n in landed if n.startswith("w")]
    assert not [n for n in landed if n.startswith("bad-")]
    # One commit on top of the old system, in one transaction and one event.
    assert git(jrepo, "rev-parse", "main^") == before
    event = json.loads(git(jrepo, "show", "refs/jitos/history:event.json"))
    assert event["kind"] == "collapse" and event["data"]["queue"] == shown["landed"]
    st = state.load(open_repo(jrepo))
    assert {i: st.sws[i].state for i in ids} == {i: ("active" if i in bad else "collapsed") for i in ids}
    assert verify(open_repo(jrepo)).ok, verify(open_repo(jrepo)).problems
    # Every tree was gated once: the queue's trees are in history, reused by a rerun.
    gated = [r.event for r in history.events(open_repo(jrepo)) if r.event.kind.startswith("gate-")]
    assert len(gated) == shown["gate_runs"] and len({g.data["tree"] for g in gated}) == len(gated)


def test_a_workspace_conflicting_with_the_stack_is_left_out_and_the_rest_land(
        jrepo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _workspace(jrepo, {"README.md": "from a\n"})
    b = _workspace(jrepo, {"README.md": "from b\n"})
    c = _workspace(jrepo, {"c.txt": "c\n"})
    shown = _queue(capsys, a, b, c, "--no-gate", code=3)
    assert shown["landed"] == [a, c]
    assert shown["left_out"] == [{"sws": b, "why": "conflict", "conflict_details": [
        {"path": "README.md", "kind": "content", "hunks": [[1, 5]]}]}]
    assert git(jrepo, "show", "main:README.md") == "from a" and git(jrepo, "show", "main:c.txt") == "c"


def test_all_ready_takes_every_active_workspace_with_a_snapshot(jrepo: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = _workspace(jrepo, {"a.txt": "a\n"})
    sws.new(open_repo(jrepo))  # nothing recorded in it: not ready
    b = _workspace(jrepo, {"b.txt": "b\n"})
    shown = _queue(capsys, "--all-ready", "--no-gate", code=0)
    assert shown["landed"] == [a, b]
    assert main(["collapse", "--all-ready", a]) == 2
    assert main(["collapse"]) == 2
    assert main(["collapse", a, a]) == 2


def test_the_same_queue_on_the_same_system_lands_the_same_commit(make_repo: object,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel.land.gate import GatePolicy
    from kernel.land.queue import collapse_all
    from kernel.record.initialise import init

    landed = []
    for name in ("one", "two"):
        root = make_repo(name=name)  # type: ignore[operator]
        monkeypatch.chdir(root)
        init(open_repo(root))
        ids = [_workspace(root, {f"w{i}.txt": f"{i}\n", **({"bad-x": "x\n"} if i == 2 else {})}) for i in (1, 2, 3)]
        jr = open_repo(root)
        result = collapse_all(jr, ids, GatePolicy.from_options(jr, gate=GATE))
        assert result.landed == (ids[0], ids[2])
        landed.append((result.system, git(root, "rev-parse", "refs/jitos/history")))
    assert landed[0] == landed[1]
