"""The gate: the command (an argv, never a shell string) that must pass on
exactly the tree a collapse will commit. Runs it in a workspace, stores its
log, and finds earlier results for the same (tree, argv) in history so a
tree is not re-tested unless asked.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from kernel.base.config import Config
from kernel.base.policy import scrubbed_environ
from kernel.base.proc import run_captured
from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.record import history
from kernel.record.state import State

DEFAULT_TIMEOUT = 3600


@dataclass(frozen=True, slots=True)
class GateResult:
    command: tuple[str, ...]
    tree: str
    passed: bool
    exit_code: int | None
    log: str
    cached: bool
    event: str | None = None


def resolve(cli_gate: str | None, config: Config) -> tuple[str, ...]:
    """The gate argv: `--gate` (split like a shell would, but never run by one) or `[gate] command`."""
    if cli_gate is not None:
        try:
            argv = tuple(shlex.split(cli_gate))
        except ValueError as err:
            raise BadInput(f"cannot split --gate {cli_gate!r}: {err}; check its quotes") from None
        if not argv:
            raise BadInput("--gate is empty; give the test command, e.g. --gate 'pytest -q'")
        return argv
    if config.gate_command:
        return config.gate_command
    raise BadInput(
        "no gate: pass --gate 'CMD', set [gate] command in .jitos/config.toml, "
        "or skip it explicitly with --no-gate --reason '…'"
    )


def cached(st: State, repo: Repo, tree: str, argv: tuple[str, ...]) -> GateResult | None:
    """The latest recorded result for this tree and argv, if any."""
    for rec in history.walk(repo, st.head):
        event = rec.event
        if event.kind in ("gate-passed", "gate-failed") and event.data.get("tree") == tree \
                and tuple(event.data.get("command", ())) == argv:
            return GateResult(argv, tree, event.kind == "gate-passed", event.data.get("exit"),
                              str(event.data["log"]), True, rec.oid)
    return None


def run(repo: Repo, argv: tuple[str, ...], cwd: Path, tree: str, sws_id: str, config: Config) -> GateResult:
    """Run the gate in `cwd` with stdout and stderr interleaved into one stored log."""
    timeout = config.raw.get("gate", {}).get("timeout", DEFAULT_TIMEOUT)
    # The same scrubbed environment workers get, plus the names `[gate] env` passes through.
    names = config.raw.get("gate", {}).get("env", [])
    env = scrubbed_environ(names)
    env.update({"JITOS_SWS": sws_id, "JITOS_GATE": "1", "JITOS_TREE": tree})
    try:
        done = run_captured(repo, argv, cwd=cwd, env=env, timeout=timeout, merge_stderr=True,
                            timeout_note=f"\n[jitos] gate timed out after {timeout}s\n".encode())
    except OSError as err:
        raise BadInput(f"cannot run gate {argv[0]!r}: {err.strerror}") from None
    exit_code, digest = done.exit_code, done.stdout
    return GateResult(argv, tree, exit_code == 0, exit_code, digest, False)


def log_tail(repo: Repo, digest: str, lines: int = 20) -> tuple[str, ...]:
    """The last `lines` lines of a stored gate log, for a one-screen explanation."""
    return tuple(repo.store.get(digest).decode("utf-8", "replace").splitlines()[-lines:])
