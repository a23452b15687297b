"""Collapse: the only way work becomes real.

Land exactly the tree that passed the gate (the "not rocket science" rule),
locally and deterministically:

1. adopt commits made on the system branch outside jitos (an `adopt` event);
2. re-base the workspace onto the current system when the paths each side
   changed since the workspace's base are disjoint — else a `conflict` event
   listing the paths, and nothing applied;
3. run the gate on exactly that tree (cached by tree id and argv) — red is a
   `gate-failed` event and nothing applied;
4. refuse if the user's checkout of the branch has local edits the update
   would overwrite; otherwise one canonical collapse commit (parent: the
   system) becomes the system, the branch moves fast-forward and the history
   ref records it, in one ref transaction; then the checkout is updated.

Conflicts and red gates are returned as data; this module never prints.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pygit2

from kernel.base import canonical
from kernel.base.policy import check_program, refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import BadInput, JitosError
from kernel.land import gate
from kernel.land.adopt import adopt
from kernel.land.merge import conflicts
from kernel.record import history, refs, state
from kernel.record.history import SYSTEM_REF
from kernel.record.state import Ledger, Sws
from kernel.workspace import checkout, trees
from kernel.workspace.backend import for_repo
from kernel.workspace.checkout import (
    done_checkout_update,
    local_edits,
    note_checkout_update,
    write_paths,
)
from kernel.workspace.sws import (
    find_active,
    rebase,
    record_changes,
    remove_if_clean,
    workspace_path,
)

MAX_ATTEMPTS = 5
SHOWN = 200


@dataclass(frozen=True, slots=True)
class CollapseResult:
    sws: str
    committed: bool
    system: str
    outcome: str  # committed | conflict | gate-failed | checkout-dirty
    conflicts: tuple[str, ...] = ()
    gate: gate.GateResult | None = None
    gate_skipped: str | None = None
    adopted: tuple[str, ...] = ()
    rebased: bool = False
    event: str = ""
    paths: tuple[str, ...] = field(default_factory=tuple)
    left_behind: tuple[str, ...] = ()


def _who(repo: Repo) -> str:
    try:
        sig = repo.git.default_signature
        return f"{sig.name} <{sig.email}>"
    except (KeyError, pygit2.GitError):
        return os.environ.get("USER", "unknown")


def _author(repo: Repo, when: int) -> pygit2.Signature:
    try:
        sig = repo.git.default_signature
        return pygit2.Signature(sig.name, sig.email, when, 0)
    except (KeyError, pygit2.GitError):
        return history.signature(when)


def _checkouts(repo: Repo, branch: str) -> list[Path]:
    """Work trees that have the system branch checked out (never jitos's own)."""
    ref = f"refs/heads/{branch}"
    found: list[Path] = []
    git = repo.git
    if repo.workdir is not None and not git.head_is_unborn and not git.head_is_detached and git.head.name == ref:
        found.append(repo.workdir)
    ours = os.path.realpath(repo.workspaces_dir)
    for name in git.list_worktrees():
        try:
            path = git.lookup_worktree(name).path
            if os.path.realpath(path).startswith(ours + os.sep) or not os.path.isdir(path):
                continue
            other = pygit2.Repository(path)
            if not other.head_is_detached and other.head.name == ref:
                found.append(Path(path))
        except (KeyError, pygit2.GitError):
            continue
    return found


def _index_locked(root: Path) -> bool:
    checkout = pygit2.Repository(str(root))
    return (Path(checkout.path) / "index.lock").exists()


def _message(repo: Repo, st: state.State, sws: Sws, paths: int, custom: str | None) -> str:
    if custom:
        return custom.strip()
    notes = [
        str(rec.event.data["message"])
        for rec in history.walk(repo, st.head)
        if rec.event.links.get("sws") == sws.id and rec.event.kind == "snapshot" and rec.event.data.get("message")
    ]
    notes.reverse()
    label = f" ({sws.name})" if sws.name else ""
    if len(notes) == 1:
        return notes[0]
    title = f"Collapse {sws.id}{label}: {paths} path{'s' if paths != 1 else ''}"
    return title + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _gate_trailer(result: gate.GateResult | None, skipped: str | None) -> str:
    if result is None:
        return skipped or "skipped"
    return f"{shlex.join(result.command)} passed"  # the log's digest is in the gate event, not here:
    # a gate that prints times would otherwise make the commit id vary


def collapse(
    repo: Repo,
    key: str,
    *,
    gate_cmd: str | None = None,
    no_gate: bool = False,
    reason: str | None = None,
    rerun_gate: bool = False,
    message: str | None = None,
    gate_argv: tuple[str, ...] | None = None,
    provenance: dict[str, str] | None = None,
    on_gate: Callable[[tuple[str, ...], str], None] | None = None,
) -> CollapseResult:
    """Land workspace `key`. `provenance` (intent, task, step) becomes `Jitos-*`
    trailers on the collapse commit; task and step also link every event recorded."""
    refuse_inside_worker("collapse")
    if no_gate and gate_cmd is not None:
        raise BadInput("--gate and --no-gate contradict each other; use one")
    config = repo.config()
    argv = None if no_gate else (gate_argv or gate.resolve(gate_cmd, config))
    prov = dict(provenance or {})
    extra_links = {k: v for k, v in prov.items() if k in ("task", "step")}
    skipped = None
    if no_gate:
        skipped = f"skipped by {_who(repo)}: {reason or 'no reason given'}"
    adopted: tuple[str, ...] = ()
    rebased = False
    for attempt in range(MAX_ATTEMPTS):
        with checkout.ledger(repo) as ledger:
            sws = find_active(ledger.state, key)
            if attempt == 0:  # later edits (made while a gate ran, or by the gate) are not landed
                record_changes(repo, ledger, sws, label="before collapse")
            adopted += adopt(repo, ledger)
            sws = ledger.state.sws[sws.id]
            system = ledger.state.system
            assert system is not None
            if sws.base != system:
                clash = conflicts(repo, sws.base, system, sws.head)
                if clash:
                    rec = ledger.record(
                        "conflict",
                        f"sws {sws.id}: cannot collapse, {len(clash)} path(s) changed on both sides",
                        data={"paths": clash, "base": sws.base, "system": system, "head": sws.head},
                        links={"sws": sws.id, **extra_links},
                    )
                    return CollapseResult(sws.id, False, system, "conflict", tuple(clash), adopted=adopted,
                                          rebased=rebased, event=rec.oid)
                sws = rebase(repo, ledger, sws, system, extra_links)
                rebased = True
            tree = repo.tree_of(sws.head)
            if tree == repo.tree_of(system):
                return CollapseResult(sws.id, False, system, "empty", adopted=adopted, rebased=rebased)
            known = gate.cached(ledger.state, repo, tree, argv) if argv and not rerun_gate else None
        result = known
        if argv and result is None:
            check_program(argv, workspace_path(repo, sws.id), "gate")
            if on_gate is not None:
                on_gate(argv, sws.id)
            result = gate.run(repo, argv, workspace_path(repo, sws.id), tree, sws.id, config)
        with checkout.ledger(repo) as ledger:
            if result is not None and (not result.cached or not result.passed):
                rec = ledger.record(
                    "gate-passed" if result.passed else "gate-failed",
                    f"sws {sws.id}: gate {'passed' if result.passed else 'failed'}: {' '.join(result.command)[:60]}"
                    + (" (cached result)" if result.cached else ""),
                    data={"tree": tree, "command": list(result.command), "exit": result.exit_code,
                          "log": result.log, "cached": result.cached},
                    links={"sws": sws.id, **extra_links},
                )
                result = replace(result, event=rec.oid)
                if not result.passed:
                    return CollapseResult(sws.id, False, ledger.state.system or "", "gate-failed", gate=result,
                                          adopted=adopted, rebased=rebased, event=rec.oid)
            current = ledger.state.sws[sws.id]
            branch_ref = f"refs/heads/{ledger.state.branch}"
            if (ledger.state.system != system or refs.read(repo, branch_ref) != system
                    or current.head != sws.head or current.state != state.SWS_ACTIVE):
                continue  # the world moved while the gate ran: start over from it
            landed = _commit(repo, ledger, current, system, tree, result, skipped, message, adopted, rebased, prov)
        for_repo(repo).empty_trash(repo)
        return landed
    raise JitosError(f"the system kept moving during {MAX_ATTEMPTS} collapse attempts; try again")


def _commit(
    repo: Repo, ledger: Ledger, sws: Sws, system: str, tree: str, result: gate.GateResult | None,
    skipped: str | None, message: str | None, adopted: tuple[str, ...], rebased: bool,
    prov: dict[str, str],
) -> CollapseResult:
    links = {"sws": sws.id, **{k: v for k, v in prov.items() if k in ("task", "step")}}
    st = ledger.state
    branch = st.branch or ""
    changed = trees.diff(repo.git, repo.tree_of(system), tree)
    checkouts = _checkouts(repo, branch)
    dirty = sorted({p for root in checkouts for p in local_edits(repo, root, repo.tree_of(system), changed)})
    locked = [str(root) for root in checkouts if _index_locked(root)]
    if locked:
        raise BadInput(f"the index of your checkout at {locked[0]} is locked (index.lock: another git "
                       "command is running, or one crashed); nothing was changed — try again")
    if dirty:
        rec = ledger.record(
            "conflict",
            f"sws {sws.id}: not collapsed, local edits in the {branch} checkout would be overwritten",
            data={"paths": dirty, "checkout": True, "system": system, "head": sws.head},
            links=links,
        )
        return CollapseResult(sws.id, False, system, "checkout-dirty", tuple(dirty), gate=result,
                              adopted=adopted, rebased=rebased, event=rec.oid)
    when = canonical.now()
    seq = st.seq + 1
    body = _message(repo, st, sws, len(changed), message)
    lines = [f"Jitos-{key.capitalize()}: {_one_line(prov[key])}" for key in ("intent", "task", "step") if key in prov]
    lines += [f"Jitos-Sws: {sws.id}", f"Jitos-Event: collapse #{seq}", f"Jitos-Gate: {_gate_trailer(result, skipped)}"]
    trailers = "\n".join(lines) + "\n"
    text = body + "\n\n" + trailers
    commit = str(repo.git.create_commit(None, _author(repo, when), history.signature(when), text,
                                        pygit2.Oid(hex=tree), [pygit2.Oid(hex=system)]))
    note_checkout_update(repo, checkouts, f"refs/heads/{branch}", repo.tree_of(system), commit, changed)
    gate_data = None if result is None else {
        "command": list(result.command), "passed": True, "cached": result.cached, "log": result.log,
        "event": result.event}
    rec = ledger.record(
        "collapse",
        f"sws {sws.id}: collapsed into {branch} as {commit[:12]} ({len(changed)} path(s))",
        data={"commit": commit, "parent": system, "tree": tree, "branch": branch, "gate": gate_data,
              "gate_skipped": skipped, "paths": sorted(changed)[:SHOWN], "changed": len(changed),
              "head": sws.head},
        links=links,
        moves={SYSTEM_REF: commit},
        extra_moves=(refs.RefMove(f"refs/heads/{branch}", system, commit),),
        when=when,
    )
    for root in checkouts:
        write_paths(repo, root, dict(changed))
    done_checkout_update(repo)
    # Edits made while the gate ran (or files the gate wrote) were not tested,
    # so they did not land; the workspace folder stays while it holds any.
    left = remove_if_clean(repo, ledger.state.sws[sws.id])
    return CollapseResult(sws.id, True, commit, "committed", gate=result, gate_skipped=skipped, adopted=adopted,
                          rebased=rebased, event=rec.oid, paths=tuple(sorted(changed)), left_behind=left)
