"""`jitos init`: point the system ref at the current commit, record the system
branch, create the store, and record an `init` event. Idempotent.

Writes nothing into the work tree unless asked for the team config file, and
never changes the system branch of a repository already set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pygit2

from kernel.base.config import TEAM_CONFIG
from kernel.base.repo import Repo
from kernel.errors import BadInput, NotFound
from kernel.record import history, state
from kernel.record.history import SYSTEM_REF

CONFIG_TEMPLATE = """\
# jitos team configuration: commit this file to share it.
# Local overrides go in <git dir>/jitos/config.toml (same keys).

[gate]
# The test command that must pass on exactly what a collapse will commit (an argv,
# never run through a shell).
# command = ["python", "-m", "pytest", "-q"]

[sws]
# Git-ignored files copied from your checkout into each new workspace.
# include = [".env"]

[workers.agent]
# The coding agent (any CLI or script) that `jitos intent` runs for agent steps.
# command = ["my-agent", "--yes"]
"""


@dataclass(frozen=True, slots=True)
class InitResult:
    created: bool
    system: str
    branch: str
    history: str
    config_written: Path | None


def init(repo: Repo, system_branch: str | None = None, write_config: bool = False) -> InitResult:
    """Set jitos up: the system ref at the tip of the branch to follow, the store,
    and an `init` event. Run again, it changes nothing (and says so)."""
    existing = history.head(repo)
    if existing is not None:
        return _again(repo, existing, system_branch, write_config)
    branch = _branch_to_follow(repo, system_branch)
    ref = repo.git.references.get(f"refs/heads/{branch}")
    if ref is None:
        raise NotFound(f"no branch {branch!r} in this repository; create it or name an existing one")
    system = str(ref.resolve().target)

    repo.store.create()
    repo.workspaces_dir.mkdir(parents=True, exist_ok=True)
    config_written = _write_team_config(repo) if write_config else None

    with state.ledger(repo, require_init=False) as ledger:
        if ledger.state.head is not None:  # another process initialised it meanwhile
            current = ledger.state
            return InitResult(False, current.system or "", current.branch or "", current.head or "", config_written)
        rec = ledger.record(
            "init",
            f"init: system {system[:12]} follows branch {branch}",
            data={"branch": branch, "system": system},
            moves={SYSTEM_REF: system},
        )
    return InitResult(True, system, branch, rec.oid, config_written)


def _again(repo: Repo, existing: str, system_branch: str | None, write_config: bool) -> InitResult:
    """`init` where jitos is set up already: nothing changes, except the team
    config file when asked for; another system branch is refused."""
    current = state.load(repo)
    wanted = (system_branch or "").removeprefix("refs/heads/")
    if wanted and wanted != current.branch:
        raise BadInput(
            f"jitos already follows branch {current.branch!r} here; changing the system branch "
            "is not supported (nothing was changed)"
        )
    config_written = _write_team_config(repo) if write_config else None
    return InitResult(False, current.system or "", current.branch or "", existing, config_written)


def _branch_to_follow(repo: Repo, system_branch: str | None) -> str:
    """`--system-branch`, else `[system] branch` from the configuration, else the
    checked-out branch; refused with a reason when there is none to follow."""
    git = repo.git
    if system_branch is None:
        configured = repo.config().raw.get("system", {}).get("branch")
        system_branch = configured if isinstance(configured, str) else None
    if git.head_is_unborn:
        raise BadInput("this repository has no commits yet; make a first commit, then run `jitos init`")
    if system_branch is None:
        if git.head_is_detached:
            raise BadInput(
                "HEAD is detached, so there is no branch to follow; "
                "check out a branch or pass --system-branch NAME"
            )
        return str(git.head.shorthand)
    branch = system_branch.removeprefix("refs/heads/")
    if branch.startswith("-") or not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
        raise BadInput(f"{system_branch!r} is not a valid branch name")
    return branch


def _write_team_config(repo: Repo) -> Path:
    if repo.workdir is None:
        raise BadInput("this repository has no work tree to hold .jitos/config.toml")
    path = repo.workdir / TEAM_CONFIG
    if path.exists():
        raise BadInput(f"{path} already exists; edit it instead (nothing was changed)")
    path.parent.mkdir(exist_ok=True)
    path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    return path

