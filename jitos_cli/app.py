"""The typer app: each command parses options, calls one kernel function and
renders the result (human or `--json`). No git calls and no business logic here."""

from __future__ import annotations

import typer

from jitos_cli import core, landing, planning, tasks, workspaces

app = typer.Typer(
    name="jitos",
    help="Speculative workspaces with provenance for any git repository.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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
app.command("demo")(tasks.demo)
app.command("plan")(planning.plan)
app.add_typer(planning.methods_app, name="methods")
