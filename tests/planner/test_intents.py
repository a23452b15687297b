"""Intent text → task call."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.intents import MATCH_PREFIX, MAX_INTENT_BYTES, check_intent_size, match_intent
from kernel.planner.model import TaskCall
from kernel.planner.request import library, plan_request
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


def test_keywords_beyond_the_matched_prefix_do_not_count(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, LIB)
    filler = "word " * (MATCH_PREFIX // 5)
    assert match_intent(domain, f"{filler}fix the bug") is None
    assert match_intent(domain, f"fix the bug {filler}") is not None


def test_patterns_see_the_prefix_and_text_is_the_whole_intent(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, LIB)
    filler = "word " * (MATCH_PREFIX // 5)
    assert match_intent(domain, f"{filler}bump lxml") is None
    found = match_intent(domain, f"fix the bug\n{filler}")
    assert found is not None and found.call.args == (f"fix the bug {filler}".strip(),)


def test_the_prefix_ends_at_a_word_boundary(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, LIB.replace('keywords = ["fix", "bug"]', 'keywords = ["bug"]'))
    filler = "w" * (MATCH_PREFIX - 4) + " "  # "bug" ends exactly at the prefix's end
    assert match_intent(domain, f"{filler}bug and more") is not None
    assert match_intent(domain, f"{filler}bugfix and more") is None


def test_a_long_text_built_to_slow_the_shipped_patterns_is_matched_on_its_prefix() -> None:
    # "fix fix fix …" makes `\bfix\b.*\bbug` backtrack over the whole text: on
    # all 64 KiB this took the shipped fix-bug pattern over half a minute.
    domain = library(repo=False).domain
    text = "fix " * ((MAX_INTENT_BYTES - 4) // 4) + "bug"
    check_intent_size(text)
    assert match_intent(domain, text) is None
    found = match_intent(domain, "fix the crash " + text)
    assert found is not None and found.intent == "fix-bug" and found.call.args == (
        " ".join(("fix the crash " + text).split()),
    )


def test_intent_text_up_to_the_limit_is_accepted() -> None:
    check_intent_size("x" * MAX_INTENT_BYTES)
    check_intent_size("é" * (MAX_INTENT_BYTES // 2))


def test_intent_text_over_the_limit_is_refused_in_bytes() -> None:
    with pytest.raises(BadInput) as info:
        check_intent_size("é" * (MAX_INTENT_BYTES // 2 + 1))
    assert f"{MAX_INTENT_BYTES + 2} bytes" in info.value.message
    assert info.value.exit_code == 2


def test_planning_a_128_kb_intent_is_refused_naming_its_size_and_the_limit(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        plan_request("fix the bug " + "x" * 128_000, cwd=tmp_path)
    message = info.value.message
    assert "128012 bytes" in message and f"{MAX_INTENT_BYTES} bytes" in message
    assert "file" in message and "\n" not in message
