"""Which intent patterns a method file may use: a pattern that could make
matching an intent slow is refused, one that cannot is accepted."""

from __future__ import annotations

import pytest

from kernel.planner.patterns import MAX_PATTERN_CHARS, MAX_WAYS, pattern_problem

ACCEPTED = [
    r"\b(?:fix|repair)\b.*\b(?:bugs?|crash(?:es)?)\b",  # one loop over any text: quadratic
    r"\bbump\s+(?P<dep>\S+)",
    r"^\s*(?:why|how\s+does)\b",
    r"\d{1,3}(?:\.\d{1,3}){3}",
    r"(?:\w+\.){1,3}\w+",  # the dot ends each repeat: one way only
    r"(?:\s*,\s*\w+)*",
    r"(?:fix|fixes)+",
    r"(\w|\d)+",  # one character class to `re`
    r"a++b",
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_patterns_that_match_one_way_are_accepted(pattern: str) -> None:
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    [r"^(a+)+$", r"(a*)*", r"(a|aa)*", r"(\w+\s?)*", r"(?:x+x+)+y", r"(a|a)*", r"(a+){1,30}",
     r"(?>a+)+b"],
)
def test_a_repeat_that_can_match_the_same_text_two_ways_is_exponential(pattern: str) -> None:
    assert (pattern_problem(pattern) or "").startswith("can take exponential time")


@pytest.mark.parametrize("pattern", [r".*.*=", r"\w+\s*\w+!", r"a.*b.*c.*d", r"(.*)\1x"])
def test_repeats_in_a_row_over_the_same_text_are_cubic_or_worse(pattern: str) -> None:
    assert (pattern_problem(pattern) or "").startswith("can take cubic time or worse")


def test_a_lookahead_is_checked_on_its_own() -> None:
    assert (pattern_problem(r"fix(?=(a+)+b)") or "").startswith("can take exponential time")


def test_many_optional_parts_over_the_same_text_are_refused() -> None:
    assert f"more than {MAX_WAYS} ways" in (pattern_problem(r"(?:a?){30}a{30}") or "")
    assert pattern_problem("a?" * 3 + "a" * 3) is None


def test_a_pattern_too_large_to_check_is_refused() -> None:
    assert (pattern_problem(r"(?:a{0,100}){100}") or "").startswith("is too large to check")


def test_a_pattern_over_the_length_limit_is_refused_before_it_is_parsed() -> None:
    assert (pattern_problem("(" * (MAX_PATTERN_CHARS + 1)) or "").startswith(
        f"is {MAX_PATTERN_CHARS + 1} characters long")


def test_every_refusal_says_what_to_do() -> None:
    for pattern in (r"^(a+)+$", r".*.*=", r"(?:a?){30}a{30}"):
        assert "rewrite it" in (pattern_problem(pattern) or "")
