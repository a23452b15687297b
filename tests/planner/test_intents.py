"""Intent text → task call."""

from __future__ import annotations

from pathlib import Path

from kernel.planner.intents import match_intent
from kernel.planner.model import TaskCall
from tests.planner.helpers import domain_from

LIB = """
[task.fix]
params = ["?what"]
[task.bump]
params = ["?dep"]
[intent.fix]
task = "fix"
keywords = ["fix", "bug"]
args = ["{text}"]
[intent.bump]
task = "bump"
preference = 1
patterns = ['\\bbump\\s+(?P<dep>\\S+)']
args = ["{dep}"]
"""


def test_pattern_captures_become_task_arguments(tmp_path: Path) -> None:
    found = match_intent(domain_from(tmp_path, LIB), "please Bump requests now")
    assert found is not None and found.call == TaskCall("bump", ("requests",))


def test_keywords_must_all_occur_as_words(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, LIB)
    assert match_intent(domain, "fix the debugger") is None
    found = match_intent(domain, "Fix the  bug in slug()")
    assert found is not None and found.call == TaskCall("fix", ("Fix the bug in slug()",))


def test_higher_preference_intent_wins_when_both_match(tmp_path: Path) -> None:
    found = match_intent(domain_from(tmp_path, LIB), "fix bug: bump lxml")
    assert found is not None and found.intent == "bump"
