"""Kill a real `jitos` process at every named fault point of an operation, then
check what a user would find: history never loses an event, the branch is at
its old value or its new one, `jitos verify` is green or names the repair the
next command makes (and is green after it), and running the operation again
(or `jitos resume`) completes it with nothing lost.

The points are the `faults.point("…")` calls in the code (see
kernel/base/faults.py); a trace run of each scenario lists the ones it passes,
and `test_every_fault_point_in_the_code_is_reached` fails when a point is
added that no scenario reaches. `pytest -m faults` kills at every point of
every scenario; the default run kills right after each operation's last ref
move.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import edits
from tests.conftest import commit_files, git, jitos
from tests.tasks.conftest import BUGGY, FIXING_AGENT, TESTS, config

KERNEL = Path(__file__).resolve().parents[1] / "kernel"
# The tests here share one xdist worker, in file order, so the reach check at the
# end reuses the traces the scenarios made (run alone, it traces them itself).
pytestmark = pytest.mark.xdist_group("faults")
REACHED: dict[str, set[str]] = {}


def points_in_code() -> set[str]:
    """Every fault point the code names (generated from the source, never listed by hand)."""
    found: set[str] = set()
    for source in KERNEL.rglob("*.py"):
        found |= set(re.findall(r'faults\.point\("([^"]+)"', source.read_text()))
    return found


# -- scenarios -------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """`prepare` builds the state before the operation in a fresh repository;
    `operation` is the jitos command that is killed; `finish` is what a user
    runs after a crash to complete it; `completed` asserts the end state."""

    name: str
    prepare: Callable[[Path], None]
    operation: tuple[str, ...]
    finish: Callable[[Path], None]
    completed: Callable[[Path], None]


EDIT = "recorded before the crash, never lost\n"


def _workspace_with_edit(path: Path, *, record: bool) -> None:
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    commit_files(path, {".gitignore": "*.log\n"}, "ignore logs")
    jitos("init")
    ws = sws.new(open_repo(path))
    edits.write(ws, "edited.txt", EDIT)
    edits.write(ws, "run.log", "ignored, kept aside at discard\n")
    if record:
        jitos("sws", "snapshot", ws.id)


def _state(path: Path, sid: str = "s1") -> str:
    listed = json.loads(jitos("sws", "list", "--all", "--json").stdout)
    return next(w["state"] for w in listed if w["id"] == sid)


def _snapshot_completed(path: Path) -> None:
    assert git(path, "show", "refs/jitos/sws/s1:edited.txt") + "\n" == EDIT


def _collapse_finish(path: Path) -> None:
    if _state(path) == "active":
        jitos("collapse", "s1", "--gate", "true")


def _collapse_completed(path: Path) -> None:
    assert git(path, "show", "main:edited.txt") + "\n" == EDIT
    assert git(path, "status", "--porcelain") == ""
    if git(path, "branch", "--show-current") == "main":
        assert (path / "edited.txt").read_text() == EDIT


def _elsewhere(path: Path) -> None:
    _workspace_with_edit(path, record=True)
    git(path, "switch", "-q", "-c", "elsewhere")


def _discard_finish(path: Path) -> None:
    if _state(path) == "active":
        jitos("sws", "discard", "s1", "--force")


def _discard_completed(path: Path) -> None:
    assert _state(path) == "discarded"
    assert git(path, "show", "refs/jitos/sws/s1:edited.txt") + "\n" == EDIT
    assert (path / ".git" / "jitos" / "kept" / "s1" / "run.log").is_file()


def _landed(path: Path) -> None:
    _workspace_with_edit(path, record=True)
    jitos("collapse", "s1", "--gate", "true")


def _undo_finish(path: Path) -> None:
    if (path / "edited.txt").exists() or git(path, "ls-tree", "main", "edited.txt"):
        jitos("undo", "--gate", "true")


def _undo_completed(path: Path) -> None:
    assert git(path, "ls-tree", "main", "edited.txt") == "" and not (path / "edited.txt").exists()
    assert git(path, "status", "--porcelain") == ""


def _buggy(path: Path) -> None:
    commit_files(path, {"slugify.py": BUGGY, "test_slugify.py": TESTS, "agent.py": FIXING_AGENT,
                        ".gitignore": "__pycache__/\n", ".jitos/config.toml": config()}, "buggy")
    jitos("init")


def _intent_finish(path: Path) -> None:
    tasks = json.loads(jitos("status", "--json").stdout)["tasks"]
    if not tasks:
        jitos("intent", "fix the bug")
    elif tasks[0]["state"] != "done":
        jitos("resume", tasks[0]["id"], check=None)
        task = json.loads(jitos("status", "--json").stdout)["tasks"][0]
        if task["state"] != "done":  # a step that may not run twice by itself: the user says run it again
            jitos("resume", task["id"], "--retry-step")


def _intent_completed(path: Path) -> None:
    assert "title.lower().split()" in git(path, "show", "main:slugify.py")
    assert [t["state"] for t in json.loads(jitos("status", "--json").stdout)["tasks"]] == ["done"]
    assert git(path, "status", "--porcelain") == ""


def _two_workspaces(path: Path) -> None:
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    _workspace_with_edit(path, record=True)
    other = sws.new(open_repo(path))
    edits.write(other, "other.txt", "from the second workspace\n")
    jitos("sws", "snapshot", other.id)


def _queue_finish(path: Path) -> None:
    active = [sid for sid in ("s1", "s2") if _state(path, sid) == "active"]
    if active:
        jitos("collapse", *active, "--gate", "true")


def _queue_completed(path: Path) -> None:
    _collapse_completed(path)
    assert git(path, "show", "main:other.txt") == "from the second workspace"
    assert _state(path, "s2") == "collapsed"


LINES = "".join(f"line {i}\n" for i in range(1, 11))


def _behind(path: Path) -> None:
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    commit_files(path, {"lines.txt": LINES}, "lines")
    jitos("init")
    ws = sws.new(open_repo(path))
    edits.write(ws, "lines.txt", LINES.replace("line 2\n", "line two\n"))
    jitos("sws", "snapshot", ws.id)
    commit_files(path, {"lines.txt": LINES.replace("line 9\n", "line nine\n")}, "the branch moves")


def _update_completed(path: Path) -> None:
    text = git(path, "show", "refs/jitos/sws/s1:lines.txt")
    assert "line two" in text and "line nine" in text
    assert json.loads(jitos("sws", "update", "s1", "--json").stdout)["outcome"] == "current"


SCENARIOS = [
    Scenario("snapshot", lambda p: _workspace_with_edit(p, record=False), ("sws", "snapshot", "s1"),
             lambda p: jitos("sws", "snapshot", "s1") and None, _snapshot_completed),
    Scenario("collapse", lambda p: _workspace_with_edit(p, record=True), ("collapse", "s1", "--gate", "true"),
             _collapse_finish, _collapse_completed),
    Scenario("collapse-elsewhere", _elsewhere, ("collapse", "s1", "--gate", "true"),
             _collapse_finish, _collapse_completed),
    Scenario("discard", lambda p: _workspace_with_edit(p, record=False), ("sws", "discard", "s1", "--force"),
             _discard_finish, _discard_completed),
    Scenario("undo", _landed, ("undo", "--gate", "true"), _undo_finish, _undo_completed),
    Scenario("intent", _buggy, ("intent", "fix the bug"), _intent_finish, _intent_completed),
    Scenario("queue", _two_workspaces, ("collapse", "s1", "s2", "--gate", "true"), _queue_finish, _queue_completed),
    Scenario("update", _behind, ("sws", "update", "s1"), lambda p: jitos("sws", "update", "s1") and None,
             _update_completed),
]


# -- running ---------------------------------------------------------------------


def _process(path: Path, args: tuple[str, ...], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from jitos_cli.main import main; sys.exit(main())",
                           *args], cwd=path, capture_output=True, text=True, env={**os.environ, **env},
                          check=False, timeout=120)


def _copy(source: Path, target: Path) -> None:
    """Byte for byte, special files (overlay whiteouts) and OverlayFS's mode-000
    work folders included, at a fixed path; a user who is not root copies
    inside a user namespace of their own, where they may."""
    inside = [] if os.geteuid() == 0 else ["unshare", "-Ur"]
    if target.exists():
        subprocess.run([*inside, "rm", "-rf", str(target)], check=True)
    subprocess.run([*inside, "cp", "-a", str(source), str(target)], check=True)


@dataclass(frozen=True)
class Traced:
    points: tuple[str, ...]  # "name@n", in the order the operation reaches them
    history: str
    branch: str


def _trace(scenario: Scenario, path: Path, template: Path, trace: Path) -> Traced:
    _copy(template, path)
    done = _process(path, scenario.operation, JITOS_FAULT_TRACE=str(trace))
    assert done.returncode == 0, f"{scenario.operation}: {done.stderr}"
    seen: dict[str, int] = {}
    points = []
    for line in trace.read_text().splitlines():
        name = line.split()[0]
        seen[name] = seen.get(name, 0) + 1
        points.append(f"{name}@{seen[name]}")
    return Traced(tuple(points), git(path, "rev-parse", "refs/jitos/history"), git(path, "rev-parse", "main"))


def _chosen(points: tuple[str, ...], everything: bool) -> list[str]:
    """Every point, or the one right after the operation's last ref move (where an
    outside run found a checkout left behind)."""
    if everything:
        return list(points)
    return [points[max(i for i, p in enumerate(points) if p.startswith("refs.moved@"))]]


def _kill_at(scenario: Scenario, point: str, path: Path, template: Path, before: dict[str, str],
             after: Traced, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Kill the operation at `point` and check what is left; False when this run
    passed fewer times there than the trace did (see `_run`): it then must
    have completed normally."""
    from kernel.verify import verify

    monkeypatch.chdir(path.parent)
    _copy(template, path)
    monkeypatch.chdir(path)
    done = _process(path, scenario.operation, JITOS_FAULT=point)
    where = f"{scenario.name}, killed at {point}"
    if done.returncode == 0:
        scenario.completed(path)
        return False
    assert done.returncode == -signal.SIGKILL, f"{where}: exit {done.returncode} {done.stderr}"
    head = git(path, "rev-parse", "refs/jitos/history")
    assert git(path, "merge-base", "--is-ancestor", before["history"], head) == "", f"{where}: an event was lost"
    assert git(path, "rev-parse", "main") in (before["branch"], after.branch), f"{where}: branch neither old nor new"
    from kernel.base.repo import open_repo

    found = verify(open_repo(path))
    assert found.ok or all("jitos command" in p for p in found.problems), f"{where}: {found.problems}"
    jitos("status")  # any command makes the repair verify named
    assert verify(open_repo(path)).ok, f"{where}, after `jitos status`: {verify(open_repo(path)).problems}"
    scenario.finish(path)
    scenario.completed(path)
    assert verify(open_repo(path)).ok, f"{where}, after finishing: {verify(open_repo(path)).problems}"
    return True


def _template(folder: Path, prepare: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A repository at `folder/repo` in the state `prepare` leaves it, copied to
    `folder/template`; the paths of both."""
    path, template = folder / "repo", folder / "template"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit_files(path, {"README.md": "hello\n"}, "initial")
    with monkeypatch.context() as inside:
        inside.chdir(path)
        prepare(path)
    _copy(path, template)
    return path, template


def _run(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, everything: bool) -> list[str]:
    path, template = _template(tmp_path, scenario.prepare, monkeypatch)
    shutil.rmtree(path, ignore_errors=True)
    before = {"history": git(template, "rev-parse", "refs/jitos/history"), "branch": git(template, "rev-parse", "main")}
    after = _trace(scenario, path, template, tmp_path / "trace")
    REACHED[scenario.name] = {p.partition("@")[0] for p in after.points}
    # An operation's writes can vary a little from run to run (a step's output
    # identical to one already stored is not written again), so a point's N-th
    # pass may not come: such a run must complete normally, and nearly every
    # point must still be killed at.
    chosen = _chosen(after.points, everything)
    killed = sum(_kill_at(scenario, point, path, template, before, after, monkeypatch) for point in chosen)
    assert killed >= 0.9 * len(chosen), f"{scenario.name}: killed at only {killed} of {len(chosen)} points"
    return [p.partition("@")[0] for p in after.points]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_kill_at_sampled_fault_points_loses_nothing(scenario: Scenario, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(_run(scenario, tmp_path, monkeypatch, everything=False)) <= points_in_code()


@pytest.mark.faults
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_kill_at_every_fault_point_loses_nothing(scenario: Scenario, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(_run(scenario, tmp_path, monkeypatch, everything=True)) <= points_in_code()


def test_every_fault_point_in_the_code_is_reached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reached: set[str] = set().union(*REACHED.values())
    for scenario in (s for s in SCENARIOS if s.name not in REACHED):
        folder = tmp_path / scenario.name
        folder.mkdir()
        path, template = _template(folder, scenario.prepare, monkeypatch)
        reached |= {p.partition("@")[0] for p in _trace(scenario, path, template, folder / "trace").points}
    assert points_in_code() - reached == set(), "fault points no crash scenario reaches"


def test_a_fault_point_is_inert_without_the_variables() -> None:
    from kernel.base import faults

    assert not faults._ON or os.environ.get("JITOS_FAULT") or os.environ.get("JITOS_FAULT_TRACE")
    faults.point("file.written")  # returns: this test process is still here


def _killed_after_event(path: Path, template: Path, trace: Path, args: tuple[str, ...], kind: str) -> None:
    """Run `args` from the template, killed right after the ref move that records the first `kind` event."""
    lines = trace.read_text().splitlines()
    at = lines.index(f"history.written {kind}")
    name = next(line for line in lines[at:] if line == "refs.moved")
    nth = sum(1 for line in lines[:at] if line == name) + 1
    _copy(template, path)
    assert _process(path, args, JITOS_FAULT=f"{name}@{nth}").returncode == -signal.SIGKILL


@pytest.mark.parametrize("kind", ["task", "collapse"])
def test_a_task_killed_right_after_its_task_or_collapse_event_is_finished_by_resume(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, template = _template(tmp_path, _buggy, monkeypatch)
    _trace(next(s for s in SCENARIOS if s.name == "intent"), path, template, tmp_path / "trace")
    _killed_after_event(path, template, tmp_path / "trace", ("intent", "fix the bug"), kind)
    monkeypatch.chdir(path)
    task = json.loads(jitos("status", "--json").stdout)["tasks"][0]
    assert task["state"] in ("planned", "running", "interrupted")
    jitos("resume", task["id"])  # no --retry-step: nothing here needs a person to decide
    _intent_completed(path)
    kinds = [e["kind"] for e in json.loads(jitos("log", "--json").stdout)]
    assert kinds.count("collapse") == 1 and kinds.count("plan") == 1


def test_an_undo_killed_after_making_its_workspace_still_undoes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path, template = _template(tmp_path, _landed, monkeypatch)
    _trace(SCENARIOS[4], path, template, tmp_path / "trace")
    _killed_after_event(path, template, tmp_path / "trace", ("undo", "--gate", "true"), "sws-new")
    monkeypatch.chdir(path)
    jitos("undo", "--gate", "true")  # before: "nothing to undo", and the collapse stayed
    _undo_completed(path)
    assert [e["kind"] for e in json.loads(jitos("log", "--json").stdout)].count("collapse") == 2
