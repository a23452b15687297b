"""Where the planner's inputs come from on disk: the shipped methods and a
repository's `.jitos/methods/`, and the facts derived from a configuration.
The configuration itself is the kernel's (`kernel.base.repo.load_config`): callers
pass it in, so the planner reads no config file and runs no git.

Only reads files; never runs git, writes or prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import kernel
from kernel.planner.loader import Layer, expand_paths, method_files
from kernel.planner.model import Fact

REPO_METHODS = Path(".jitos") / "methods"


def shipped_methods_dir() -> Path:
    """The `methods/` folder installed with jitos."""
    return Path(kernel.__file__).resolve().parent.parent / "methods"


def find_repo_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` holding `.git` (a folder or a file,
    as in a worktree), or None outside any repository."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def library_layers(root: Path | None, extra: Sequence[Path] = ()) -> list[Layer]:
    """Shipped methods, then the repository's (if any), then `extra` files/folders."""
    shipped = shipped_methods_dir()
    layers = [Layer("shipped", method_files(shipped), shipped.parent)]
    if root is not None:
        layers.append(Layer("repo", method_files(root / REPO_METHODS), root))
    if extra:
        layers.append(Layer("file", expand_paths(extra)))
    return layers


def config_facts(config: Mapping[str, object], prefix: str = "") -> tuple[Fact, ...]:
    """`("config", "gate.command")` for every configured, non-empty leaf value, so
    methods can choose on what a repository has configured."""
    facts: list[Fact] = []
    for key in sorted(config):
        value = config[key]
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            facts.extend(config_facts(value, f"{dotted}."))
        elif value not in ("", [], None):
            facts.append(("config", dotted))
    return tuple(facts)

