"""`jitos sws …`: speculative workspaces by hand. Each command calls one
function of `kernel.workspace.sws` and renders its result; `sws run` exits
with the command's own code (`kernel.errors.passed_through`).

Never a git call or a rule about workspaces here: the kernel decides, this
module prints.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from jitos_cli import completion
from jitos_cli.core import JsonOpt, workspace_json
from jitos_cli.render import emit_json, err, out, style

sws_app = typer.Typer(help="Speculative workspaces: isolated checkouts whose every change is recorded.",
                      no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Workspace id (s1, s2, …) or name.",
                                      autocompletion=completion.workspaces)]


@sws_app.command("new")
def new(
    from_rev: Annotated[str | None, typer.Option("--from", metavar="REV", help="Base revision (default: the system).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name to refer to it by.")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a workspace from the system (or --from REV)."""
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    ws = sws.new(open_repo(), from_rev=from_rev, name=name)
    if json:
        emit_json({"id": ws.id, "name": ws.name, "path": str(ws.path), "base": ws.base})
        return
    out(f"created {style(ws.id, 'bold')}" + (f" ({ws.name})" if ws.name else "") + f" from {ws.base[:12]}")
    out(str(ws.path))


@sws_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include discarded and collapsed workspaces.")] = False,
    json: JsonOpt = False,
) -> None:
    """List workspaces."""
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    found = sws.list_all(open_repo(), include_inactive=all_)
    if json:
        emit_json([workspace_json(w) for w in found])
        return
    for ws in found:
        label = f" ({ws.name})" if ws.name else ""
        out(f"{ws.id}{label}\t{ws.state}\tbase {ws.base[:12]}\thead {ws.head[:12]}\t{ws.path}")


@sws_app.command("path")
def path(key: IdArg) -> None:
    """Print a workspace's directory (for `cd $(jitos sws path s1)`)."""
    from kernel.base.repo import open_repo
    from kernel.workspace import interactive

    found = interactive.where(open_repo(), key)
    out(str(found.path))
    if not found.visible:
        err(f"note: {found.sws} is an overlay workspace: its files show at this path only inside jitos views; "
            f"`jitos sws shell {found.sws}` opens one, `jitos sws materialize {found.sws}` makes it a plain folder")


@sws_app.command("shell")
def shell(key: IdArg,
          program: Annotated[str | None, typer.Option("--shell", metavar="PROGRAM",
                                                      help="Run this instead of $SHELL.")] = None) -> int:
    """Open your shell inside the workspace; what you change is recorded when it exits."""
    from kernel.base.repo import open_repo
    from kernel.errors import passed_through
    from kernel.workspace import interactive

    code, snap = interactive.shell(open_repo(), key, program)
    if snap.changed:
        err(f"jitos: {snap.sws}: recorded {len(snap.changed)} path(s) as {snap.head[:12]}")
    return passed_through(code)


@sws_app.command("materialize")
def materialize(key: IdArg) -> None:
    """Make an overlay workspace a plain checked-out folder, for editors and tools outside jitos."""
    from kernel.base.repo import open_repo
    from kernel.workspace import interactive

    found = interactive.materialize(open_repo(), key)
    out(str(found.path))


@sws_app.command("diff")
def diff(key: IdArg, stat: Annotated[bool, typer.Option("--stat", help="Per-file counts only.")] = False,
         json: JsonOpt = False) -> None:
    """Show the workspace against its base, recorded and unrecorded edits alike."""
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    result = sws.diff(open_repo(), key)
    if json:
        emit_json({"sws": result.sws, "base": result.base, "unrecorded": list(result.unrecorded),
                   "files": [{"path": p, "added": a, "deleted": d} for p, a, d in result.files],
                   **({} if stat else {"patch": result.patch})})
        return
    if stat:
        for p, a, d in result.files:
            out(f" {p} | +{a} -{d}")
        out(f" {len(result.files)} file(s) changed")
    else:
        sys.stdout.write(result.patch)
    if result.unrecorded:
        err(f"note: {len(result.unrecorded)} path(s) not yet recorded; `jitos sws snapshot {result.sws}` records them")


@sws_app.command("snapshot")
def snapshot(key: IdArg, message: Annotated[str | None, typer.Option("-m", "--message")] = None,
             json: JsonOpt = False) -> None:
    """Record the workspace's current content as a snapshot commit."""
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    snap = sws.snapshot(open_repo(), key, message)
    if json:
        emit_json({"sws": snap.sws, "head": snap.head, "changed": list(snap.changed), "event": snap.event})
        return
    if not snap.changed:
        out(f"{snap.sws}: nothing changed since {snap.head[:12]}")
    else:
        out(f"{snap.sws}: recorded {len(snap.changed)} path(s) as {snap.head[:12]}")


@sws_app.command("update")
def update(key: IdArg, json: JsonOpt = False) -> int:
    """Re-base the workspace onto the current system in place, merged as a
    collapse merges; conflicts are written into it for you to resolve."""
    from kernel.base.repo import open_repo
    from kernel.land.update import update as do_update
    from kernel.workspace.sws import workspace_path

    result = do_update(open_repo(), key)
    if json:
        emit_json({"sws": result.sws, "outcome": result.outcome, "system": result.system,
                   "adopted": list(result.adopted), "merged": list(result.merged),
                   "conflicts": [c.path for c in result.conflicts],
                   "conflict_details": [c.record() for c in result.conflicts], "event": result.event})
        return result.exit_code
    if result.adopted:
        out(f"adopted {len(result.adopted)} commit(s) made on the branch outside jitos")
    merged = f"; merged line by line: {', '.join(result.merged[:5])}" if result.merged else ""
    if result.outcome == "current":
        out(f"{result.sws} is already on the current system {result.system[:12]}")
    elif result.outcome == "updated":
        out(f"updated {result.sws} onto the current system {result.system[:12]}{merged}")
    elif result.outcome == "conflict":
        out(f"updated {result.sws} onto the current system {result.system[:12]}{merged}")
        err(f"{style('conflict', 'red')}: {len(result.conflicts)} path(s) to resolve in "
            f"{workspace_path(open_repo(), result.sws)}, then `jitos sws snapshot {result.sws}`:")
        for conflict in result.conflicts:
            err(f"  {conflict.describe()}")
    else:
        err(f"{style('conflict', 'red')}: {len(result.conflicts)} path(s) cannot be merged in place; "
            "nothing applied:")
        for conflict in result.conflicts:
            err(f"  {conflict.describe()}")
    return result.exit_code


@sws_app.command("run")
def run(key: IdArg, command: Annotated[list[str], typer.Argument(metavar="-- CMD…", help="The command (argv).")],
        message: Annotated[str | None, typer.Option("-m", "--message", help="What the edits it makes are, as "
                                                    "`sws snapshot -m` takes it (the collapse message).")] = None,
        json: JsonOpt = False) -> int:
    """Run a command inside the workspace; record its output, exit code and edits."""
    from kernel.base.proc import local
    from kernel.base.repo import open_repo
    from kernel.errors import passed_through
    from kernel.workspace import sws

    if command and command[0] == "--":
        command = command[1:]
    repo = open_repo()
    result = sws.run(repo, key, command, message)
    if json:
        emit_json({"sws": result.sws, "argv": list(result.argv), "exit": result.exit_code,
                   "stdout": result.stdout, "stderr": result.stderr, "changed": list(result.snapshot.changed),
                   "head": result.snapshot.head, "event": result.event})
    else:
        sys.stdout.buffer.write(local(repo, repo.store.get(result.stdout)))
        sys.stderr.buffer.write(local(repo, repo.store.get(result.stderr)))
        sys.stdout.flush()
        changed = f", {len(result.snapshot.changed)} path(s) recorded" if result.snapshot.changed else ""
        err(f"jitos: {result.sws}: exit {result.exit_code}{changed}")
    return passed_through(result.exit_code)


@sws_app.command("discard")
def discard(key: IdArg, reason: Annotated[str | None, typer.Option("--reason")] = None,
            force: Annotated[bool, typer.Option("--force", help="Snapshot unrecorded edits, then discard.")] = False,
            json: JsonOpt = False) -> None:
    """Remove a workspace's directory; its history and last snapshot stay."""
    from kernel.base.repo import open_repo
    from kernel.workspace import sws

    snap = sws.discard(open_repo(), key, reason=reason, force=force)
    if json:
        emit_json({"sws": snap.sws, "head": snap.head, "snapshotted": list(snap.changed)})
        return
    saved = f" after recording {len(snap.changed)} path(s)" if snap.changed else ""
    out(f"discarded {snap.sws}{saved}; its last state stays at refs/jitos/sws/{snap.sws} ({snap.head[:12]})")
