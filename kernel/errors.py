"""The one error hierarchy: every error jitos raises on purpose carries a
user-facing, one-line message and the exit code DESIGN.md documents for it.

The CLI maps these to exit codes in a single handler; the kernel never prints.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_GATE_RED = 4
EXIT_INTERRUPTED = 130


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
