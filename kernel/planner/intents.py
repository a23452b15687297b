"""Intent matching: free text → a task call, using the library's `[intent.*]`
tables. Intents are tried by descending `preference`, then declaration order;
within an intent, its patterns in order, then its keywords. The first that
matches wins.

A pattern is a regular expression searched case-insensitively in the text;
its named groups are the captures (an unmatched optional group is ""). Keywords
match when every one occurs as a word of the text (case-insensitive). `args`
templates see the captures and `{text}`, the whole intent text.

Matching reads only the text's first `MATCH_PREFIX` characters (whitespace
collapsed, cut at a space): an intent says what it wants up front, and a
backtracking pattern must not get to chew on a pasted log. With the checks
`patterns.py` makes when methods are loaded, that keeps matching well under a
second whatever the text. The text as a whole is what the task records and
`{text}` gives; `check_intent_size` refuses one over `MAX_INTENT_BYTES`.

This module never reads files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kernel.errors import BadInput
from kernel.planner.model import Domain, Intent, TaskCall
from kernel.planner.templates import render

#: The largest intent text, in UTF-8 bytes. The text reaches workers as
#: `JITOS_INTENT` and inside an agent's instruction argument, and Linux refuses
#: to start a program with any one argument or variable over 128 KiB.
MAX_INTENT_BYTES = 64 * 1024
#: How much of the intent text (in characters) patterns and keywords see.
MATCH_PREFIX = 2000

_WORD = re.compile(r"[\w'-]+")


@dataclass(frozen=True, slots=True)
class IntentMatch:
    intent: str
    call: TaskCall


def check_intent_size(text: str) -> None:
    """Refuse intent text over MAX_INTENT_BYTES, saying what to do instead."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_INTENT_BYTES:
        raise BadInput(
            f"the intent text is {size} bytes; the limit is {MAX_INTENT_BYTES} bytes (64 KiB): "
            "say what you want in a few sentences, and put long material (logs, specs) in a "
            "file the task can read and name that file in the intent"
        )


def match_intent(domain: Domain, text: str) -> IntentMatch | None:
    """The task call the first matching intent makes of `text`, or None. Only
    the first MATCH_PREFIX characters are matched; `{text}` is all of it."""
    text = " ".join(text.split())
    head = _head(text)
    words = {w.lower() for w in _WORD.findall(head)}
    for intent in domain.intents:
        captures = _captures(intent, head, words)
        if captures is not None:
            values = {"text": text, **captures}
            args = tuple(render(a, values, {}, []).strip() for a in intent.args)
            return IntentMatch(intent.name, TaskCall(intent.task, args))
    return None


def _head(text: str) -> str:
    """The part of whitespace-collapsed `text` that is matched: at most
    MATCH_PREFIX characters, ending at a word's end where there is one."""
    if len(text) <= MATCH_PREFIX:
        return text
    cut = text.rfind(" ", 0, MATCH_PREFIX + 1)
    return text[:cut] if cut > 0 else text[:MATCH_PREFIX]


def _captures(intent: Intent, text: str, words: set[str]) -> dict[str, str] | None:
    for pattern in intent.patterns:
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            return {k: v or "" for k, v in m.groupdict().items()}
    if intent.keywords and all(k in words for k in intent.keywords):
        return {}
    return None
