"""`jitos plan` and `jitos methods`: placeholder module, replaced by the planner work."""

from __future__ import annotations

import typer

methods_app = typer.Typer(help="The HTN method library.", no_args_is_help=True)


def plan() -> None:
    """Show plan candidates for an intent; runs nothing."""
