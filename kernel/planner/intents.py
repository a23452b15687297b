"""Intent matching: free text → a task call, using the library's `[intent.*]`
tables. Intents are tried by descending `preference`, then declaration order;
within an intent, its patterns in order, then its keywords. The first that
matches wins.

A pattern is a regular expression searched case-insensitively in the text;
its named groups are the captures (an unmatched optional group is ""). Keywords
match when every one occurs as a word of the text (case-insensitive). `args`
templates see the captures and `{text}`, the whole intent text.

This module never reads files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kernel.planner.model import Domain, Intent, TaskCall
from kernel.planner.templates import render

_WORD = re.compile(r"[\w'-]+")


@dataclass(frozen=True, slots=True)
class IntentMatch:
    intent: str
    call: TaskCall


def match_intent(domain: Domain, text: str) -> IntentMatch | None:
    """The task call the first matching intent makes of `text`, or None."""
    text = " ".join(text.split())
    words = {w.lower() for w in _WORD.findall(text)}
    for intent in domain.intents:
        captures = _captures(intent, text, words)
        if captures is not None:
            values = {"text": text, **captures}
            args = tuple(render(a, values, {}, []).strip() for a in intent.args)
            return IntentMatch(intent.name, TaskCall(intent.task, args))
    return None


def _captures(intent: Intent, text: str, words: set[str]) -> dict[str, str] | None:
    for pattern in intent.patterns:
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            return {k: v or "" for k, v in m.groupdict().items()}
    if intent.keywords and all(k in words for k in intent.keywords):
        return {}
    return None
