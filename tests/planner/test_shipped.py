"""The shipped methods plan on any repository, configured or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.planner.model import Plan
from kernel.planner.request import plan_request

CONFIG = """
[gate]
command = ["make", "check"]
[test]
command = ["pytest", "-q"]
[workers.agent]
command = ["agent", "--yes"]
"""


def _plan(repo: Path, text: str) -> Plan:
    planned = plan_request(text, cwd=repo, config=open_repo(repo).config().raw)
    assert planned.result.plans, planned.result.failure
    return planned.result.plans[0]


@pytest.fixture
def configured(repo: Path) -> Path:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text(CONFIG)
    return repo


def test_fix_bug_reproduces_then_fixes_tests_and_collapses(configured: Path) -> None:
    plan = _plan(configured, "fix the bug in slug()")
    assert [s.id for s in plan.steps] == [
        "reproduce.write.agent-edit", "reproduce.snapshot", "reproduce.check.run-tests-expect-fail",
        "fix.agent-edit", "snapshot", "test.run-tests", "collapse"]


def test_fix_bug_reproduction_is_expected_to_fail(configured: Path) -> None:
    step = _plan(configured, "fix the bug in slug()").steps[2]
    assert (step.execution.expect, step.execution.argv) == ("fail", ("pytest", "-q"))


def test_agent_steps_use_the_configured_agent_command(configured: Path) -> None:
    step = _plan(configured, "fix the bug in slug()").steps[3]
    assert step.execution.worker == "agent"
    assert step.execution.argv[:2] == ("agent", "--yes")
    assert "fix the bug in slug()" in step.execution.argv[2]


def test_tests_fall_back_to_the_gate_command(repo: Path) -> None:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text('[gate]\ncommand = ["make", "check"]\n')
    step = _plan(repo, "refactor the parser").steps[0]
    assert (step.name, step.execution.argv) == ("run-gate", ("make", "check"))


def test_unconfigured_repository_still_gets_a_plan_with_human_steps(repo: Path) -> None:
    plan = _plan(repo, "fix the bug in slug()")
    assert {s.execution.worker for s in plan.steps} == {"human", "snapshot", "collapse"}
    assert all(not s.missing for s in plan.steps)


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("refactor the config loader", "refactor"),
        ("add tests for the slug helper", "add-test"),
        ("upgrade requests", "upgrade-dependency"),
        ("investigate why the build is slow", "investigate"),
        ("fix the flaky parser test", "fix-bug"),
    ],
)
def test_each_shipped_intent_plans_on_a_configured_repository(
    configured: Path, text: str, task: str
) -> None:
    plan = _plan(configured, text)
    assert plan.task == task
    assert all(not s.missing for s in plan.steps)


def test_upgrade_baseline_and_changelog_steps_can_run_in_parallel(configured: Path) -> None:
    steps = {s.id: s for s in _plan(configured, "upgrade requests").steps}
    assert steps["baseline.run-tests"].after == ()
    assert steps["changes.read"].after == ()
    assert steps["upgrade.agent-edit"].after == ("baseline.run-tests", "changes.read")


def test_investigate_collapses_nothing(configured: Path) -> None:
    plan = _plan(configured, "investigate why the build is slow")
    assert "collapse" not in {s.execution.worker for s in plan.steps}


def test_a_test_for_a_bug_is_an_add_test_intent(configured: Path) -> None:
    planned = plan_request("add a test for the bug in slug()", cwd=configured)
    assert planned.intent == "add-test"


def test_text_merely_mentioning_a_bug_plans_a_fix(configured: Path) -> None:
    planned = plan_request("the parser bug on empty input", cwd=configured)
    assert (planned.intent, planned.result.task.name) == ("bug-mentioned", "fix-bug")
