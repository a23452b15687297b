"""Named fault points: the places a process may die between two durable steps.

`point(name)` marks the moment after a lock is taken, an object or file is
written, a ref moves or a checkout file changes. The crash tests set, for a
real `jitos` process:

- `JITOS_FAULT=name` (or `name@N`: the N-th time that point is reached): the
  process SIGKILLs itself there, as a power cut or `kill -9` would stop it;
- `JITOS_FAULT_TRACE=file`: each point reached is appended to `file`, one a
  line (its name, then any detail), so a test can enumerate every point an
  operation passes.

Both are read once, at import; with neither set a point is one test of a
module global. The test suite finds every `point("…")` call in the code and
fails if a crash scenario does not reach it, so a new point cannot go untested.
"""

from __future__ import annotations

import os
import signal

_ARMED = os.environ.get("JITOS_FAULT", "")
_TRACE = os.environ.get("JITOS_FAULT_TRACE", "")
_ON = bool(_ARMED or _TRACE)
_name, _, _nth = _ARMED.partition("@")
_seen: dict[str, int] = {}


def point(name: str, detail: str = "") -> None:
    """A place a crash test may stop this process (see the module's docstring);
    `detail` (what was just written, say) goes to the trace only."""
    if _ON:
        _reached(name, detail)


def _reached(name: str, detail: str) -> None:
    count = _seen[name] = _seen.get(name, 0) + 1
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as trace:
            trace.write(f"{name} {detail}".rstrip() + "\n")
    if name == _name and count == int(_nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
