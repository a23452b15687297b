"""The configuration jitos reads: `.jitos/config.toml` (committed, shared by a
team) overlaid by `<git dir>/jitos/config.toml` (local), each checked against
the schema below with errors that name the file, table and key.

Only reads files; never writes, never runs git.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from kernel.errors import BadInput

TEAM_CONFIG = Path(".jitos") / "config.toml"
SWS_BACKENDS = ("worktree", "overlay", "auto")

_CONFIG_KEYS: dict[str, set[str]] = {
    "system": {"branch"},
    "sws": {"include", "backend", "keep_unrecorded"},
    "gate": {"command", "timeout", "env"},
    "test": {"command"},
    "workers": {"agent", "shell"},
    "policy": {"strict"},
}


@dataclass(frozen=True, slots=True)
class Config:
    """Settings from `.jitos/config.toml` (team) overlaid by `<git dir>/jitos/config.toml` (local)."""

    sws_include: tuple[str, ...] = ()
    sws_backend: str = "auto"
    sws_keep_unrecorded: bool = True
    gate_command: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


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
    """Check one config file's tables, keys and value types, naming the file.

    The checks run in a fixed order (tables and keys, then commands, lists,
    timeouts, then the rest), so a file with several mistakes always reports
    the same one first."""
    _check_tables(path, data)
    for table in ("gate", "test"):
        _argv(data.get(table, {}).get("command"), f"{path}: [{table}] command")
    if not _is_names(data.get("gate", {}).get("env", [])):
        raise BadInput(f"{path}: [gate] env must be a list of variable names, e.g. env = [\"DATABASE_URL\"]")
    timeouts = [("gate", data.get("gate", {}))]
    for kind, section in data.get("workers", {}).items():
        _check_worker(path, kind, section)
        timeouts.append((f"workers.{kind}", section))
    for where, section in timeouts:
        _check_timeout(path, where, section.get("timeout"))
    branch = data.get("system", {}).get("branch")
    if branch is not None and not isinstance(branch, str):
        raise BadInput(f"{path}: [system] branch must be a branch name (a string)")
    include = data.get("sws", {}).get("include")
    if include is not None and not _is_names(include):
        raise BadInput(f"{path}: [sws] include must be a list of path patterns, e.g. [\".env\"]")
    keep = data.get("sws", {}).get("keep_unrecorded")
    if keep is not None and not isinstance(keep, bool):
        raise BadInput(f"{path}: [sws] keep_unrecorded must be true or false")
    strict = data.get("policy", {}).get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise BadInput(f"{path}: [policy] strict must be true or false")
    backend = data.get("sws", {}).get("backend")
    if backend is not None and backend not in SWS_BACKENDS:
        raise BadInput(f"{path}: [sws] backend must be one of {', '.join(SWS_BACKENDS)} (got {backend!r})")


def _check_tables(path: Path, data: dict[str, Any]) -> None:
    """Only known tables, each a table, holding only its known keys."""
    for table, value in data.items():
        if table not in _CONFIG_KEYS:
            known = ", ".join(sorted(_CONFIG_KEYS))
            raise BadInput(f"{path}: unknown table [{table}]; known tables: {known}")
        if not isinstance(value, dict):
            raise BadInput(f"{path}: {table} must be a table, e.g. [{table}]")
        for key in value:
            if key not in _CONFIG_KEYS[table]:
                raise BadInput(f"{path}: unknown key {key!r} in [{table}]")


def _check_worker(path: Path, kind: str, section: Any) -> None:
    """A `[workers.<kind>]` table: `command` an argv, `env` a list of names, nothing else."""
    if not isinstance(section, dict):
        raise BadInput(f"{path}: [workers.{kind}] must be a table")
    unknown = set(section) - {"command", "env", "timeout"}
    if unknown:
        raise BadInput(f"{path}: unknown key {min(unknown)!r} in [workers.{kind}]")
    _argv(section.get("command"), f"{path}: [workers.{kind}] command")
    if not _is_names(section.get("env", [])):
        raise BadInput(f"{path}: [workers.{kind}] env must be a list of variable names")


def _check_timeout(path: Path, where: str, timeout: Any) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise BadInput(f"{path}: [{where}] timeout must be a positive number of seconds, e.g. timeout = 600")


def _is_names(value: Any) -> bool:
    """A list of strings (variable names, path patterns)."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def load_config(workdir: Path | None, jitos_dir: Path) -> Config:
    """The merged configuration of the repository with this work tree and jitos folder."""
    team_path = (workdir / TEAM_CONFIG) if workdir else None
    local_path = jitos_dir / "config.toml"
    raw: dict[str, Any] = {}
    for path in (team_path, local_path):
        if path is None:
            continue
        data = _read_toml(path)
        _validate(path, data)
        raw = _merge(raw, data)
    return from_raw(raw)


#: The tables that govern a task: recorded when it starts, used to its end.
GOVERNING = ("gate", "workers", "test")


def governing_record(raw: dict[str, Any]) -> bytes:
    """The tables of `raw` that govern a task, as TOML (which keeps a float
    timeout a float), to be stored with the task."""
    return tomli_w.dumps({table: raw[table] for table in GOVERNING if table in raw}).encode()


def governed_by(raw: dict[str, Any], record: bytes) -> dict[str, Any]:
    """`raw` with its governing tables replaced by a task's `governing_record`."""
    merged = {table: value for table, value in raw.items() if table not in GOVERNING}
    merged.update(tomllib.loads(record.decode()))
    return merged


def from_raw(raw: dict[str, Any]) -> Config:
    """The settings of a merged, checked configuration (as read, or as a task recorded it)."""
    include = raw.get("sws", {}).get("include", [])
    backend = raw.get("sws", {}).get("backend", "auto")
    gate = _argv(raw.get("gate", {}).get("command"), "[gate] command")
    keep = raw.get("sws", {}).get("keep_unrecorded", True)
    return Config(sws_include=tuple(include), sws_backend=backend, sws_keep_unrecorded=keep, gate_command=gate,
                  raw=raw)
