"""`jitos collapse` and `jitos undo`: build the gate policy from the options,
call the kernel, render the result; conflicts exit 3, red gates 4."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated, Any

import typer

from jitos_cli import completion
from jitos_cli.core import JsonOpt
from jitos_cli.render import emit_json, err, out, style

GateOpt = Annotated[str | None, typer.Option("--gate", metavar="CMD", help="Gate command (split like a shell, never run by one).")]
NoGateOpt = Annotated[bool, typer.Option("--no-gate", help="Land without a gate (recorded, with --reason).")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why the gate is skipped.")]
RerunOpt = Annotated[bool, typer.Option("--rerun-gate", help="Run the gate even if this tree already has a result.")]


def collapse(
    keys: Annotated[list[str] | None, typer.Argument(metavar="ID…", help="Workspace ids or names (s1@CLONE: one "
                                                                       "fetched from another clone), landed in this order.",
                                                     autocompletion=completion.workspaces)] = None,
    all_ready: Annotated[bool, typer.Option("--all-ready", help="Every active workspace with a snapshot, oldest first.")] = False,
    gate: GateOpt = None,
    no_gate: NoGateOpt = False,
    reason: ReasonOpt = None,
    rerun_gate: RerunOpt = False,
    message: Annotated[str | None, typer.Option("-m", "--message", help="Collapse commit message.")] = None,
    json: JsonOpt = False,
) -> int:
    """Gate the workspace merged onto the current system, then land it
    (fast-forward); several, or --all-ready: stacked, gated together, the
    ones that break the gate found by bisection and left out."""
    from kernel.base.repo import open_repo
    from kernel.errors import BadInput
    from kernel.land.collapse import collapse as do_collapse
    from kernel.land.gate import GatePolicy

    repo = open_repo()
    if all_ready and keys:
        raise BadInput("--all-ready takes no workspace ids; give either the ids or --all-ready")
    if not all_ready and not keys:
        raise BadInput("collapse needs a workspace id (or several, or --all-ready); see `jitos sws list`")
    policy = GatePolicy.from_options(repo, gate=gate, no_gate=no_gate, reason=reason, rerun=rerun_gate)
    notice = None if json else gate_notice
    if keys:  # one fetched from another clone (s1@bob) becomes a workspace here first
        from kernel.land.fetched import take

        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise BadInput(f"{', '.join(twice)} named twice; give each workspace once")
        keys = [take(repo, key) for key in keys]
    if keys and len(keys) == 1 and not all_ready:
        return render(do_collapse(repo, keys[0], policy, message=message, on_gate=notice), json)
    from kernel.land.queue import collapse_all, ready

    chosen = ready(repo) if all_ready else list(keys or [])
    if not chosen:
        raise BadInput("no workspace is ready to collapse (none is active with a snapshot); see `jitos status`")
    return render_queue(collapse_all(repo, chosen, policy, message=message, on_gate=notice), json)


def render_queue(result: Any, json: bool) -> int:
    """A queue's result: what landed, what was left out and why."""
    if json:
        emit_json({"landed": list(result.landed), "outcome": result.outcome, "system": result.system,
                   "committed": result.outcome == "committed", "gate_runs": result.gate_runs,
                   "left_out": [{"sws": c.sws, "why": c.why, "conflict_details": [d.record() for d in c.conflicts]}
                                for c in result.culprits],
                   "paths": list(result.paths), "conflicts": list(result.dirty), "event": result.event})
        return int(result.exit_code)
    for culprit in result.culprits:
        what = "breaks the gate" if culprit.why == "gate-failed" else \
            f"conflicts ({', '.join(d.describe() for d in culprit.conflicts[:3])})"
        err(f"{style('left out', 'red')} {culprit.sws}: {what}")
    if result.outcome == "committed":
        out(f"{style('collapsed', 'green')} {', '.join(result.landed)} → {result.system[:12]} "
            f"({len(result.paths)} path(s); {result.gate_runs} gate run(s))")
    elif result.outcome == "checkout-dirty":
        err(f"{style('conflict', 'red')}: {len(result.dirty)} path(s) changed in your checkout of the branch "
            "(commit or stash them first); nothing applied:")
        for path in result.dirty:
            err(f"  {path}")
    elif result.outcome == "empty":
        out("nothing to land: the workspaces add nothing to the system")
    else:
        err("nothing landed: every workspace was left out")
    return int(result.exit_code)


def undo(
    which: Annotated[str | None, typer.Argument(metavar="[COLLAPSE]", help="Collapse commit id or #seq (default: the latest).")] = None,
    gate: GateOpt = None,
    no_gate: NoGateOpt = False,
    reason: ReasonOpt = None,
    rerun_gate: RerunOpt = False,
    json: JsonOpt = False,
) -> int:
    """Land a new collapse that restores the tree from before an earlier collapse."""
    from kernel.base.repo import open_repo
    from kernel.land.gate import GatePolicy
    from kernel.land.undo import undo as do_undo

    repo = open_repo()
    policy = GatePolicy.from_options(repo, gate=gate, no_gate=no_gate, reason=reason, rerun=rerun_gate)
    return render(do_undo(repo, which, policy), json)


def gate_notice(argv: tuple[str, ...], sws_id: str) -> None:
    err(style(f"gate: running {shlex.join(argv)} in {sws_id} …", "dim", sys.stderr))


def collapse_json(result: Any) -> dict[str, Any]:
    g = result.gate
    return {
        "sws": result.sws,
        "committed": result.committed,
        "outcome": result.outcome,
        "system": result.system,
        "conflicts": list(result.conflicts),
        "conflict_details": [c.record() for c in result.details],
        "merged": list(result.merged),
        "gate": None if g is None else {"command": list(g.command), "passed": g.passed, "cached": g.cached,
                                        "log": g.log, "exit": g.exit_code},
        "gate_skipped": result.gate_skipped,
        "adopted": list(result.adopted),
        "rebased": result.rebased,
        "paths": list(result.paths),
        "left_behind": list(result.left_behind),
        "kept": list(result.kept),
        "event": result.event,
    }


def render(result: Any, json: bool) -> int:
    """Show a collapse's result and return its exit code: 0 when it landed or
    had nothing to land, 4 for a red gate, 3 for a conflict or a dirty checkout."""
    if json:
        emit_json(collapse_json(result))
    elif result.outcome == "empty":
        out(f"nothing to land: {result.sws} adds nothing to the system ({result.system[:12]}); nothing changed")
    elif result.committed:
        _render_landed(result)
    elif result.outcome == "gate-failed":
        _render_red_gate(result.gate, result.gate_tail)
    else:
        _render_conflict(result)
    return int(result.exit_code)


def _render_landed(result: Any) -> None:
    if result.adopted:
        out(f"adopted {len(result.adopted)} commit(s) made on the branch outside jitos")
    if result.rebased:
        merged = f", merging {len(result.merged)} file(s) line by line: {', '.join(result.merged[:5])}" \
            if result.merged else ""
        out(f"re-based {result.sws} onto the current system{merged}")
    if result.gate is not None:
        cached = " (cached)" if result.gate.cached else ""
        out(f"gate {style('passed', 'green')}{cached}: {' '.join(result.gate.command)}")
    else:
        out(f"gate {result.gate_skipped}")
    out(f"{style('collapsed', 'green')} {result.sws} → {result.system[:12]} ({len(result.paths)} path(s))")
    if result.left_behind:
        err(f"note: {len(result.left_behind)} path(s) changed after the gate started did not land; "
            f"they stay in the workspace folder: {', '.join(result.left_behind[:5])}")
    if result.kept:
        err(f"note: kept {len(result.kept)} path(s) history cannot hold (ignored files, nested git dirs) in "
            f".git/jitos/kept/{result.sws}/: {', '.join(result.kept[:5])}")


def _render_red_gate(g: Any, tail: tuple[str, ...]) -> None:
    cached = " (cached result; --rerun-gate to run it again)" if g.cached else ""
    err(f"gate {style('failed', 'red')}{cached}: {' '.join(g.command)} (exit {g.exit_code}); nothing applied")
    for line in tail:
        err(f"  | {line}")
    err(f"full log: store object {g.log} (under .git/jitos/store)")


def _render_conflict(result: Any) -> None:
    from kernel.land.merge import UNRESOLVED

    where = "in your checkout of the branch (commit or stash them first)" if result.outcome == "checkout-dirty" \
        else "on both the system and the workspace"
    if result.details and all(d.kind == UNRESOLVED for d in result.details):
        err(f"{style('conflict', 'red')}: {len(result.conflicts)} file(s) still hold the conflict markers "
            f"`jitos sws update` wrote; resolve them, `jitos sws snapshot {result.sws}`, then collapse again; "
            "nothing applied:")
        for path in result.conflicts:
            err(f"  {path}")
        return
    err(f"{style('conflict', 'red')}: {len(result.conflicts)} path(s) changed {where}; nothing applied:")
    for detail in result.details or result.conflicts:
        err(f"  {detail if isinstance(detail, str) else detail.describe()}")
