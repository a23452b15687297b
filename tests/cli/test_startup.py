"""A command imports only what it uses: `jitos --version` neither the command
line nor git nor the planner; `jitos status` not the planner, nor git's
library once history is folded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jitos_cli import __version__


def _imported(args: list[str], cwd: Path) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         f"import sys; from jitos_cli.main import run; sys.argv[1:] = {args!r}; run()"],
        cwd=cwd, capture_output=True, text=True, check=True)
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done.stdout, modules


def test_version_is_answered_without_the_command_line_git_or_the_planner(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        shown, modules = _imported([flag], tmp_path)
        assert shown == f"jitos {__version__}\n"
        assert not {m for m in modules if m.split(".")[0] in ("pygit2", "typer", "click")
                    or m.startswith("kernel.planner")}, sorted(modules)


def test_status_does_not_import_the_planner_nor_git_once_history_is_folded(jrepo: Path) -> None:
    first, modules = _imported(["status"], jrepo)  # folds history from git, saves the fold
    assert "pygit2._pygit2" in modules and "1 events" in first
    assert not {m for m in modules if m.startswith("kernel.planner.") and m != "kernel.planner.limits"}
    again, modules = _imported(["status"], jrepo)
    assert again == first
    assert not {m for m in modules if m.startswith("pygit2")}, sorted(m for m in modules if "pygit2" in m)
    # A command that does read git objects loads it when it first uses it.
    shown, modules = _imported(["log"], jrepo)
    assert "pygit2._pygit2" in modules and "init" in shown


def test_a_command_builds_only_its_own_parser_and_help_lists_them_all(capsys: object) -> None:
    import typer

    from jitos_cli.app import COMMANDS, command_line
    from jitos_cli.main import main

    def names(app: typer.Typer) -> list[str]:
        return [c.name or "" for c in app.registered_commands] + [g.name or "" for g in app.registered_groups]

    assert names(command_line("status")) == ["status"]
    assert names(command_line("sws")) == ["sws"]
    assert sorted(names(command_line(None))) == sorted(COMMANDS) == sorted(names(command_line("stauts")))
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out  # type: ignore[attr-defined]
    assert all(f"  {name} " in shown for name in COMMANDS), shown
    assert main(["stauts"]) == 2
    assert "Did you mean 'status'?" in capsys.readouterr().err  # type: ignore[attr-defined]
