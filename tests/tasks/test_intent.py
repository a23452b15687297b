"""`jitos intent`, `resume` and `demo` end to end, with real repositories,
real test commands, a scripted agent and real signals; nothing is mocked."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.record import history
from kernel.tasks.intent import declare, resume
from kernel.verify import verify
from kernel.workspace.backend import for_repo
from kernel.workspace.overlayfs import OverlayWorkspace
from tests import edits
from tests.conftest import git, jitos
from tests.edits import shown_outside


def kinds(repo: Path, task: str = "t1") -> list[str]:
    return [r.event.kind for r in history.events(open_repo(repo)) if r.event.links.get("task") == task]


def test_intent_fixes_the_bug_end_to_end(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    done = jitos("intent", "fix the bug", "--json")
    data = json.loads(done.stdout)
    assert set(data) >= {"task", "sws", "state", "system"} and data["state"] == "done"
    assert "title.lower().split()" in git(repo, "show", "main:slugify.py")
    assert "title.lower().split()" in (repo / "slugify.py").read_text()
    status = json.loads(jitos("status", "--json").stdout)
    assert status["tasks"][0]["id"] == "t1" and status["tasks"][0]["state"] == "done"
    why = jitos("why", "t1").stdout
    assert "fix-bug" in why and "landed as" in why
    body = git(repo, "log", "-1", "--format=%B")
    for trailer in ("Jitos-Intent: fix the bug", "Jitos-Task: t1", "Jitos-Step: collapse", "Jitos-Gate:"):
        assert trailer in body
    assert verify(open_repo(repo)).ok


def test_event_sequence_is_task_plan_workspace_steps(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    declare(open_repo(repo), "fix the bug")
    seq = kinds(repo)
    assert seq[:3] == ["task", "plan", "sws-new"]
    assert seq.count("dispatch") == seq.count("result") == 7
    assert seq[-3:] == ["gate-passed", "collapse", "result"]
    plan = next(r.event for r in history.events(open_repo(repo)) if r.event.kind == "plan")
    assert plan.data["plan"]["steps"][0]["id"] == "reproduce.write.agent-edit"
    assert plan.data["candidates"]


def test_unmatched_intent_exits_2_listing_tasks(buggy_repo: Callable[..., Path]) -> None:
    buggy_repo()
    done = jitos("intent", "water the plants", check=2)
    assert "Tasks that exist:" in done.stderr and "fix-bug" in done.stderr
    assert kinds(Path.cwd()) == []


def test_an_intent_over_64_kib_is_refused_before_anything_is_recorded(
    buggy_repo: Callable[..., Path],
) -> None:
    repo = buggy_repo()
    done = jitos("intent", "fix the bug " + "x" * 128_000, check=2)
    assert "128012 bytes; the limit is 65536 bytes (64 KiB)" in done.stderr
    assert done.stderr.count("\n") == 1
    assert kinds(repo) == [] and "Tasks that exist" not in done.stderr


def test_missing_agent_command_exits_2_before_any_workspace(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent=["/nonexistent/agent"])
    done = jitos("intent", "fix the bug", check=2)
    assert "does not exist" in done.stderr
    assert [r.event.kind for r in history.events(open_repo(repo))] == ["init"]
    assert not (repo / ".git" / "jitos" / "ws" / "s1").exists()


def test_non_executable_agent_command_exits_2(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent=["./agent.py"])
    assert "not executable" in jitos("intent", "fix the bug", check=2).stderr
    assert [r.event.kind for r in history.events(open_repo(repo))] == ["init"]


def test_step_timeout_fails_the_task_and_is_recorded(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent_source="import time\ntime.sleep(30)\n", extra="timeout = 1\n")
    task = declare(open_repo(repo), "fix the bug")
    assert task.state == "failed"
    step = task.steps[0]
    assert step.status == "failed" and "timed out" in step.reason and step.attempts == 2  # retries = 1
    assert task.sws is not None and (repo / ".git" / "jitos" / "ws" / task.sws).is_dir()


def test_worker_writing_outside_its_workspace_is_refused(buggy_repo: Callable[..., Path], tmp_path: Path) -> None:
    agent = (
        "import os, pathlib\n"
        "pathlib.Path(os.environ['OUTSIDE']).write_text('tampered')\n"
    )
    repo = buggy_repo(agent_source=agent, extra='env = ["OUTSIDE"]\n')
    os.environ["OUTSIDE"] = str(repo / "slugify.py")
    try:
        task = declare(open_repo(repo), "fix the bug")
    finally:
        del os.environ["OUTSIDE"]
    assert task.state == "failed"
    reason = task.steps[0].reason
    assert reason.startswith("refused:") and "wrote outside its workspace" in reason and "slugify.py" in reason
    if isinstance(for_repo(open_repo(repo)), OverlayWorkspace):  # refused at the write, not found afterwards
        assert (repo / "slugify.py").read_text() != "tampered"


def test_intent_text_is_never_executed(buggy_repo: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"fix the bug \"'; touch {marker}; $(touch {marker}) `touch {marker}`\nrm -rf /"
    repo = buggy_repo()
    task = declare(open_repo(repo), text)
    assert task.state == "done" and task.intent == text
    assert not marker.exists()


def test_plan_only_records_task_and_plan_and_runs_nothing(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    task = declare(open_repo(repo), "fix the bug", plan_only=True)
    assert task.state == "planned" and kinds(repo) == ["task", "plan"]
    assert resume(open_repo(repo), task.id).state == "done"


def test_retries_repeat_a_failing_step_then_stop(buggy_repo: Callable[..., Path], tmp_path: Path) -> None:
    count = tmp_path / "count"
    agent = f"import sys\nopen({str(count)!r}, 'a').write('x')\nsys.exit(3)\n"
    repo = buggy_repo(agent_source=agent)
    task = declare(open_repo(repo), "fix the bug")
    assert task.state == "failed" and count.read_text() == "xx"
    assert task.steps[0].reason == "exit 3"


HUMAN_METHODS = """
[task.review]
params = ["?what"]
[primitive.ask]
params = ["?what"]
worker = "human"
prompt = "Review {what} in the workspace"
capabilities = ["workspace:write"]
[method.review-by-hand]
task = "review"
subtasks = [{ id = "ask", task = "ask ?what" }, { id = "collapse", task = "collapse" }]
[intent.review]
task = "review"
keywords = ["review"]
args = ["{text}"]
"""


def test_human_step_waits_and_resume_records_the_edits(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(methods={"review.toml": HUMAN_METHODS})
    task = declare(open_repo(repo), "review the slug code")
    assert task.state == "waiting" and "Review" in task.why()
    assert task.sws is not None
    edits.write(repo / ".git" / "jitos" / "ws" / task.sws, "slugify.py",
                "def slug(title):\n    return '-'.join(title.lower().split())\n")
    done = resume(open_repo(repo), task.id)
    assert done.state == "done"
    assert "lower()" in git(repo, "show", "main:slugify.py")


def test_human_step_can_be_answered_no(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(methods={"review.toml": HUMAN_METHODS})
    task = declare(open_repo(repo), "review the slug code")
    failed = resume(open_repo(repo), task.id, failed="not convinced")
    assert failed.state == "failed" and "not convinced" in failed.steps[0].reason


PARALLEL_METHODS = r"""
[task.checks]
params = []
[primitive.check]
params = ["?name"]
worker = "shell"
argv = ["sh", "-c", "echo checking \"$1\"", "sh", "{name}"]
capabilities = ["workspace:read"]
idempotent = true
[method.three-checks]
task = "checks"
ordered = false
subtasks = [
  { id = "a", task = "check alpha" },
  { id = "b", task = "check beta" },
  { id = "c", task = "check gamma" },
]
"""

RENDEZVOUS_METHODS = r"""
[task.meet]
params = []
[primitive.wait-for]
params = ["?mine", "?other"]
worker = "shell"
argv = ["sh", "-c", "touch \"$1\"; i=0; while [ ! -e \"$2\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; test -e \"$2\"", "sh", "{mine}", "{other}"]
capabilities = ["workspace:read"]
idempotent = true
[method.meet]
task = "meet"
ordered = false
subtasks = [
  { id = "a", task = "wait-for /tmp/JITOS_A /tmp/JITOS_B" },
  { id = "b", task = "wait-for /tmp/JITOS_B /tmp/JITOS_A" },
]
"""


def test_parallel_history_equals_sequential_history(buggy_repo: Callable[..., Path]) -> None:
    ids = []
    for jobs, name in ((1, "seq"), (3, "par")):
        repo = buggy_repo(name=name, methods={"checks.toml": PARALLEL_METHODS})
        task = declare(open_repo(repo), "", task_call=("checks", []), jobs=jobs)
        assert task.state == "done"
        ids.append(git(repo, "rev-parse", "refs/jitos/history"))
    assert ids[0] == ids[1]


def test_parallel_steps_really_run_together(buggy_repo: Callable[..., Path], tmp_path: Path) -> None:
    methods = RENDEZVOUS_METHODS.replace("/tmp/JITOS_", f"{tmp_path}/m_")
    repo = buggy_repo(methods={"meet.toml": methods})
    task = declare(open_repo(repo), "", task_call=("meet", []), jobs=2)
    assert task.state == "done"


# The first "Fix" run holds (as a slow agent would) while `$HOME/hold-agent`
# exists, so a test can kill or interrupt it mid-step and then let it go; a
# re-run after resume does not hold, so nobody waits out a fixed sleep.
SLOW_AGENT = (
    "import os, pathlib, sys, time\n"
    "if sys.argv[-1].startswith('Fix'):\n"
    "    runs = pathlib.Path(os.environ['HOME']) / 'agent-runs'\n"
    "    runs.write_text(runs.read_text() + '1' if runs.exists() else '1')\n"
    "    pathlib.Path('started').write_text('1')\n"
    "    hold = pathlib.Path(os.environ['HOME']) / 'hold-agent'\n"
    "    deadline = time.monotonic() + 60\n"
    "    while len(runs.read_text()) == 1 and hold.exists() and time.monotonic() < deadline:\n"
    "        time.sleep(0.02)\n"
    "    p = pathlib.Path('slugify.py')\n"
    "    p.write_text(p.read_text().replace('title.split()', 'title.lower().split()'))\n"
    "    pathlib.Path('started').unlink()\n"
)


def hold_agent() -> Path:
    """Make the next slow agent hold until the returned file is removed."""
    hold = Path(os.environ["HOME"]) / "hold-agent"
    hold.write_text("")
    return hold


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} never appeared"


def start_intent(repo: Path, ignoring_ctrl_c: bool = False) -> subprocess.Popen[str]:
    """`jitos intent "fix the bug"` as a real process; `ignoring_ctrl_c`: started
    with SIGINT ignored, as `cmd &` in a script starts it."""
    argv = [sys.executable, "-c", "import sys; from jitos_cli.main import main; sys.exit(main())", "intent", "fix the bug"]
    if ignoring_ctrl_c:  # the shell ignores SIGINT, then becomes jitos: jitos starts with it ignored
        argv = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
    return subprocess.Popen(argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_crash_mid_step_then_resume_with_retry_step(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent_source=SLOW_AGENT)
    hold = hold_agent()
    proc = start_intent(repo)
    marker = shown_outside(repo, "s1", "started")
    wait_for(marker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    hold.unlink()
    while marker.exists():  # the orphaned agent finishes on its own
        time.sleep(0.05)
    status = json.loads(jitos("status", "--json").stdout)
    assert status["tasks"][0]["state"] == "interrupted"
    assert verify(open_repo(repo)).ok
    stopped = jitos("resume", "t1", check=2)
    assert "--retry-step" in stopped.stderr
    done = json.loads(jitos("resume", "t1", "--retry-step", "--json").stdout)
    assert done["state"] == "done"
    dispatches = [r.event.links["step"] for r in history.events(open_repo(repo)) if r.event.kind == "dispatch"]
    assert dispatches.count("reproduce.write.agent-edit") == 1  # finished steps are not re-run
    assert dispatches.count("fix.agent-edit") == 2
    assert verify(open_repo(repo)).ok


def test_demo_fixes_its_bug(tmp_path: Path) -> None:
    done = jitos("demo", "--dir", str(tmp_path / "demo"))
    assert "task t1: done" in done.stdout and "Jitos-Intent:" in done.stdout
    assert "failed as expected" in done.stderr


def test_demo_refuses_a_folder_that_is_not_empty_or_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine\n")
    assert "is not empty; pick a new folder" in jitos("demo", "--dir", str(tmp_path / "full"), check=2).stderr
    (tmp_path / "file").write_text("mine\n")
    assert "is a file; pick a new folder" in jitos("demo", "--dir", str(tmp_path / "file"), check=2).stderr
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize("started", ["from a terminal", "with Ctrl-C ignored (cmd & in a script)"])
def test_ctrl_c_records_the_step_as_interrupted_and_keeps_the_workspace(buggy_repo: Callable[..., Path],
                                                                        started: str) -> None:
    repo = buggy_repo(agent_source=SLOW_AGENT)
    hold_agent()
    proc = start_intent(repo, ignoring_ctrl_c=started != "from a terminal")
    marker = shown_outside(repo, "s1", "started")
    wait_for(marker)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = history.events(open_repo(repo))[-1].event
    assert last.kind == "result" and last.data["status"] == "interrupted" and last.links["step"] == "fix.agent-edit"
    assert (repo / ".git" / "jitos" / "ws" / "s1").is_dir()
    assert json.loads(jitos("status", "--json").stdout)["tasks"][0]["state"] == "interrupted"
    assert verify(open_repo(repo)).ok


def test_a_conflict_the_task_cannot_resolve_stops_it_with_exit_3_and_says_what_to_do(
        buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(methods={"review.toml": HUMAN_METHODS})
    task = declare(open_repo(repo), "review the slug code")
    assert task.sws is not None
    edits.write(repo / ".git" / "jitos" / "ws" / task.sws, "slugify.py", "# mine\n")
    git(repo, "rm", "-q", "slugify.py")  # deleted on the branch, edited in the workspace: not for markers
    git(repo, "commit", "-qm", "outside deletion")
    done = jitos("resume", task.id, "--json", check=3)
    assert json.loads(done.stdout)["state"] == "failed"
    assert git(repo, "ls-tree", "main", "slugify.py") == ""
    why = jitos("why", task.id).stdout
    assert "deleted in the system" in why and "put the version you want into the workspace" in why, why
    assert f"`jitos resume {task.id} --retry-step`" in why
    kinds = [r.event.kind for r in history.events(open_repo(repo))]
    assert "extend" not in kinds


def test_a_conflict_resolved_by_hand_lets_the_retried_collapse_go_on(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(methods={"review.toml": HUMAN_METHODS})
    task = declare(open_repo(repo), "review the slug code")
    assert task.sws is not None
    edits.write(repo / ".git" / "jitos" / "ws" / task.sws, "slugify.py", "# mine\n")
    git(repo, "rm", "-q", "slugify.py")
    git(repo, "commit", "-qm", "outside deletion")
    jitos("resume", task.id, check=3)
    edits.remove(repo / ".git" / "jitos" / "ws" / task.sws, "slugify.py")  # the person accepts the deletion
    jitos("sws", "snapshot", task.sws)
    # The retried collapse gets past the conflict: the workspace now adds nothing, so the task is done.
    again = json.loads(jitos("resume", task.id, "--retry-step", "--json").stdout)
    assert again["state"] == "done" and again["steps"][-1]["reason"].startswith("nothing to land"), again


READ_ONLY_METHODS = r"""
[task.peek]
params = []
[primitive.try-write]
params = []
worker = "shell"
argv = ["sh", "-c", "echo x > written-by-a-reader"]
capabilities = ["workspace:read"]
idempotent = true
[method.peek]
task = "peek"
subtasks = [{ id = "w", task = "try-write" }]
"""


def test_a_step_that_only_reads_writes_to_a_private_folder_that_is_discarded(
        buggy_repo: Callable[..., Path]) -> None:
    import pytest

    repo = buggy_repo(methods={"peek.toml": READ_ONLY_METHODS})
    if not isinstance(for_repo(open_repo(repo)), OverlayWorkspace):
        pytest.skip("a worktree workspace cannot divert a step's writes")
    task = declare(open_repo(repo), "", task_call=("peek", []))
    assert task.state == "done" and task.steps[0].reason == "exit 0"  # its write succeeded, privately
    assert not shown_outside(repo, "s1", "written-by-a-reader").exists()
    assert not list((repo / ".git" / "jitos" / "tmp").glob("private-*"))  # and was discarded


RESOLVING_AGENT = (
    "import pathlib, re, sys\n"
    "if 'conflict markers' in sys.argv[-1]:\n"
    "    p = pathlib.Path('slugify.py')\n"
    "    block = re.compile(r'<<<<<<< system\\n.*?=======\\n(.*?)>>>>>>> workspace\\n', re.S)\n"
    "    p.write_text(block.sub(lambda m: m.group(1), p.read_text()))\n"
    "print('agent saw:', sys.argv[-1])\n"
)


def test_a_task_whose_collapse_conflicts_resolves_it_with_its_methods_and_lands(
        buggy_repo: Callable[..., Path]) -> None:
    from tests.tasks.conftest import BUGGY

    repo = buggy_repo(agent_source=RESOLVING_AGENT, methods={"review.toml": HUMAN_METHODS})
    task = declare(open_repo(repo), "review the slug code")
    assert task.sws is not None and task.state == "waiting"
    fixed = BUGGY.replace("title.split()", "title.lower().split()")
    edits.write(repo / ".git" / "jitos" / "ws" / task.sws, "slugify.py", fixed)  # the person's review: the fix
    (repo / "slugify.py").write_text(BUGGY.replace("title.split()", "title.strip().split()"))  # the same line
    git(repo, "commit", "-qam", "outside edit of the same line")
    done = resume(open_repo(repo), task.id)
    assert done.state == "done", done.why()
    steps = {s.id: s.status for s in done.steps}
    assert steps["collapse"] == "superseded"
    assert [i for i in steps if i.startswith("resolve-conflict.")] and all(
        status == "ok" for i, status in steps.items() if i.startswith("resolve-conflict."))
    assert "title.lower().split()" in git(repo, "show", "main:slugify.py")
    assert "<<<<<<<" not in git(repo, "show", "main:slugify.py")
    kinds = [r.event.kind for r in history.events(open_repo(repo))]
    assert "extend" in kinds and kinds.count("collapse") == 1
    assert verify(open_repo(repo)).ok


def test_killed_after_adding_the_resolving_steps_resume_goes_on_with_them(
        buggy_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel.tasks import scheduler
    from tests.tasks.conftest import BUGGY

    repo = buggy_repo(agent_source=RESOLVING_AGENT, methods={"review.toml": HUMAN_METHODS})
    task = declare(open_repo(repo), "review the slug code")
    assert task.sws is not None
    edits.write(repo / ".git" / "jitos" / "ws" / task.sws, "slugify.py",
                BUGGY.replace("title.split()", "title.lower().split()"))
    (repo / "slugify.py").write_text(BUGGY.replace("title.split()", "title.strip().split()"))
    git(repo, "commit", "-qam", "outside edit of the same line")
    real = scheduler.Runner.result

    def dies_before_the_collapse_result(self: scheduler.Runner, task: object, ps: dict[str, object],
                                        *args: object, **kwargs: object) -> object:
        if ps["id"] == "collapse":
            raise KeyboardInterrupt  # killed right after the extend event
        return real(self, task, ps, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(scheduler.Runner, "result", dies_before_the_collapse_result)
        with pytest.raises(KeyboardInterrupt):
            resume(open_repo(repo), task.id)
    assert "extend" in [r.event.kind for r in history.events(open_repo(repo))]
    done = resume(open_repo(repo), task.id)
    assert done.state == "done", done.why()
    assert "title.lower().split()" in git(repo, "show", "main:slugify.py")
