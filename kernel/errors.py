"""The one error hierarchy, and the exit codes jitos ends with.

Every error jitos raises on purpose carries a user-facing, one-line message
and the exit code docs/cli.md (Exit codes) documents for it; the command line
maps them in a single handler. An outcome that is not an error (a red gate, a
failed step, a command run in a workspace) has its exit code chosen here or
next to the result that carries it, never in the command line.

The first layer of the kernel: imports nothing from jitos, never prints.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_GATE_RED = 4
EXIT_INTERRUPTED = 130
SIGNAL_BASE = 128  # a shell's exit code for a process killed by signal N is 128 + N


class JitosError(Exception):
    """Base class: a message for the user and the exit code that goes with it."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(JitosError):
    """The user asked for something invalid: usage, bad TOML, unknown id, bad name (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class NotFound(BadInput):
    """An id, name, revision or file the user named does not exist (exit 2)."""


class NotInitialised(BadInput):
    """The repository has no jitos state yet (exit 2)."""


class IntegrityError(JitosError):
    """Recorded state disagrees with what is on disk: a corrupt store or history (exit 1)."""

    exit_code = EXIT_INTERNAL


class RefRaceError(JitosError):
    """A compare-and-swap on a ref lost to another writer; callers retry (exit 1 if it escapes)."""

    exit_code = EXIT_INTERNAL


def passed_through(returncode: int) -> int:
    """The exit code for a command jitos ran on the user's behalf (`sws run`):
    the command's own, or 128+N when signal N killed it (as a shell reports
    it; `returncode` is then -N). A code no process can exit with is 1."""
    if returncode < 0:
        return SIGNAL_BASE - returncode
    return returncode if returncode < 256 else EXIT_INTERNAL
