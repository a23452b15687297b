"""Collapse: the only way work becomes real.

Land exactly the tree that passed the gate (the "not rocket science" rule),
locally and deterministically, in three steps:

1. **prepare** (under the jitos lock): snapshot the workspace (first attempt
   only), adopt commits made on the system branch outside jitos (an `adopt`
   event), and re-base the workspace onto the current system when the paths
   each side changed since the workspace's base are disjoint — else a
   `conflict` event listing the paths, and nothing applied; a workspace that
   adds nothing to the system lands nothing;
2. **gate** (without the lock, so other commands can proceed): run the
   policy's gate on exactly that tree in the workspace folder, or reuse a
   recorded result for the same tree and argv;
3. **land** (under the lock again): record the gate's result (red is a
   `gate-failed` event and nothing applied); if the system, the branch or the
   workspace moved meanwhile, start over from step 1 (at most MAX_ATTEMPTS
   times); refuse if the user's checkout of the branch has local edits the
   update would overwrite; otherwise one canonical collapse commit (parent:
   the system) becomes the system, the branch moves fast-forward and the
   history ref records it, in one ref transaction; then the checkout is
   updated and the workspace folder removed (kept if it holds edits made
   after its snapshot).

Conflicts and red gates are returned as data; this module never prints, and
never writes a workspace folder itself (the gate runs in it; `kernel.workspace`
re-bases, snapshots and removes it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pygit2

from kernel.base import canonical
from kernel.base.policy import check_program, refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import (
    EXIT_CONFLICT,
    EXIT_GATE_RED,
    EXIT_OK,
    BadInput,
    IntegrityError,
    JitosError,
)
from kernel.land import gate
from kernel.land.adopt import adopt
from kernel.land.gate import GatePolicy, GateResult, log_tail
from kernel.land.merge import UNRESOLVED, Conflict, merge
from kernel.land.update import unresolved
from kernel.record import history, refs, state
from kernel.record.history import SYSTEM_REF
from kernel.record.locks import is_live
from kernel.record.state import Ledger, Sws
from kernel.workspace import checkout, sws, trash, trees
from kernel.workspace.checkout import (
    checkouts_of,
    done_checkout_update,
    local_edits,
    note_checkout_update,
    refuse_locked_index,
    write_paths,
)

MAX_ATTEMPTS = 5
SHOWN = 200

GateNotice = Callable[[tuple[str, ...], str], None]


@dataclass(frozen=True, slots=True)
class CollapseResult:
    sws: str
    committed: bool
    system: str
    outcome: str  # committed | empty | conflict | gate-failed | checkout-dirty
    conflicts: tuple[str, ...] = ()
    gate: GateResult | None = None
    gate_skipped: str | None = None
    adopted: tuple[str, ...] = ()
    rebased: bool = False
    event: str = ""
    paths: tuple[str, ...] = field(default_factory=tuple)
    left_behind: tuple[str, ...] = ()
    gate_tail: tuple[str, ...] = ()  # the last lines of a red gate's log, to explain it on one screen
    kept: tuple[str, ...] = ()  # what history cannot hold, moved to <git dir>/jitos/kept/<id>/
    merged: tuple[str, ...] = ()  # paths both sides changed, merged line by line
    details: tuple[Conflict, ...] = ()  # for `conflict`: what kind each is, and its conflicting lines

    @property
    def exit_code(self) -> int:
        """0 when it landed or had nothing to land, 4 for a red gate, 3 for a
        conflict or local edits in the way."""
        if self.committed or self.outcome == "empty":
            return EXIT_OK
        return EXIT_GATE_RED if self.outcome == "gate-failed" else EXIT_CONFLICT


@dataclass(frozen=True, slots=True)
class _Request:
    """What was asked: land workspace `key`, gated by `policy`; `message` and
    `provenance` word and link what is recorded; `on_gate` hears that the gate starts."""

    key: str
    policy: GatePolicy
    message: str | None
    provenance: Mapping[str, str]
    on_gate: GateNotice | None

    @property
    def links(self) -> dict[str, str]:
        """Links every event of this collapse carries besides its workspace."""
        return {k: v for k, v in self.provenance.items() if k in ("task", "step")}


@dataclass(frozen=True, slots=True)
class _Ready:
    """A prepared workspace: re-based onto `system`, with `tree` (its head's)
    to gate and land, a recorded gate result for it if one may be reused, and
    what all attempts so far adopted, whether they re-based and which paths
    they merged line by line."""

    sws: Sws
    system: str
    tree: str
    known: GateResult | None
    adopted: tuple[str, ...]
    rebased: bool
    merged: tuple[str, ...] = ()

    def result(self, outcome: str, system: str, *, conflicts: tuple[str, ...] = (), gate: GateResult | None = None,
               gate_skipped: str | None = None, event: str = "", paths: tuple[str, ...] = (),
               left_behind: tuple[str, ...] = (), kept: tuple[str, ...] = ()) -> CollapseResult:
        """How this collapse ended: `outcome`, with the system as it then was."""
        return CollapseResult(self.sws.id, outcome == "committed", system, outcome, conflicts, gate, gate_skipped,
                              self.adopted, self.rebased, event, paths, left_behind, kept=kept,
                              merged=tuple(sorted(set(self.merged))))


def collapse(
    repo: Repo,
    key: str,
    policy: GatePolicy | None = None,
    *,
    message: str | None = None,
    provenance: Mapping[str, str] | None = None,
    on_gate: GateNotice | None = None,
) -> CollapseResult:
    """Land workspace `key`, gated as `policy` says (default: the configured
    gate). `provenance` (intent, task, step) becomes `Jitos-*` trailers on the
    collapse commit; task and step also link every event recorded. `on_gate`
    is called just before the gate runs (not when a result is reused)."""
    refuse_inside_worker("collapse")
    if policy is None:
        policy = GatePolicy.from_options(repo)
    request = _Request(key, policy, message, dict(provenance or {}), on_gate)
    adopted: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    rebased = False
    for attempt in range(MAX_ATTEMPTS):
        ready = _prepare(repo, request, snapshot=attempt == 0, adopted=adopted, rebased=rebased, merged=merged)
        if isinstance(ready, CollapseResult):
            return ready
        landed = _land(repo, request, ready, _gate(repo, request, ready))
        if landed is not None:
            if landed.committed:
                trash.empty_later(repo)  # the folder is deleted after the command has answered
            return landed
        adopted, rebased, merged = ready.adopted, ready.rebased, ready.merged  # the world moved while the gate ran
    raise JitosError(f"the system kept moving during {MAX_ATTEMPTS} collapse attempts; try again")


# -- 1. prepare ----------------------------------------------------------------


def _prepare(repo: Repo, request: _Request, *, snapshot: bool, adopted: tuple[str, ...],
             rebased: bool, merged: tuple[str, ...]) -> _Ready | CollapseResult:
    """Under the lock: the workspace re-based onto the current system, ready to
    gate; or the result that ends the collapse here (a conflict, or nothing to land)."""
    with checkout.ledger(repo) as ledger:
        ws = sws.find_active(ledger.state, request.key)
        if ws.task and request.links.get("task") != ws.task and is_live(repo, ws.task):
            # A step of that task (a worker with JITOS_STEP unset, say) must not
            # land its own work around the task's gate: refused before anything moves.
            raise BadInput(f"workspace {ws.id} belongs to task {ws.task}, which is running; its own collapse step "
                           f"lands it, gated (stop the task first to collapse it by hand)")
        # What was recorded must be whole before anything is recorded or moved.
        _require_objects(repo, ws.id, repo.tree_of(ws.base), repo.tree_of(ws.head))
        if snapshot:  # later edits (made while a gate ran, or by the gate) are not landed
            sws.record_changes(repo, ledger, ws, label="before collapse")
        left = unresolved(repo, ledger.state.sws[ws.id])
        if left:  # `sws update` wrote conflict markers there that nobody has resolved yet
            clash = tuple(Conflict(path, UNRESOLVED) for path in left)
            return _conflict(ledger, request, ledger.state.sws[ws.id], ledger.state.system or "", clash, adopted,
                             rebased)
        adopted += adopt(repo, ledger)
        ws = ledger.state.sws[ws.id]
        system = ledger.state.system
        assert system is not None
        if ws.base != system:
            combined = merge(repo, ws.base, system, ws.head)
            if combined.conflicts:
                return _conflict(ledger, request, ws, system, combined.conflicts, adopted, rebased)
            ws = sws.rebase(repo, ledger, ws, system, request.links, changes=combined.changes,
                            merged=combined.merged, tree=combined.tree)
            rebased = True
            merged += combined.merged
        tree = repo.tree_of(ws.head)
        ready = _Ready(ws, system, tree, None, adopted, rebased, merged)
        if tree == repo.tree_of(system):
            return ready.result("empty", system)
        _require_objects(repo, ws.id, repo.tree_of(system), tree)
        argv = request.policy.argv
        if argv and not request.policy.rerun:
            ready = replace(ready, known=gate.cached(ledger.state, repo, tree, argv))
        if argv and ready.known is None:  # a gate is about to run: a checkout in the way is said first
            branch = ledger.state.branch or ""
            old_tree = repo.tree_of(system)
            _, dirty = checkouts_in_the_way(repo, branch, old_tree, trees.diff(repo.git, old_tree, tree))
            if dirty:
                return _in_the_way(ledger, request, ready, dirty, None)
        return ready


def _require_objects(repo: Repo, sws_id: str, old_tree: str, tree: str) -> None:
    """Every blob the collapse would land exists: one a crash or a hand lost
    is found before anything runs or moves, not half-way through a checkout."""
    try:
        changed = trees.diff(repo.git, old_tree, tree)
    except KeyError as err:
        raise IntegrityError(f"workspace {sws_id}: a tree its snapshot names is missing ({err}); "
                             "nothing landed — run `jitos verify`") from None
    odb = repo.git.odb  # a header check per blob, not a read
    missing = sorted(rel for rel, e in changed.items()
                     if e is not None and e.mode != trees.GITLINK_MODE and e.oid not in odb)
    if missing:
        oid = changed[missing[0]]
        assert oid is not None
        raise IntegrityError(f"workspace {sws_id}: the recorded content of {missing[0]} (object {oid.oid[:12]})"
                             + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                             + " is missing from the object database; nothing landed — run `jitos verify`")


def _conflict(ledger: Ledger, request: _Request, ws: Sws, system: str, clash: tuple[Conflict, ...],
              adopted: tuple[str, ...], rebased: bool) -> CollapseResult:
    rec = ledger.record(
        "conflict",
        f"sws {ws.id}: cannot collapse, {len(clash)} path(s) changed on both sides",
        data={"paths": [c.path for c in clash], "conflicts": [c.record() for c in clash], "base": ws.base,
              "system": system, "head": ws.head},
        links={"sws": ws.id, **request.links},
    )
    return CollapseResult(ws.id, False, system, "conflict", tuple(c.path for c in clash), adopted=adopted,
                          rebased=rebased, event=rec.oid, details=clash)


# -- 2. gate -------------------------------------------------------------------


def _gate(repo: Repo, request: _Request, ready: _Ready) -> GateResult | None:
    """Without the lock: the gate's verdict on the prepared tree (None: skipped)."""
    argv = request.policy.argv
    if not argv or ready.known is not None:
        return ready.known
    folder = sws.workspace_path(repo, ready.sws.id)  # the gate's cwd: the folder holds exactly `tree`
    check_program(argv, folder, "gate")
    if request.on_gate is not None:
        request.on_gate(argv, ready.sws.id)
    return gate.run(repo, request.policy, folder, ready.tree, ready.sws.id)


# -- 3. land -------------------------------------------------------------------


def _land(repo: Repo, request: _Request, ready: _Ready, result: GateResult | None) -> CollapseResult | None:
    """Under the lock: record the gate's verdict, then commit, move the system
    and branch and update the checkouts — or the result that stops it (a red
    gate, a dirty checkout); None when the world moved while the gate ran."""
    with checkout.ledger(repo) as ledger:
        if result is not None and (not result.cached or not result.passed):
            result = _record_gate(ledger, request, ready, result)
            if not result.passed:
                return replace(ready.result("gate-failed", ledger.state.system or "", gate=result,
                                            event=result.event or ""), gate_tail=log_tail(repo, result.log))
        current = ledger.state.sws[ready.sws.id]
        if _moved(repo, ledger.state, ready, current):
            return None
        return _commit(repo, ledger, request, replace(ready, sws=current), result)


def _record_gate(ledger: Ledger, request: _Request, ready: _Ready, result: GateResult) -> GateResult:
    """A `gate-passed` or `gate-failed` event (a reused failure is recorded again)."""
    verdict = "passed" if result.passed else "failed"
    rec = ledger.record(
        f"gate-{verdict}",
        f"sws {ready.sws.id}: gate {verdict}: {' '.join(result.command)[:60]}"
        + (" (cached result)" if result.cached else ""),
        data={"tree": ready.tree, "command": list(result.command), "exit": result.exit_code,
              "log": result.log, "cached": result.cached},
        links={"sws": ready.sws.id, **request.links},
    )
    return replace(result, event=rec.oid)


def _in_the_way(ledger: Ledger, request: _Request, ready: _Ready, dirty: list[str],
                result: GateResult | None) -> CollapseResult:
    """Not collapsed: local edits in a checkout of the branch would be overwritten."""
    rec = ledger.record(
        "conflict",
        f"sws {ready.sws.id}: not collapsed, local edits in the {ledger.state.branch} checkout would be overwritten",
        data={"paths": dirty, "checkout": True, "system": ready.system, "head": ready.sws.head},
        links={"sws": ready.sws.id, **request.links},
    )
    return ready.result("checkout-dirty", ready.system, conflicts=tuple(dirty), gate=result, event=rec.oid)


def _moved(repo: Repo, st: state.State, ready: _Ready, current: Sws) -> bool:
    """Whether the system, the branch or the workspace changed since `ready` was prepared."""
    return (st.system != ready.system or refs.read(repo, f"refs/heads/{st.branch}") != ready.system
            or current.head != ready.sws.head or current.state != state.SWS_ACTIVE)


def _commit(repo: Repo, ledger: Ledger, request: _Request, ready: _Ready,
            result: GateResult | None) -> CollapseResult:
    """Land `ready.tree` as one collapse commit on the system, unless a checkout
    of the branch has local edits in the way."""
    branch = ledger.state.branch or ""
    old_tree = repo.tree_of(ready.system)
    changed = trees.diff(repo.git, old_tree, ready.tree)
    opened, dirty = checkouts_in_the_way(repo, branch, old_tree, changed)
    if dirty:
        return _in_the_way(ledger, request, ready, dirty, result)
    commit, rec = land_commit(
        repo, ledger, ready.system, ready.tree, changed, opened,
        message=_message(repo, ledger.state, request, ready.sws, len(changed), result),
        summary=lambda commit: f"sws {ready.sws.id}: collapsed into {branch} as {commit[:12]} ({len(changed)} path(s))",
        data={"gate": gate_record(result), "gate_skipped": request.policy.skipped, "head": ready.sws.head},
        links={"sws": ready.sws.id, **request.links},
    )
    # Edits made while the gate ran (or files the gate wrote) were not tested,
    # so they did not land; the workspace folder stays while it holds any.
    left, kept = sws.remove_if_clean(repo, ledger.state.sws[ready.sws.id])
    return ready.result("committed", commit, gate=result, gate_skipped=request.policy.skipped, event=rec.oid,
                        paths=tuple(sorted(changed)), left_behind=left, kept=kept)


def checkouts_in_the_way(repo: Repo, branch: str, old_tree: str, changed: Mapping[str, trees.Entry | None]
                         ) -> tuple[dict[Path, pygit2.Repository], list[str]]:
    """The checkouts of `branch` (each opened once: its index is read once for
    the check and the update) and the local edits there that landing
    `changed` would overwrite; bad input when git holds one's index."""
    roots = checkouts_of(repo, branch)
    opened = {root: pygit2.Repository(str(root)) for root in roots}
    dirty = sorted({p for root in roots for p in local_edits(repo, root, old_tree, changed, opened[root])})
    refuse_locked_index(roots)
    return opened, dirty


def land_commit(repo: Repo, ledger: Ledger, system: str, tree: str, changed: Mapping[str, trees.Entry | None],
                opened: Mapping[Path, pygit2.Repository], *, message: str, summary: Callable[[str], str],
                data: Mapping[str, object], links: Mapping[str, str]) -> tuple[str, history.Recorded]:
    """The one way work lands: a collapse commit (parent: `system`) holding
    `tree`; the system ref and the branch moved to it in one transaction with
    the `collapse` event (`data` added to its record); then the checkouts in
    `opened` updated. Caller holds the ledger and found no local edits in the way."""
    branch = ledger.state.branch or ""
    when = canonical.now()
    commit = str(repo.git.create_commit(None, _author(repo, when), history.signature(when), message,
                                        pygit2.Oid(hex=tree), [pygit2.Oid(hex=system)]))
    old_tree = repo.tree_of(system)
    note_checkout_update(repo, list(opened), f"refs/heads/{branch}", old_tree, commit, changed)
    rec = ledger.record(
        "collapse", summary(commit),
        data={"commit": commit, "parent": system, "tree": tree, "branch": branch, "paths": sorted(changed)[:SHOWN],
              "changed": len(changed), **data},
        links=dict(links),
        moves={SYSTEM_REF: commit},
        extra_moves=(refs.RefMove(f"refs/heads/{branch}", system, commit),),
        when=when,
    )
    for root, checkout_repo in opened.items():
        write_paths(repo, root, dict(changed), checkout_repo)
    done_checkout_update(repo)
    return commit, rec


def gate_record(result: GateResult | None) -> dict[str, object] | None:
    """How a collapse event records the gate that passed (None: no gate)."""
    return None if result is None else {"command": list(result.command), "passed": True, "cached": result.cached,
                                        "log": result.log, "event": result.event}


# -- the collapse commit ---------------------------------------------------------


def _author(repo: Repo, when: int) -> pygit2.Signature:
    try:
        sig = repo.git.default_signature
        return pygit2.Signature(sig.name, sig.email, when, 0)
    except (KeyError, pygit2.GitError):
        return history.signature(when)


def _message(repo: Repo, st: state.State, request: _Request, ws: Sws, paths: int,
             result: GateResult | None) -> str:
    """The collapse commit's message: the body, then the `Jitos-*` trailers."""
    prov = request.provenance
    lines = [f"Jitos-{key.capitalize()}: {_one_line(prov[key])}" for key in ("intent", "task", "step") if key in prov]
    lines += [f"Jitos-Sws: {ws.id}", f"Jitos-Event: collapse #{st.seq + 1}",
              f"Jitos-Gate: {request.policy.trailer(result)}"]
    return _body(repo, st, ws, paths, request.message) + "\n\n" + "\n".join(lines) + "\n"


def _body(repo: Repo, st: state.State, ws: Sws, paths: int, custom: str | None) -> str:
    """`-m`, else the one snapshot message given, else a title listing them all."""
    if custom:
        return custom.strip()
    notes = [  # the events held in memory (or the saved chain), not a walk of every commit
        str(rec.event.data["message"])
        for rec in history.events(repo)
        if rec.event.links.get("sws") == ws.id and rec.event.kind in ("snapshot", "run")
        and rec.event.data.get("message")
    ]
    label = f" ({ws.name})" if ws.name else ""
    if len(notes) == 1:
        return notes[0]
    title = f"Collapse {ws.id}{label}: {paths} path{'s' if paths != 1 else ''}"
    return title + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())
