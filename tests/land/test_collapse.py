import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernel.base.repo import open_repo
from kernel.errors import BadInput, NotFound
from kernel.land.collapse import collapse
from kernel.land.gate import GatePolicy
from kernel.land.undo import undo
from kernel.record import history, refs, state
from kernel.record.initialise import init
from kernel.verify import verify
from kernel.views import status
from kernel.workspace import sws
from tests.conftest import commit_files, git
from tests.edits import edit as shell
from tests.edits import remove, write

PASS = "true"
FAIL = "false"


def policy(path: Path, **options: Any) -> GatePolicy:
    """The gate policy the command line builds from these options, in the repository at `path`."""
    return GatePolicy.from_options(open_repo(path), **options)


# Every test here runs on both workspace backends.
pytestmark = pytest.mark.usefixtures("backend_kind")


def edit(ws: sws.Workspace, files: dict[str, str | None]) -> None:
    for rel, content in files.items():
        if content is None:
            remove(ws, rel)
        else:
            write(ws, rel, content)


def workspace(jrepo: Path, files: dict[str, str | None], name: str | None = None) -> str:
    jr = open_repo(jrepo)
    ws = sws.new(jr, name=name)
    edit(ws, files)
    sws.snapshot(jr, ws.id, f"edit {', '.join(files)}")
    return ws.id


def frozen(jrepo: Path) -> tuple[str, str, str, str]:
    """System ref, branch, checkout content and status: what must not change on refusal."""
    return (
        git(jrepo, "rev-parse", "refs/jitos/system"),
        git(jrepo, "rev-parse", "main"),
        (jrepo / "README.md").read_text(),
        git(jrepo, "status", "--porcelain"),
    )


def test_green_gate_lands_one_commit_on_system_branch_and_checkout(jrepo: Path) -> None:
    before = git(jrepo, "rev-parse", "main")
    sid = workspace(jrepo, {"README.md": "fixed\n"})
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.committed and result.outcome == "committed"
    assert git(jrepo, "rev-parse", "main") == result.system == git(jrepo, "rev-parse", "refs/jitos/system")
    assert git(jrepo, "rev-parse", "main^") == before
    assert (jrepo / "README.md").read_text() == "fixed\n"
    assert git(jrepo, "status", "--porcelain") == ""
    body = git(jrepo, "log", "-1", "--format=%B")
    assert "Jitos-Sws: s1" in body and "Jitos-Gate: true passed" in body and "Jitos-Event: collapse #" in body
    assert body.startswith("edit README.md\n")  # the snapshot's message, not an automatic label
    assert state.load(open_repo(jrepo)).sws[sid].state == "collapsed"
    jr = open_repo(jrepo)
    assert not (jr.workspaces_dir / sid).exists()
    deadline = time.monotonic() + 30  # the folder is deleted after collapse has answered, by a detached process
    while any((jr.jitos_dir / "trash").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any((jr.jitos_dir / "trash").iterdir())
    assert git(jrepo, "worktree", "list").count("\n") == 0  # only the main checkout is left
    assert verify(open_repo(jrepo)).ok


def test_red_gate_changes_nothing_but_history(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "broken\n"})
    before = frozen(jrepo)
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=FAIL))
    assert not result.committed and result.outcome == "gate-failed"
    assert frozen(jrepo) == before
    last = history.events(open_repo(jrepo))[-1].event
    assert last.kind == "gate-failed" and last.data["exit"] == 1
    assert open_repo(jrepo).store.has(last.data["log"])


def test_gate_runs_on_the_rebased_tree_in_the_workspace(jrepo: Path) -> None:
    sid = workspace(jrepo, {"mine.txt": "mine\n"})
    commit_files(jrepo, {"theirs.txt": "theirs\n"}, "outside")
    gate = "sh -c 'test -f mine.txt && test -f theirs.txt && git diff --quiet HEAD'"
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=gate))
    assert result.committed and result.rebased and len(result.adopted) == 1
    assert git(jrepo, "show", "main:mine.txt") == "mine"
    kinds = [r.event.kind for r in history.events(open_repo(jrepo))]
    assert kinds[-4:] == ["adopt", "rebase", "gate-passed", "collapse"]


def test_outside_commits_are_adopted_never_lost(jrepo: Path) -> None:
    sid = workspace(jrepo, {"mine.txt": "x\n"})
    outside = commit_files(jrepo, {"theirs.txt": "y\n"}, "made without jitos")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, no_gate=True, reason="test"))
    assert result.adopted == (outside,)
    assert git(jrepo, "rev-parse", "main^") == outside


def test_conflict_exits_with_sorted_paths_and_applies_nothing(jrepo: Path) -> None:
    sid = workspace(jrepo, {"src/app.py": "mine\n", "README.md": "mine\n"})
    commit_files(jrepo, {"src/app.py": "theirs\n", "README.md": "theirs\n"}, "outside")
    before = git(jrepo, "rev-parse", "main"), (jrepo / "README.md").read_text()
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "conflict" and result.conflicts == ("README.md", "src/app.py")
    assert (git(jrepo, "rev-parse", "main"), (jrepo / "README.md").read_text()) == before
    assert history.events(open_repo(jrepo))[-1].event.data["paths"] == ["README.md", "src/app.py"]


def test_identical_change_on_both_sides_is_not_a_conflict(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "same\n", "mine.txt": "mine\n"})
    commit_files(jrepo, {"README.md": "same\n"}, "outside")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.committed and result.paths == ("mine.txt",)


def test_workspace_adding_nothing_lands_nothing(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "same\n"})
    commit_files(jrepo, {"README.md": "same\n"}, "outside")
    before = git(jrepo, "rev-parse", "main")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "empty" and not result.committed
    assert git(jrepo, "rev-parse", "main") == before


def test_file_on_one_side_folder_on_the_other_conflicts(jrepo: Path) -> None:
    sid = workspace(jrepo, {"docs": "a file\n"})
    commit_files(jrepo, {"docs/index.md": "a folder\n"}, "outside")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "conflict" and "docs" in result.conflicts or "docs/index.md" in result.conflicts


def test_a_mode_change_merges_with_a_content_change_as_git_merges_them(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    shell(ws, "chmod 755 src/app.py && rm README.md")
    sws.snapshot(jr, ws.id)
    commit_files(jrepo, {"src/app.py": "changed\n"}, "outside")
    result = collapse(open_repo(jrepo), ws.id, policy(jrepo, gate=PASS))
    assert result.committed, result
    assert git(jrepo, "ls-tree", "main", "src/app.py").startswith("100755 ")
    assert git(jrepo, "show", "main:src/app.py") == "changed"
    assert "README.md" not in git(jrepo, "ls-tree", "--name-only", "main")


def test_dirty_checkout_is_refused_before_anything_moves(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "from workspace\n"})
    (jrepo / "README.md").write_text("my local edit\n")
    before = frozen(jrepo)
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "checkout-dirty" and result.conflicts == ("README.md",)
    assert frozen(jrepo) == before
    assert (jrepo / "README.md").read_text() == "my local edit\n"


def test_a_checkout_in_the_way_is_said_before_the_gate_runs(jrepo: Path, tmp_path: Path) -> None:
    sid = workspace(jrepo, {"README.md": "from workspace\n"})
    (jrepo / "README.md").write_text("my local edit\n")
    ran = tmp_path / "gate-ran"
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=f"sh -c 'touch {ran}'"))
    assert result.outcome == "checkout-dirty" and result.conflicts == ("README.md",)
    assert not ran.exists()  # minutes of tests are not spent on a collapse that cannot land


def test_local_edits_elsewhere_survive_a_collapse(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "from workspace\n"})
    (jrepo / "src" / "app.py").write_text("unrelated local edit\n")
    (jrepo / "scratch.txt").write_text("untracked\n")
    assert collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS)).committed
    assert (jrepo / "src" / "app.py").read_text() == "unrelated local edit\n"
    assert (jrepo / "scratch.txt").read_text() == "untracked\n"
    assert (jrepo / "README.md").read_text() == "from workspace\n"


def test_untracked_file_in_the_way_is_refused(jrepo: Path) -> None:
    sid = workspace(jrepo, {"new.txt": "from workspace\n"})
    (jrepo / "new.txt").write_text("mine, untracked\n")
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    assert result.outcome == "checkout-dirty" and (jrepo / "new.txt").read_text() == "mine, untracked\n"


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_disjoint_workspaces_land_in_either_order_with_the_same_tree(
    make_repo: Callable[..., Path], order: tuple[str, str]
) -> None:
    path = make_repo(name="r" + "".join(order))
    init(open_repo(path))
    ids = {"a": workspace(path, {"a.txt": "a\n"}, name="a"), "b": workspace(path, {"b.txt": "b\n"}, name="b")}
    for key in order:
        assert collapse(open_repo(path), ids[key], policy(path, gate=PASS)).committed
    tree = git(path, "rev-parse", "main^{tree}")
    assert tree == git(path, "rev-parse", "refs/jitos/system^{tree}")
    assert git(path, "show", "main:a.txt") == "a" and git(path, "show", "main:b.txt") == "b"


def test_gate_result_is_cached_by_tree_and_argv(jrepo: Path, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    gate = f"sh -c 'echo run >> {counter}; exit 1'"
    sid = workspace(jrepo, {"README.md": "x\n"})
    assert collapse(open_repo(jrepo), sid, policy(jrepo, gate=gate)).outcome == "gate-failed"
    again = collapse(open_repo(jrepo), sid, policy(jrepo, gate=gate))
    assert again.gate is not None and again.gate.cached and again.outcome == "gate-failed"
    assert counter.read_text().count("run") == 1
    collapse(open_repo(jrepo), sid, policy(jrepo, gate=gate, rerun=True))
    assert counter.read_text().count("run") == 2


def test_no_gate_is_recorded_with_reason(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "x\n"})
    result = collapse(open_repo(jrepo), sid, policy(jrepo, no_gate=True, reason="docs only"))
    assert result.committed
    event = history.events(open_repo(jrepo))[-1].event
    assert event.data["gate"] is None and "docs only" in event.data["gate_skipped"]
    assert "docs only" in git(jrepo, "log", "-1", "--format=%B")


def test_missing_gate_is_bad_input(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "x\n"})
    with pytest.raises(BadInput, match="no gate"):
        collapse(open_repo(jrepo), sid)


def test_gate_from_config_is_an_argv(make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_repo(files={"README.md": "x\n", ".jitos/config.toml": '[gate]\ncommand = ["test", "-f", "README.md"]\n'})
    monkeypatch.chdir(path)
    init(open_repo(path))
    sid = workspace(path, {"README.md": "y\n"})
    result = collapse(open_repo(path), sid)
    assert result.committed and result.gate is not None and result.gate.command == ("test", "-f", "README.md")


def race(jrepo: Path, tmp_path: Path, slow_files: dict[str, str | None], fast_files: dict[str, str | None]) -> str:
    """Collapse `slow` in another process whose gate waits; land `fast` meanwhile; return slow's outcome."""
    slow = workspace(jrepo, slow_files, name="slow")
    fast = workspace(jrepo, fast_files, name="fast")
    started = tmp_path / "started"
    script = (
        "from kernel.land.collapse import collapse\nfrom kernel.land.gate import GatePolicy\n"
        "from kernel.base.repo import open_repo\n"
        f"gate = GatePolicy.from_options(open_repo(), gate=\"sh -c 'touch {started}; sleep 1'\")\n"
        f"r = collapse(open_repo(), {slow!r}, gate)\n"
        "print(r.outcome, r.rebased)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=jrepo, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the slow collapse never reached its gate"
        time.sleep(0.02)
    assert collapse(open_repo(jrepo), fast, policy(jrepo, gate=PASS)).committed
    out, _ = proc.communicate(timeout=60)
    return out.strip()


def test_racing_collapses_one_wins_the_other_rebases(jrepo: Path, tmp_path: Path) -> None:
    assert race(jrepo, tmp_path, {"slow.txt": "slow\n"}, {"fast.txt": "fast\n"}) == "committed True"
    assert git(jrepo, "show", "main:slow.txt") == "slow" and git(jrepo, "show", "main:fast.txt") == "fast"
    assert verify(open_repo(jrepo)).ok


def test_racing_collapses_on_the_same_path_one_wins_the_other_conflicts(jrepo: Path, tmp_path: Path) -> None:
    assert race(jrepo, tmp_path, {"README.md": "slow\n"}, {"README.md": "fast\n"}).startswith("conflict")
    assert git(jrepo, "show", "main:README.md") == "fast"


def test_collapse_ids_are_deterministic(make_repo: Callable[..., Path]) -> None:
    systems = []
    for name in ("one", "two"):
        path = make_repo(name=name)
        init(open_repo(path))
        sid = workspace(path, {"README.md": "x\n"})
        commit_files(path, {"other.txt": "o\n"}, "outside")
        systems.append(collapse(open_repo(path), sid, policy(path, gate=PASS)).system)
        systems.append(git(path, "rev-parse", "refs/jitos/history"))
    assert systems[0] == systems[2] and systems[1] == systems[3]


def test_status_predicts_conflicts_without_writing(jrepo: Path) -> None:
    clean = workspace(jrepo, {"new.txt": "n\n"})
    clash = workspace(jrepo, {"README.md": "mine\n"})
    commit_files(jrepo, {"README.md": "theirs\n"}, "outside")
    adopt_free = history.head(open_repo(jrepo))
    st = status(open_repo(jrepo))
    assert st.predictions[clean].clean
    assert st.predictions[clash].conflicts == ("README.md",)
    assert history.head(open_repo(jrepo)) == adopt_free


def test_undo_restores_the_previous_tree_as_a_new_collapse(jrepo: Path) -> None:
    before = git(jrepo, "rev-parse", "main^{tree}")
    sid = workspace(jrepo, {"README.md": "oops\n", "extra.txt": "e\n"})
    landed = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    result = undo(open_repo(jrepo), policy=policy(jrepo, gate=PASS))
    assert result.committed
    assert git(jrepo, "rev-parse", "main^{tree}") == before
    assert git(jrepo, "rev-parse", "main^") == landed.system
    assert (jrepo / "README.md").read_text() == "hello\n" and not (jrepo / "extra.txt").exists()


def test_undo_by_seq_never_falls_back_to_an_id_prefix(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "one\n"})
    collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    with pytest.raises(NotFound, match="no collapse matches '#1'"):
        undo(open_repo(jrepo), "#1", policy(jrepo, gate=PASS))


def test_collapse_records_the_gate_event_it_ran(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "x\n"})
    collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    events = history.events(open_repo(jrepo))
    gate_event = next(r for r in events if r.event.kind == "gate-passed")
    assert events[-1].event.data["gate"]["event"] == gate_event.oid


def test_rebase_rewrites_the_overlay_against_the_new_base(jrepo: Path) -> None:
    sid = workspace(jrepo, {"mine.txt": "x\n"})
    commit_files(jrepo, {"theirs.txt": "y\n"}, "outside")
    collapse(open_repo(jrepo), sid, policy(jrepo, gate=FAIL))
    jr = open_repo(jrepo)
    manifest = (jr.overlays_dir / sid / "manifest.json").read_text()
    assert git(jrepo, "rev-parse", "main") in manifest and "mine.txt" in manifest and "theirs" not in manifest
    assert verify(jr).ok


def test_undo_conflicts_when_a_later_collapse_touched_the_same_paths(jrepo: Path) -> None:
    first = workspace(jrepo, {"README.md": "one\n"})
    collapse(open_repo(jrepo), first, policy(jrepo, gate=PASS))
    seq = history.events(open_repo(jrepo))[-1].event.seq
    second = workspace(jrepo, {"README.md": "two\n"})
    collapse(open_repo(jrepo), second, policy(jrepo, gate=PASS))
    result = undo(open_repo(jrepo), f"#{seq}", policy(jrepo, gate=PASS))
    assert result.outcome == "conflict" and result.conflicts == ("README.md",)
    assert git(jrepo, "show", "main:README.md") == "two"


def test_refs_move_together(jrepo: Path) -> None:
    sid = workspace(jrepo, {"README.md": "x\n"})
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=PASS))
    jr = open_repo(jrepo)
    event = history.events(jr)[-1]
    assert event.event.refs == {history.SYSTEM_REF: result.system}
    assert refs.read(jr, "refs/heads/main") == result.system == refs.read(jr, history.SYSTEM_REF)


def test_gate_gets_a_scrubbed_environment_plus_declared_names(make_repo: Callable[..., Path],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_repo(files={"README.md": "x\n", ".jitos/config.toml": '[gate]\nenv = ["WANTED"]\n'})
    monkeypatch.chdir(path)
    init(open_repo(path))
    monkeypatch.setenv("WANTED", "yes")
    monkeypatch.setenv("SECRET_TOKEN", "leak")
    sid = workspace(path, {"README.md": "y\n"})
    gate = "sh -c 'test \"$WANTED\" = yes && test -z \"$SECRET_TOKEN\"'"
    assert collapse(open_repo(path), sid, policy(path, gate=gate)).committed


def test_folder_left_after_collapse_can_be_discarded(jrepo: Path, tmp_path: Path) -> None:
    sid = workspace(jrepo, {"README.md": "x\n"})
    gate = "sh -c 'echo late > late.txt'"
    result = collapse(open_repo(jrepo), sid, policy(jrepo, gate=gate))
    assert result.committed and result.left_behind == ("late.txt",)
    folder = open_repo(jrepo).workspaces_dir / sid
    assert folder.is_dir()
    sws.discard(open_repo(jrepo), sid, force=True)
    assert not folder.exists()
    assert verify(open_repo(jrepo)).ok
