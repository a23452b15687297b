"""Git hooks: `jitos hooks install | uninstall | status`, and what each hook does.

Installing points git at jitos's own hooks folder (`<git dir>/jitos/hooks/`)
through the repository's `core.hooksPath`, with one script per hook git
runs. Each script runs jitos's part for that hook, then the hook it stands
in front of: the one of the same name in the folder git used before
(`core.hooksPath` as it was, else `<git dir>/hooks`), with the same
arguments and standard input, ending with its exit code. Nothing of yours is
moved or rewritten: uninstalling puts `core.hooksPath` back as it was (unset,
or its old value) and removes jitos's folder. Installing again rewrites the
same scripts.

jitos's parts (`run`):

- `pre-commit` — guard: a commit made directly on the system branch is
  refused with `[policy] strict = true` (and says how to work through a
  workspace), else warned about;
- `post-commit`, `post-merge` — adopt: commits made outside jitos are
  recorded now, not at the next collapse (never fails: the commit is made);
- `pre-push` — verify: history must verify before it is pushed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kernel.base.files import write_atomic
from kernel.base.repo import Repo, run_git
from kernel.errors import EXIT_OK, BadInput, JitosError
from kernel.land.adopt import adopt
from kernel.record import history, refs, state
from kernel.verify import verify

#: Every hook git runs from a hooks folder (git 2.39's list), so that once
#: git looks in jitos's folder, each of yours still runs.
HOOKS = ("applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
         "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge",
         "pre-push", "pre-receive", "update", "proc-receive", "post-receive", "post-update",
         "reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite", "sendemail-validate",
         "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist", "p4-post-changelist", "p4-pre-submit",
         "post-index-change")
#: The hooks jitos does something in, and what.
OFFERED = {"pre-commit": "guard", "post-commit": "adopt", "post-merge": "adopt", "pre-push": "verify"}
#: Hooks whose outcome cannot stop anything: jitos's part never fails them.
AFTER = frozenset({"post-commit", "post-merge"})
CHAIN_FILE = "chained.json"
MARK = "# installed by `jitos hooks install`"


@dataclass(frozen=True, slots=True)
class HooksStatus:
    installed: bool
    folder: Path  # jitos's hooks folder
    chained_to: Path | None  # the folder whose hooks run after jitos's part
    previous_hooks_path: str | None  # core.hooksPath as it was in the repository's config (None: unset)
    offered: dict[str, str]


def folder(repo: Repo) -> Path:
    return repo.jitos_dir / "hooks"


def status(repo: Repo) -> HooksStatus:
    chained = _chained(repo) or {}
    installed = bool(chained) and _local_hooks_path(repo) == str(folder(repo))
    to = chained.get("chained_to")
    return HooksStatus(installed, folder(repo), Path(to) if to else None, chained.get("hooksPath"), dict(OFFERED))


def install(repo: Repo) -> HooksStatus:
    """Point git at jitos's hooks (idempotent); each of yours keeps running after jitos's part."""
    history.require(repo)
    current = status(repo)
    if current.installed and current.chained_to is not None:
        chained_to, previous = current.chained_to, current.previous_hooks_path
    else:
        previous = _local_hooks_path(repo)
        chained_to = _effective_hooks_dir(repo)
    here = folder(repo)
    here.mkdir(parents=True, exist_ok=True)
    command = _jitos_command()
    for name in HOOKS:
        path = here / name
        write_atomic(path, _script(name, chained_to / name, command).encode(), mode=0o755)
    write_atomic(here / CHAIN_FILE, json.dumps({"hooksPath": previous, "chained_to": str(chained_to)},
                                               sort_keys=True).encode() + b"\n")
    _git_config(repo, "core.hooksPath", str(here))
    return status(repo)


def uninstall(repo: Repo) -> HooksStatus:
    """Put `core.hooksPath` back as it was and remove jitos's hooks (idempotent)."""
    chained = _chained(repo)
    if chained is not None and _local_hooks_path(repo) == str(folder(repo)):
        previous = chained.get("hooksPath")
        if previous is None:
            _git_config(repo, "--unset", "core.hooksPath")
        else:
            _git_config(repo, "core.hooksPath", previous)
    if folder(repo).is_dir():
        shutil.rmtree(folder(repo))
    return status(repo)


def _script(name: str, chained: Path, command: str) -> str:
    part = ""
    if name in OFFERED:
        run = f'{command} hooks run {name} "$@"'
        part = f"{run} >&2 || true\n" if name in AFTER else f"{run} >&2 || exit $?\n"
    return (f"#!/bin/sh\n{MARK}: jitos's part, then the hook this stands in front of.\n"
            f"# `jitos hooks uninstall` puts core.hooksPath back.\n"
            f"{part}"
            f"chained={shlex.quote(str(chained))}\n"
            'if [ -x "$chained" ]; then exec "$chained" "$@"; fi\n'
            "exit 0\n")


def _jitos_command() -> str:
    """How a hook runs this jitos: its `jitos` command where installed, else this Python."""
    found = shutil.which("jitos", path=str(Path(sys.executable).parent)) or shutil.which("jitos")
    if found:
        return shlex.quote(found)
    return f"{shlex.quote(sys.executable)} -c 'from jitos_cli.main import run; run()'"


def _chained(repo: Repo) -> dict[str, str | None] | None:
    try:
        data = json.loads((folder(repo) / CHAIN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("chained_to"), str) else None


def _local_hooks_path(repo: Repo) -> str | None:
    done = _git(repo, "config", "--local", "--get", "core.hooksPath", check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _effective_hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks now (`core.hooksPath` from any config, else `<git dir>/hooks`)."""
    where = _git(repo, "rev-parse", "--git-path", "hooks", check=True).stdout.strip()
    base = repo.workdir or repo.common_dir
    return (base / where).resolve() if not os.path.isabs(where) else Path(where)


def _git_config(repo: Repo, *args: str) -> None:
    _git(repo, "config", "--local", *args, check=True)


def _git(repo: Repo, *args: str, check: bool) -> subprocess.CompletedProcess[str]:
    done = run_git(repo, *args)
    if check and done.returncode != 0:
        raise JitosError(f"git {' '.join(args)} failed: {' '.join(done.stderr.split())[:200]}")
    return done


# -- what each hook does --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookResult:
    exit_code: int
    lines: tuple[str, ...]  # what to tell the person committing or pushing (stderr)


def run(repo: Repo, name: str) -> HookResult:
    """jitos's part of hook `name`. Where jitos is not set up, nothing."""
    if name not in OFFERED:
        raise BadInput(f"jitos does nothing in the {name!r} hook; it acts in {', '.join(OFFERED)}")
    if history.head(repo) is None:
        return HookResult(EXIT_OK, ())
    if OFFERED[name] == "guard":
        return _guard(repo)
    if OFFERED[name] == "adopt":
        return _adopt(repo)
    return _verify(repo)


def _guard(repo: Repo) -> HookResult:
    st = state.load(repo)
    branch = _current_branch(repo)
    if branch is None or branch != st.branch:
        return HookResult(EXIT_OK, ())
    how = ("make it in a workspace instead: `jitos sws new`, edit there, then `jitos collapse ID` "
           "(gated, recorded); or `git commit --no-verify` to commit anyway")
    if repo.config().raw.get("policy", {}).get("strict", False):
        refused = (f"jitos: refused: this commit goes straight onto {branch}, the system branch "
                   f"([policy] strict = true); {how}")
        return HookResult(1, (refused,))
    warning = (f"jitos: warning: this commit goes straight onto {branch}, the system branch; jitos will adopt it "
               "as made outside jitos (no gate ran on it). Next time, "
               + how.replace("; or `git commit --no-verify` to commit anyway", ""))
    return HookResult(EXIT_OK, (warning,))


def _current_branch(repo: Repo) -> str | None:
    done = _git(repo, "symbolic-ref", "--quiet", "HEAD", check=False)
    ref = done.stdout.strip()
    return ref.removeprefix("refs/heads/") if done.returncode == 0 and ref.startswith("refs/heads/") else None


def _adopt(repo: Repo) -> HookResult:
    try:
        with state.ledger(repo) as ledger:
            if refs.read(repo, f"refs/heads/{ledger.state.branch}") is None:
                return HookResult(EXIT_OK, ())
            taken = adopt(repo, ledger)
    except JitosError as err:
        return HookResult(EXIT_OK, (f"jitos: could not record the commit now ({err}); the next collapse adopts it",))
    if not taken:
        return HookResult(EXIT_OK, ())
    return HookResult(EXIT_OK, (f"jitos: recorded {len(taken)} commit(s) made outside jitos (adopted)",))


def _verify(repo: Repo) -> HookResult:
    result = verify(repo)
    if result.ok:
        return HookResult(EXIT_OK, ())
    shown = [f"jitos: problem: {p}" for p in result.problems[:5]]
    more = [f"jitos: … and {len(result.problems) - 5} more (`jitos verify`)"] if len(result.problems) > 5 else []
    last = f"jitos: refused to push: history does not verify ({len(result.problems)} problem(s)); see `jitos verify`"
    return HookResult(1, (*shown, *more, last))
