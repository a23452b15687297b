"""The typer app: which command name runs which function, and the options that
come before any command (`--debug`).

Each command parses options, calls one kernel function and renders the result
(human or `--json`). This module only wires them up: it must never hold
command logic, git calls or error handling (that is `main`'s one handler).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from jitos_cli import core, landing, planning, tasks, workspaces


@dataclass(slots=True)
class GlobalOptions:
    """Options given before the command, as `jitos --debug COMMAND …`. The error
    handler in `main` reads them after the command has run (or failed)."""

    debug: bool = False


options = GlobalOptions()

app = typer.Typer(
    name="jitos",
    help="Speculative workspaces with provenance for any git repository.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Print the traceback with an error.")] = False,
    version: Annotated[bool, typer.Option("--version", "-V", help="Print jitos's version and exit.")] = False,
) -> None:
    # `jitos --version` is answered in `main` before this app is built; the
    # option is declared here so that --help lists it.
    options.debug = debug
    core.finish_interrupted()


app.command("init")(core.init)
app.command("intent")(tasks.intent)
app.command("resume")(tasks.resume)
app.command("cancel")(tasks.cancel)
app.add_typer(workspaces.sws_app, name="sws")
app.command("collapse")(landing.collapse)
app.command("undo")(landing.undo)
app.command("status")(core.status)
app.command("log")(core.log)
app.command("why")(tasks.why)
app.command("show")(tasks.show)
app.command("verify")(core.verify)
app.command("gc")(core.gc)
app.command("demo")(tasks.demo)
app.command("plan")(planning.plan)
app.add_typer(planning.methods_app, name="methods")
