"""The typer app: which command name runs which function, and the options that
come before any command (`--debug`).

Each command parses options, calls one kernel function and renders the result
(human or `--json`). This module only wires them up: it must never hold
command logic, git calls or error handling (that is `main`'s one handler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from jitos_cli import core, landing, planning, sharing, tasks, workspaces


@dataclass(slots=True)
class GlobalOptions:
    """Options given before the command, as `jitos --debug COMMAND …`. The error
    handler in `main` reads them after the command has run (or failed)."""

    debug: bool = False


options = GlobalOptions()

# Every command, in the order `jitos --help` lists them: a function, or a group of them.
COMMANDS: dict[str, Callable[..., Any] | typer.Typer] = {
    "init": core.init,
    "intent": tasks.intent,
    "resume": tasks.resume,
    "cancel": tasks.cancel,
    "sws": workspaces.sws_app,
    "collapse": landing.collapse,
    "undo": landing.undo,
    "status": core.status,
    "log": core.log,
    "why": tasks.why,
    "show": tasks.show,
    "verify": core.verify,
    "push": sharing.push,
    "fetch": sharing.fetch,
    "audit": sharing.audit,
    "hooks": sharing.hooks_app,
    "gc": core.gc,
    "demo": tasks.demo,
    "plan": planning.plan,
    "methods": planning.methods_app,
}


def command_line(name: str | None = None) -> typer.Typer:
    """The app with every command, or with only `name` when it is one: typer
    inspects each command's signature to build its parser (about 1 ms each),
    so running one command builds one. `--help` and a mistyped name get all."""
    app = typer.Typer(
        name="jitos",
        help="Speculative workspaces with provenance for any git repository.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(global_options)
    for command, target in ({name: COMMANDS[name]} if name in COMMANDS else COMMANDS).items():
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=command)
        else:
            app.command(command)(target)
    return app


def global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback with an error.")] = False,
    version: Annotated[bool, typer.Option("--version", "-V", help="Print jitos's version and exit.")] = False,
) -> None:
    # `jitos --version` is answered in `main` before this app is built; the
    # option is declared here so that --help lists it.
    options.debug = debug
    core.finish_interrupted()
