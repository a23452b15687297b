"""What a worker, the gate or a command run in a workspace may inherit and
start: a scrubbed environment, a program that exists, and no way back into
jitos's own landing commands.

Guards, not a sandbox: they refuse before anything runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from kernel.errors import BadInput


def environ_for_git_child() -> dict[str, str]:
    """The caller's environment without variables that would redirect a child git."""
    env = dict(os.environ)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX"):
        env.pop(var, None)
    return env


# What a worker or the gate inherits from the caller's environment; anything
# else reaches them only when the configuration names it.
PASS_THROUGH = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "TZ",
                "SOURCE_DATE_EPOCH", "VIRTUAL_ENV", "SYSTEMROOT")


def scrubbed_environ(declared: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """The caller's environment reduced to PASS_THROUGH plus the `declared` names."""
    return {name: os.environ[name] for name in (*PASS_THROUGH, *declared) if name in os.environ}


def refuse_inside_worker(action: str) -> None:
    """Workers and gates write only inside their workspace: they may not land,
    undo, discard or start work through jitos itself (a guard against
    accidents, not a sandbox)."""
    step = os.environ.get("JITOS_STEP") or ("gate" if os.environ.get("JITOS_GATE") else None)
    if step:
        raise BadInput(f"{action} is not allowed from inside a jitos step or gate ({step}); "
                       "workers write only inside their workspace")


def check_program(argv: Sequence[str], root: Path, where: str) -> None:
    """Refuse (exit 2) an argv whose program does not exist or cannot run."""
    if not argv:
        raise BadInput(f"{where}: the command is empty; configure it in .jitos/config.toml")
    program = argv[0]
    if "/" in program:
        path = Path(program) if os.path.isabs(program) else root / program
        if not path.is_file():
            raise BadInput(f"{where}: {program!r} does not exist; fix the command in .jitos/config.toml")
        if not os.access(path, os.X_OK):
            raise BadInput(f"{where}: {program!r} is not executable; `chmod +x` it or run it through its interpreter")
    elif shutil.which(program) is None:
        raise BadInput(f"{where}: command {program!r} not found on PATH; install it or fix .jitos/config.toml")
