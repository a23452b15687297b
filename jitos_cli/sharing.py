"""`jitos push`, `jitos fetch` and `jitos audit`: provenance through git
remotes, and which commits on the branch landed gated. Each parses its
options, calls one kernel function and renders the result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jitos_cli.core import JsonOpt
from jitos_cli.render import emit_json, err, out, style, write_junit

if TYPE_CHECKING:
    from kernel.hooks import HooksStatus

RemoteArg = Annotated[str, typer.Argument(metavar="REMOTE", help="A git remote name or URL (default: origin).")]


def push(remote: RemoteArg = "origin", json: JsonOpt = False) -> None:
    """Publish this clone's history, store objects and workspace snapshots under its own name on REMOTE."""
    from kernel.base.repo import open_repo
    from kernel.record.clones import push as do_push

    done = do_push(open_repo(), remote)
    if json:
        emit_json({"remote": done.remote, "clone": done.clone, "refs": list(done.refs)})
        return
    out(f"pushed {len(done.refs)} ref(s) to {done.remote} as clone {done.clone} "
        f"(refs/jitos/clones/{done.clone}/…)")


def fetch(remote: RemoteArg = "origin", json: JsonOpt = False) -> int:
    """Bring every other clone's history from REMOTE; nothing of this clone's is touched."""
    from kernel.base.repo import open_repo
    from kernel.errors import EXIT_OK, IntegrityError
    from kernel.record.clones import fetch as do_fetch

    done = do_fetch(open_repo(), remote)
    if json:
        emit_json({"remote": done.remote, "updated": list(done.updated), "unchanged": list(done.unchanged),
                   "refused": [{"clone": c, "why": why} for c, why in done.refused]})
        return IntegrityError.exit_code if done.refused else EXIT_OK
    if not done.updated and not done.unchanged and not done.refused:
        out(f"{done.remote} has no history from other clones")
    for clone in done.updated:
        out(f"clone {clone}: updated")
    for clone in done.unchanged:
        out(f"clone {clone}: up to date")
    for clone, why in done.refused:
        err(f"clone {clone}: refused, {why}")
    return IntegrityError.exit_code if done.refused else EXIT_OK


HOW_COLOUR = {"gated": "green", "ungated": "yellow", "adopted": "yellow", "unrecorded": "red"}


def audit(
    rev_range: Annotated[str | None, typer.Argument(metavar="[RANGE]", help="Commits as git gives them "
                                                     "(default: since the last tag, else all of HEAD).")] = None,
    require_gated: Annotated[bool, typer.Option("--require-gated", help="Exit 4 when any commit lacks a gate "
                                                "that passed on exactly its tree.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE", help="Also write a JUnit XML report.")] = None,
    json: JsonOpt = False,
) -> int:
    """For each commit in RANGE: the collapse and gate that landed it, or that it came from outside."""
    from kernel.audit import audit as do_audit
    from kernel.base.repo import open_repo

    result = do_audit(open_repo(), rev_range)
    if junit is not None:
        write_junit(junit, "jitos audit", [
            ("jitos.audit", f"{r.commit[:12]} {r.subject}",
             None if r.how == "gated" or not require_gated else f"{r.how}: {r.detail}") for r in result.rows])
    if json:
        emit_json({"range": result.range, "ok": not result.ungated, "commits": [
            {"commit": r.commit, "subject": r.subject, "how": r.how, "detail": r.detail,
             "clone": r.landing.clone if r.landing else None,
             "event": r.landing.event.id if r.landing else None,
             "gate": ({"command": r.landing.gate.data.get("command"), "event": r.landing.gate.id}
                      if r.landing and r.landing.gate else None),
             **({k: v for k, v in r.landing.task.items()} if r.landing else {})} for r in result.rows]})
        return result.exit_code(require_gated)
    for r in result.rows:
        out(f"{style(r.commit[:12], 'yellow')} {style(f'{r.how:<10}', HOW_COLOUR.get(r.how, 'bold'))} {r.subject}")
        out(f"      {r.detail}")
    gated = len(result.rows) - len(result.ungated)
    out(f"{gated} of {len(result.rows)} commit(s) in {result.range} landed with a gate that passed on exactly "
        "their tree")
    code = result.exit_code(require_gated)
    if code:
        first = result.ungated[0]
        err(f"not gated: {first.commit[:12]} {first.subject} ({first.how}); {len(result.ungated)} in all")
    return code


hooks_app = typer.Typer(help="Git hooks: a guard before commits on the system branch, adopt after, verify before push.",
                        no_args_is_help=True)


def _hooks_json(st: HooksStatus) -> dict[str, object]:
    return {"installed": st.installed, "folder": str(st.folder),
            "chained_to": str(st.chained_to) if st.chained_to else None,
            "previous_hooks_path": st.previous_hooks_path, "offered": st.offered}


def _hooks(verb: str, json: bool) -> None:
    """Run `kernel.hooks.<verb>` here and render what it leaves."""
    from kernel import hooks
    from kernel.base.repo import open_repo

    done: HooksStatus = getattr(hooks, verb)(open_repo())
    if json:
        emit_json(_hooks_json(done))
    elif verb == "uninstall":
        out("jitos hooks: uninstalled; git runs your hooks as before")
    elif not done.installed:
        out("jitos hooks: not installed — `jitos hooks install`")
    else:
        offered = ", ".join(f"{name} ({what})" for name, what in done.offered.items())
        out(f"jitos hooks {verb}: installed in {done.folder}: {offered}")
        out(f"  then your hooks run, from {done.chained_to}")


@hooks_app.command("install")
def hooks_install(json: JsonOpt = False) -> None:
    """Install jitos's hooks in front of yours (idempotent; yours keep running)."""
    _hooks("install", json)


@hooks_app.command("uninstall")
def hooks_uninstall(json: JsonOpt = False) -> None:
    """Remove jitos's hooks and put core.hooksPath back as it was."""
    _hooks("uninstall", json)


@hooks_app.command("status")
def hooks_status(json: JsonOpt = False) -> None:
    """Whether jitos's hooks are installed, and which hooks of yours run after them."""
    _hooks("status", json)


@hooks_app.command("run", hidden=True)
def hooks_run(name: Annotated[str, typer.Argument(help="The hook git is running.")],
              args: Annotated[list[str] | None, typer.Argument(help="The hook's arguments.")] = None) -> int:
    """jitos's part of a git hook (the installed scripts call this)."""
    from kernel.base.repo import open_repo
    from kernel.hooks import run

    result = run(open_repo(), name)
    for line in result.lines:
        err(line)
    return result.exit_code
