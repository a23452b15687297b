"""The gate: the command (an argv, never a shell string) that must pass on
exactly the tree a collapse will commit.

`GatePolicy` is how a collapse gates — run this argv, or skip it on record —
built once from what the user asked for (`GatePolicy.from_options`, which
refuses contradictory or missing options before anything happens). `run`
runs the gate in a workspace and stores its log; `cached` finds an earlier
result for the same (tree, argv) in history so a tree is not re-tested
unless asked.

Never records events or moves refs: collapse records what the gate found.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kernel.base.config import Config
from kernel.base.policy import scrubbed_environ
from kernel.base.proc import local, run_captured
from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.record import history
from kernel.record.state import State
from kernel.workspace.backend import for_path

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


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """How a collapse gates: run `argv` (with `timeout` seconds and the
    environment names `env` passed through), reusing a recorded result for the
    same tree and argv unless `rerun`; or, when `argv` is None, skip the gate
    and record `skipped` ("skipped by <who>: <reason>") instead."""

    argv: tuple[str, ...] | None
    skipped: str | None = None
    rerun: bool = False
    timeout: float = DEFAULT_TIMEOUT
    env: tuple[str, ...] = ()

    @classmethod
    def from_options(
        cls,
        repo: Repo,
        *,
        gate: str | None = None,
        no_gate: bool = False,
        reason: str | None = None,
        rerun: bool = False,
        argv: tuple[str, ...] | None = None,
        config: Config | None = None,
    ) -> GatePolicy:
        """The policy for `--gate CMD` / `--no-gate [--reason …]` / `--rerun-gate`,
        or for an `argv` already fixed (a task's gate, fixed when it started);
        with neither, the configured `[gate] command`. `config` is the
        configuration that governs (a task's, fixed when it started; default:
        the repository's as it is now). Bad input (exit 2):
        `--gate` with `--no-gate`, a `--gate` that cannot be split or is
        empty, no gate at all."""
        if no_gate and gate is not None:
            raise BadInput("--gate and --no-gate contradict each other; use one")
        config = config or repo.config()
        if no_gate:
            return cls(None, skipped=f"skipped by {_who(repo)}: {reason or 'no reason given'}", rerun=rerun)
        section = config.raw.get("gate", {})
        return cls(argv or resolve(gate, config), rerun=rerun,
                   timeout=section.get("timeout", DEFAULT_TIMEOUT), env=tuple(section.get("env", ())))

    def trailer(self, result: GateResult | None) -> str:
        """The `Jitos-Gate:` trailer of a collapse commit gated by this policy."""
        if result is None:
            return self.skipped or "skipped"
        return f"{shlex.join(result.command)} passed"  # the log's digest is in the gate event, not here:
        # a gate that prints times would otherwise make the commit id vary


def _who(repo: Repo) -> str:
    """Who skips a gate: git's `user.name <user.email>`, else `$USER`."""
    try:
        sig = repo.git.default_signature
        return f"{sig.name} <{sig.email}>"
    except (KeyError, pygit2.GitError):
        return os.environ.get("USER", "unknown")


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
    """The latest recorded result for this tree and argv, if any (from the
    events held in memory or the saved chain: `st` is the state they end at)."""
    records = history.events(repo)
    newest_first = reversed(records) if records and records[-1].oid == st.head else history.walk(repo, st.head)
    for rec in newest_first:
        event = rec.event
        if event.kind in ("gate-passed", "gate-failed") and event.data.get("tree") == tree \
                and tuple(event.data.get("command", ())) == argv:
            return GateResult(argv, tree, event.kind == "gate-passed", event.data.get("exit"),
                              str(event.data["log"]), True, rec.oid)
    return None


def run(repo: Repo, policy: GatePolicy, cwd: Path, tree: str, sws_id: str) -> GateResult:
    """Run the policy's gate in `cwd` with stdout and stderr interleaved into one stored log."""
    argv = policy.argv
    assert argv is not None, "a skipped gate is never run"
    timeout = policy.timeout
    # The same scrubbed environment workers get, plus the names `[gate] env` passes through.
    env = scrubbed_environ(policy.env)
    env.update({"JITOS_SWS": sws_id, "JITOS_GATE": "1", "JITOS_TREE": tree})
    command = for_path(repo, cwd).command(repo, cwd, list(argv), network=True)
    try:
        done = run_captured(repo, command, cwd=cwd, env=env, timeout=timeout, merge_stderr=True,
                            timeout_note=f"\n[jitos] gate timed out after {timeout}s\n".encode())
    except OSError as err:
        raise BadInput(f"cannot run gate {argv[0]!r}: {err.strerror}") from None
    exit_code, digest = done.exit_code, done.stdout
    return GateResult(argv, tree, exit_code == 0, exit_code, digest, False)


def log_tail(repo: Repo, digest: str, lines: int = 20) -> tuple[str, ...]:
    """The last `lines` lines of a stored gate log, for a one-screen explanation."""
    return tuple(local(repo, repo.store.get(digest)).decode("utf-8", "replace").splitlines()[-lines:])
