"""Open the repository jitos works in and read its configuration.

Finds the git common dir from anywhere inside the repository or one of its
worktrees (an SWS included), and knows where jitos keeps its own state under
it: `<common dir>/jitos/` holds the store, workspaces, the lock and the local
config — never anything in the user's work tree.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from kernel.base.store import Store
from kernel.errors import BadInput, NotFound

TEAM_CONFIG = Path(".jitos") / "config.toml"

_CONFIG_KEYS: dict[str, set[str]] = {
    "system": {"branch"},
    "sws": {"include"},
    "gate": {"command", "timeout", "env"},
    "test": {"command"},
    "workers": {"agent", "shell"},
}


@dataclass(frozen=True, slots=True)
class Config:
    """Settings from `.jitos/config.toml` (team) overlaid by `<git dir>/jitos/config.toml` (local)."""

    sws_include: tuple[str, ...] = ()
    gate_command: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Repo:
    """An opened repository: the pygit2 handle on the common dir plus jitos's paths."""

    git: pygit2.Repository
    common_dir: Path
    workdir: Path | None

    @property
    def jitos_dir(self) -> Path:
        return self.common_dir / "jitos"

    @property
    def store(self) -> Store:
        return Store(self.jitos_dir / "store")

    @property
    def lock_path(self) -> Path:
        return self.jitos_dir / "lock"

    @property
    def workspaces_dir(self) -> Path:
        return self.jitos_dir / "ws"

    @property
    def overlays_dir(self) -> Path:
        return self.jitos_dir / "overlay"

    def config(self) -> Config:
        return load_config(self)


def open_repo(start: Path | None = None) -> Repo:
    """Open the repository containing `start` (default: the current directory)."""
    start = (start or Path.cwd()).resolve()
    found = pygit2.discover_repository(str(start))
    if found is None:
        raise BadInput(f"{start} is not inside a git repository; run jitos from a repository (or `git init` one)")
    git_dir = Path(found)
    common = git_dir
    commondir_file = git_dir / "commondir"
    if commondir_file.is_file():
        common = (git_dir / commondir_file.read_text().strip()).resolve()
    git = pygit2.Repository(str(common))
    if git.is_bare:
        raise BadInput(f"{common} is a bare repository; jitos needs a work tree: run it in a clone with a checkout")
    workdir = Path(git.workdir) if git.workdir else None
    return Repo(git=git, common_dir=common, workdir=workdir)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as err:
        raise BadInput(f"{path}: not UTF-8 ({err.reason}); save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise BadInput(f"{toml_error_location(path, text, err)}; fix the TOML syntax") from None


def toml_error_location(path: Path, text: str, err: tomllib.TOMLDecodeError) -> str:
    """`file:line:col: message` for a TOML syntax error (tomllib puts the place in its message)."""
    message = str(err)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return f"{path}:{found.group(1)}:{found.group(2)}: {message[: found.start()]}"
    if message.endswith("(at end of document)"):
        lines = text.splitlines() or [""]
        return f"{path}:{len(lines)}:{len(lines[-1]) + 1}: {message.removesuffix(' (at end of document)')} (at end of file)"
    return f"{path}: {message}"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _argv(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadInput(f"{where} must be a non-empty list of strings (an argv), e.g. [\"pytest\", \"-q\"]")
    return tuple(value)


def _validate(path: Path, data: dict[str, Any]) -> None:
    """Check one config file's tables, keys and value types, naming the file."""
    for table, value in data.items():
        if table not in _CONFIG_KEYS:
            known = ", ".join(sorted(_CONFIG_KEYS))
            raise BadInput(f"{path}: unknown table [{table}]; known tables: {known}")
        if not isinstance(value, dict):
            raise BadInput(f"{path}: {table} must be a table, e.g. [{table}]")
        for key in value:
            if key not in _CONFIG_KEYS[table]:
                raise BadInput(f"{path}: unknown key {key!r} in [{table}]")
    for table in ("gate", "test"):
        _argv(data.get(table, {}).get("command"), f"{path}: [{table}] command")
    gate_env = data.get("gate", {}).get("env", [])
    if not isinstance(gate_env, list) or not all(isinstance(n, str) for n in gate_env):
        raise BadInput(f"{path}: [gate] env must be a list of variable names, e.g. env = [\"DATABASE_URL\"]")
    timeouts = [("gate", data.get("gate", {}))]
    for kind, section in data.get("workers", {}).items():
        if not isinstance(section, dict):
            raise BadInput(f"{path}: [workers.{kind}] must be a table")
        unknown = set(section) - {"command", "env", "timeout"}
        if unknown:
            raise BadInput(f"{path}: unknown key {min(unknown)!r} in [workers.{kind}]")
        _argv(section.get("command"), f"{path}: [workers.{kind}] command")
        env = section.get("env", [])
        if not isinstance(env, list) or not all(isinstance(n, str) for n in env):
            raise BadInput(f"{path}: [workers.{kind}] env must be a list of variable names")
        timeouts.append((f"workers.{kind}", section))
    for where, section in timeouts:
        timeout = section.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise BadInput(f"{path}: [{where}] timeout must be a positive number of seconds, e.g. timeout = 600")
    branch = data.get("system", {}).get("branch")
    if branch is not None and not isinstance(branch, str):
        raise BadInput(f"{path}: [system] branch must be a branch name (a string)")
    include = data.get("sws", {}).get("include")
    if include is not None and (not isinstance(include, list) or not all(isinstance(p, str) for p in include)):
        raise BadInput(f"{path}: [sws] include must be a list of path patterns, e.g. [\".env\"]")


def load_config(repo: Repo) -> Config:
    team_path = (repo.workdir / TEAM_CONFIG) if repo.workdir else None
    local_path = repo.jitos_dir / "config.toml"
    raw: dict[str, Any] = {}
    for path in (team_path, local_path):
        if path is None:
            continue
        data = _read_toml(path)
        _validate(path, data)
        raw = _merge(raw, data)
    include = raw.get("sws", {}).get("include", [])
    gate = _argv(raw.get("gate", {}).get("command"), "[gate] command")
    return Config(sws_include=tuple(include), gate_command=gate, raw=raw)


def resolve_commit(repo: Repo, rev: str) -> pygit2.Commit:
    """Resolve a user-supplied revision to a commit, refusing option-like values."""
    if not rev or rev.startswith("-") or any(ch.isspace() for ch in rev):
        raise BadInput(f"{rev!r} is not a revision; give a branch, tag or commit id")
    try:
        obj = repo.git.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise NotFound(f"unknown revision {rev!r}; check `git log` for a branch, tag or commit id") from None
    return commit


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
