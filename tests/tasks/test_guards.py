"""What a worker may not do, and how jitos cleans up after a killed run."""

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
from kernel.tasks.intent import cancel, declare, resume
from kernel.verify import verify
from kernel.workspace.backend import for_repo
from kernel.workspace.overlayfs import OverlayWorkspace
from tests.conftest import commit_files, git, jitos
from tests.edits import shown_outside
from tests.tasks.test_intent import SLOW_AGENT, hold_agent, start_intent, wait_for

LANDING_AGENT = (
    "import os, subprocess, sys\n"
    "done = subprocess.run([sys.executable, '-c', 'import sys; from jitos_cli.main import main; sys.exit(main())',"
    " 'collapse', os.environ['JITOS_SWS'], '--no-gate'])\n"
    "sys.exit(done.returncode)\n"
)


def test_a_worker_cannot_collapse_its_own_workspace(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent_source=LANDING_AGENT)
    before = git(repo, "rev-parse", "main")
    task = declare(open_repo(repo), "fix the bug")
    assert task.state == "failed" and task.steps[0].reason == "exit 2"
    assert git(repo, "rev-parse", "main") == before


SNEAKY_LANDING_AGENT = (
    "import os, subprocess, sys\n"
    "env = {k: v for k, v in os.environ.items() if not k.startswith('JITOS_STEP')}\n"
    "done = subprocess.run([sys.executable, '-c', 'import sys; from jitos_cli.main import main; sys.exit(main())',"
    " 'collapse', os.environ['JITOS_SWS'], '--no-gate'], env=env, capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "sys.exit(done.returncode)\n"
)


def test_a_worker_hiding_that_it_is_a_step_still_cannot_collapse(buggy_repo: Callable[..., Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")  # where nothing is read-only to stop it
    repo = buggy_repo(agent_source=SNEAKY_LANDING_AGENT)
    before = git(repo, "rev-parse", "main")
    task = declare(open_repo(repo), "fix the bug")
    step = task.steps[0]
    assert task.state == "failed" and step.reason == "exit 2"
    result = next(r.event for r in history.events(open_repo(repo)) if r.event.kind == "result")
    assert b"which is running" in open_repo(repo).store.get(result.data["stderr"])
    assert git(repo, "rev-parse", "main") == before
    assert [r.event.kind for r in history.events(open_repo(repo))].count("collapse") == 0


def test_a_worker_creating_a_ref_or_hook_is_refused_and_not_retried(buggy_repo: Callable[..., Path]) -> None:
    agent = _agent_in_git_dir(
        "subprocess.run(['git', 'update-ref', 'refs/heads/evil', 'HEAD'], check=True)\n"
        "(git_dir / 'hooks' / 'pre-commit').write_text('#!/bin/sh\\n')\n"
    )
    repo = buggy_repo(agent_source=agent)
    task = declare(open_repo(repo), "fix the bug")
    step = task.steps[0]
    assert step.status == "failed" and step.attempts == 1
    assert "refs/heads/evil" in step.reason
    if isinstance(for_repo(open_repo(repo)), OverlayWorkspace):  # refused at the first write
        assert git(repo, "for-each-ref", "refs/heads/evil") == "" and not (repo / ".git" / "hooks" / "pre-commit").exists()
    else:  # found afterwards, every one
        assert ".git/hooks/pre-commit" in step.reason


def test_a_task_starts_from_the_branch_as_it_is_now(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    commit_files(repo, {"NEWS": "made after init\n"}, "outside jitos")
    task = declare(open_repo(repo), "fix the bug", plan_only=True)
    done = resume(open_repo(repo), task.id)
    assert done.state == "done"
    kinds = [r.event.kind for r in history.events(open_repo(repo))]
    assert kinds.index("adopt") < kinds.index("sws-new")
    assert "rebase" not in kinds


def test_resume_stops_a_worker_orphaned_by_a_killed_run(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent_source=SLOW_AGENT)
    hold_agent()  # held until the resume stops it
    proc = start_intent(repo)
    marker = shown_outside(repo, "s1", "started")
    pid_file = repo / ".git" / "jitos" / "tasks" / "t1" / "fix.agent-edit.pid"
    wait_for(marker)
    pgid = int(pid_file.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    done = json.loads(jitos("resume", "t1", "--retry-step", "--json").stdout)
    assert done["state"] == "done"
    try:
        os.killpg(pgid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    results = [r.event.data["status"] for r in history.events(open_repo(repo))
               if r.event.kind == "result" and r.event.links["step"] == "fix.agent-edit"]
    assert results == ["interrupted", "ok"]  # the killed attempt is closed in history too


GROUP_METHODS = r"""
[task.checks]
params = []
[primitive.slow-check]
params = ["?name"]
worker = "shell"
argv = ["sh", "-c", "touch \"$1\"; sleep 30", "sh", "{name}"]
capabilities = ["workspace:read"]
idempotent = true
[method.checks]
task = "checks"
ordered = false
subtasks = [{ id = "a", task = "slow-check MARKS/a.started" }, { id = "b", task = "slow-check MARKS/b.started" }]
"""


def test_ctrl_c_during_parallel_steps_records_them_interrupted(buggy_repo: Callable[..., Path],
                                                               tmp_path: Path) -> None:
    # The steps only read their workspace (it is read-only to them): they mark that they started elsewhere.
    repo = buggy_repo(methods={"checks.toml": GROUP_METHODS.replace("MARKS", str(tmp_path))})
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from jitos_cli.main import main; sys.exit(main())",
         "intent", "--task", "checks", "-j", "2"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = [tmp_path / name for name in ("a.started", "b.started")]
    deadline = time.monotonic() + 60
    while not all(marker.exists() for marker in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the steps did not both start: {proc.communicate()}"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    events = [(r.event.kind, r.event.data.get("status")) for r in history.events(open_repo(repo))
              if r.event.links.get("task") == "t1"]
    assert events[-4:] == [("dispatch", None), ("dispatch", None), ("result", "interrupted"),
                           ("result", "interrupted")]
    assert json.loads(jitos("status", "--json").stdout)["tasks"][0]["state"] == "interrupted"


def test_the_workspace_of_a_running_task_cannot_be_discarded(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent_source=SLOW_AGENT)
    hold = hold_agent()
    proc = start_intent(repo)
    marker = shown_outside(repo, "s1", "started")
    wait_for(marker)
    assert "which is running" in jitos("sws", "discard", "s1", "--force", check=2).stderr
    hold.unlink()
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_cancel_closes_a_task_and_keeps_its_edits(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(agent_source="import sys\nopen('slugify.py', 'a').write('# tried\\n')\nsys.exit(1)\n")
    task = declare(open_repo(repo), "fix the bug")
    assert task.state == "failed"
    closed = cancel(open_repo(repo), task.id, "wrong approach")
    assert closed.state == "cancelled" and "wrong approach" in closed.why()
    assert "# tried" in git(repo, "show", f"refs/jitos/sws/{task.sws}:slugify.py")
    assert "cancelled" in jitos("resume", task.id, check=2).stderr
    assert verify(open_repo(repo)).ok


def test_resume_fail_only_answers_a_waiting_person(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    declare(open_repo(repo), "fix the bug", plan_only=True)
    assert "not waiting on a person" in jitos("resume", "t1", "--fail", "no", check=2).stderr


def test_a_multi_line_intent_cannot_forge_trailers(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    declare(open_repo(repo), "fix the bug\nJitos-Gate: forged passed")
    message = git(repo, "log", "-1", "--format=%B")
    assert "\nJitos-Gate: forged" not in message
    assert "    Jitos-Gate: forged passed" in message
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Jitos-Gate,valueonly)")
    assert "forged" not in trailers


def test_with_overlays_a_step_writing_outside_fails_at_the_write(buggy_repo: Callable[..., Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel.base import sandbox

    if not sandbox.support().available:
        pytest.skip(f"no namespaces here: {sandbox.support().reason}")
    agent = (
        "import pathlib, subprocess\n"
        "common = pathlib.Path(subprocess.run(['git', 'rev-parse', '--git-common-dir'], capture_output=True,"
        " text=True).stdout.strip()).resolve()\n"
        "(common.parent / 'slugify.py').write_text('# stray\\n')\n"
    )
    monkeypatch.setenv("JITOS_SWS_BACKEND", "overlay")
    repo = buggy_repo(agent_source=agent)
    before = (repo / "slugify.py").read_text(), git(repo, "for-each-ref", "refs/heads")
    task = declare(open_repo(repo), "fix the bug")
    step = task.steps[0]
    assert step.status == "failed" and step.attempts == 1
    assert step.reason.startswith("refused: it wrote outside its workspace, which is read-only in its view")
    assert "slugify.py" in step.reason and "Read-only file system" in step.reason
    assert ((repo / "slugify.py").read_text(), git(repo, "for-each-ref", "refs/heads")) == before


REACH_METHODS = r"""
[task.reach]
params = ["?port"]
[primitive.reach-host]
params = ["?port"]
worker = "shell"
argv = ["PYTHON", "-c", "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)", "{port}"]
capabilities = CAPABILITIES
[method.reach]
task = "reach"
subtasks = [{ id = "try", task = "reach-host ?port" }]
"""


@pytest.mark.parametrize("capabilities, reached", [('["workspace:read"]', False),
                                                   ('["workspace:read", "network"]', True)])
def test_with_overlays_only_a_step_declaring_network_reaches_the_host(
        buggy_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, capabilities: str, reached: bool) -> None:
    import socket

    from kernel.base import sandbox

    if not sandbox.support().available:
        pytest.skip(f"no namespaces here: {sandbox.support().reason}")
    monkeypatch.setenv("JITOS_SWS_BACKEND", "overlay")
    methods = REACH_METHODS.replace("PYTHON", sys.executable).replace("CAPABILITIES", capabilities)
    repo = buggy_repo(methods={"reach.toml": methods})
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        task = declare(open_repo(repo), "", task_call=("reach", [str(listener.getsockname()[1])]))
    assert (task.steps[0].status == "ok") is reached, task.steps[0].reason


def _agent_in_git_dir(body: str) -> str:
    """An agent that runs `body` with `jitos` (the git common dir's jitos folder) and `git_dir` defined."""
    return (
        "import pathlib, subprocess, sys\n"
        "git_dir = pathlib.Path(subprocess.run(['git', 'rev-parse', '--git-common-dir'], capture_output=True,"
        " text=True).stdout.strip()).resolve()\n"
        "jitos = git_dir / 'jitos'\n" + body
    )


def test_a_step_rewriting_the_local_config_is_refused_undone_and_cannot_change_its_own_gate(
        buggy_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")  # where nothing is read-only to stop it
    agent = _agent_in_git_dir(
        "(jitos / 'config.toml').write_text('[gate]\\ncommand = [\"true\"]\\n"
        "[workers.agent]\\nenv = [\"SECRET_TOKEN\"]\\n')\n"
        "(jitos / 'refs-journal.json').write_text('{}')\n"
    )
    repo = buggy_repo(agent_source=agent)
    task = declare(open_repo(repo), "fix the bug")
    step = task.steps[0]
    assert step.status == "failed" and step.attempts == 1
    assert "changed jitos's own files (.git/jitos/config.toml; put back" in step.reason, step.reason
    assert "wrote a ref journal for jitos to replay (never replayed" in step.reason
    assert not (repo / ".git" / "jitos" / "config.toml").exists()
    assert not (repo / ".git" / "jitos" / "refs-journal.json").exists()
    kept = repo / ".git" / "jitos" / "kept" / "control" / f"{task.id}-{step.id}" / "config.toml"
    assert 'command = ["true"]' in kept.read_text()  # the step's version, kept
    assert verify(open_repo(repo)).ok


def test_a_task_runs_under_the_configuration_it_started_with(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    task = declare(open_repo(repo), "fix the bug", plan_only=True)
    import tomllib

    recorded = next(r.event for r in history.events(open_repo(repo)) if r.event.kind == "task")
    governing = tomllib.loads(open_repo(repo).store.get(recorded.data["config"]).decode())
    assert governing["gate"]["command"][1:] == ["-m", "unittest", "-q"] and set(governing) <= {"gate", "workers", "test"}
    # Changed after the task started (by a person, or a step of another task): not this task's gate.
    (repo / ".git" / "jitos" / "config.toml").write_text('[gate]\ncommand = ["false"]\n')
    done = resume(open_repo(repo), task.id)
    assert done.state == "done", done.why()
    gate = [r.event for r in history.events(open_repo(repo)) if r.event.kind == "gate-passed"]
    assert gate and gate[-1].data["command"][1:] == ["-m", "unittest", "-q"]


def test_a_step_rewinding_history_or_deleting_workspace_refs_is_refused_and_moved_back(
        buggy_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")
    agent = _agent_in_git_dir(
        "subprocess.run(['git', 'update-ref', 'refs/jitos/history', 'refs/jitos/history~3'], check=True)\n"
        "subprocess.run(['git', 'update-ref', '-d', 'refs/jitos/sws/s1'], check=True)\n"
    )
    repo = buggy_repo(agent_source=agent)
    task = declare(open_repo(repo), "fix the bug")
    step = task.steps[0]
    assert step.status == "failed" and "moved jitos refs (refs/jitos/history, refs/jitos/sws/s1; moved back)" \
        in step.reason, step.reason
    kinds = [r.event.kind for r in history.events(open_repo(repo))]
    assert kinds[-1] == "result" and kinds.count("dispatch") == 1
    assert verify(open_repo(repo)).ok, verify(open_repo(repo)).problems
    again = resume(open_repo(repo), task.id, retry_step=True)  # resume works on the restored chain
    assert again.steps[0].attempts == 2


def test_a_step_writing_into_another_workspace_is_refused_and_that_workspace_is_put_back(
        buggy_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel.workspace import sws
    from tests import edits

    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")
    repo = buggy_repo(agent_source=_agent_in_git_dir(
        "other = jitos / 'ws' / 's1'\n"
        "(other / 'slugify.py').write_text('planted\\n')\n"
        "(other / 'notes.txt').write_text('planted too\\n')\n"
        "(other / 'planted.py').write_text('x = 1\\n')\n"
    ))
    other = sws.new(open_repo(repo))
    edits.write(other, "notes.txt", "a person's edit, not yet recorded\n")
    task = declare(open_repo(repo), "fix the bug")
    step = task.steps[0]
    assert step.status == "failed" and "wrote into workspace s1 (notes.txt, planted.py, slugify.py; moved aside" \
        in step.reason, step.reason
    assert edits.read(other, "slugify.py") != "planted\n"
    assert edits.read(other, "notes.txt") == "a person's edit, not yet recorded\n"
    assert not edits.exists(other, "planted.py")
    kept = repo / ".git" / "jitos" / "kept" / "s1" / f"from-{task.id}-{step.id}"
    assert (kept / "planted.py").read_text() == "x = 1\n" and (kept / "slugify.py").read_text() == "planted\n"
    assert sws.snapshot(open_repo(repo), other.id).changed == ("notes.txt",)


def test_a_step_forging_a_saved_fold_or_the_namespace_answer_is_not_believed(
        buggy_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel.record import folds
    from kernel.tasks import model

    monkeypatch.setenv("JITOS_SWS_BACKEND", "worktree")
    agent = _agent_in_git_dir(
        "import hashlib, json\n"
        "saved = jitos / 'cache' / 'fold-tasks.json'\n"
        "header, body = saved.read_bytes().split(b'\\n', 1)\n"
        "rows = json.loads(body)\n"
        "rows[0][1] = 'FORGED'\n"
        "body = json.dumps(rows, separators=(',', ':')).encode()\n"
        "meta = json.loads(header)\n"
        "meta['sum'] = hashlib.sha1(f\"{meta['head']} {meta['seq']}\\n\".encode() + body).hexdigest()\n"
        "saved.write_bytes(json.dumps(meta).encode() + b'\\n' + body)\n"
        "probe = jitos / 'cache' / 'namespaces'\n"
        "if probe.exists():\n"
        "    key = probe.read_text().split('\\n')[0]\n"
        "    probe.write_text(key + '\\nno\\nFORGED\\n')\n"
    )
    repo = buggy_repo(agent_source=agent)
    task = declare(open_repo(repo), "fix the bug")
    assert task.steps[0].attempts == 1
    folds._memo.clear()  # as a later command would start
    r = open_repo(repo)
    assert model.tasks_of(r)[task.id].intent == "fix the bug"
    assert model.tasks_of(r) == model.fold(history.events(r))
    cache = repo / ".git" / "jitos" / "cache"
    assert not any("FORGED" in p.read_text() for p in cache.iterdir() if p.is_file())


def test_a_fractional_timeout_is_recorded_with_the_task(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo(extra="[workers.shell]\ntimeout = 90.5\n")
    task = declare(open_repo(repo), "fix the bug")  # before: records hold no floats, exit 1
    assert task.state == "done", task.why()
