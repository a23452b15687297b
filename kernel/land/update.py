"""`jitos sws update ID`: bring a workspace onto the current system in place.

Under the jitos lock: the workspace's unrecorded edits are snapshotted first
(so its previous state stays reachable, as the re-base commit's parent),
commits made on the branch outside jitos are adopted, and the workspace is
re-based onto the system, merged as a collapse merges (`kernel.land.merge`).
What merges cleanly is simply there. Overlapping lines are written into the
workspace for a person to resolve (diff3-style conflict markers `<<<<<<<
system` / `||||||| base` / `=======` / `>>>>>>> workspace`). The `rebase`
event that writes them names the files with markers (`unresolved`), so no
crash can leave markers a collapse does not know of; a `conflict` event with
`"update": true` follows for `log` and `why`. `status` shows them, and a
collapse refuses while those files still hold the markers, also after later
updates. Any other conflict (a deletion against an edit, binary,
file/folder, …) changes nothing but history, as in a collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.base.policy import refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import EXIT_CONFLICT, EXIT_OK, BadInput
from kernel.land.adopt import adopt
from kernel.land.merge import MARKER, Conflict, merge
from kernel.record.locks import is_live
from kernel.record.state import Sws
from kernel.workspace import checkout, sws, trees


@dataclass(frozen=True, slots=True)
class UpdateResult:
    sws: str
    outcome: str  # current (nothing to do) | updated | conflict (markers written) | refused (nothing applied)
    system: str
    adopted: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    event: str = ""

    @property
    def exit_code(self) -> int:
        """0 when the workspace is on the system with nothing to resolve; 3 otherwise."""
        return EXIT_OK if self.outcome in ("current", "updated") else EXIT_CONFLICT


def update(repo: Repo, key: str, *, task: str | None = None) -> UpdateResult:
    """Update workspace `key`; `task` is the running task that owns it, when
    that task's runner updates its own workspace."""
    refuse_inside_worker("sws update")
    with checkout.ledger(repo) as ledger:
        ws = sws.find_active(ledger.state, key)
        if ws.task and ws.task != task and is_live(repo, ws.task):
            raise BadInput(f"workspace {ws.id} belongs to task {ws.task}, which is running; stop the task first")
        sws.record_changes(repo, ledger, ws, label="before update")
        adopted = adopt(repo, ledger)
        ws = ledger.state.sws[ws.id]
        system = ledger.state.system
        assert system is not None
        if ws.base == system:
            left = unresolved(repo, ws)  # an earlier update's markers, not resolved yet
            return UpdateResult(ws.id, "conflict" if left else "current", system, adopted,
                                conflicts=tuple(Conflict(p, "content") for p in left))
        combined = merge(repo, ws.base, system, ws.head, markers=True)
        if combined.conflicts and not combined.marked:
            rec = ledger.record(
                "conflict",
                f"sws {ws.id}: not updated, {len(combined.conflicts)} path(s) cannot be merged in place",
                data={"paths": combined.paths, "conflicts": [c.record() for c in combined.conflicts],
                      "base": ws.base, "system": system, "head": ws.head},
                links={"sws": ws.id},
            )
            return UpdateResult(ws.id, "refused", system, adopted, conflicts=combined.conflicts, event=rec.oid)
        marked = tuple(c.path for c in combined.conflicts if c.kind == "content")
        ws = sws.rebase(repo, ledger, ws, system, changes=combined.changes, merged=combined.merged,
                        unresolved=marked, tree=combined.tree)
        if not combined.conflicts:
            left = unresolved(repo, ws)  # an earlier update's markers, carried over
            return UpdateResult(ws.id, "conflict" if left else "updated", system, adopted, combined.merged,
                                tuple(Conflict(p, "content") for p in left), event=ledger.state.head or "")
        rec = ledger.record(
            "conflict",
            f"sws {ws.id}: updated onto system {system[:12]}; {len(combined.conflicts)} path(s) to resolve "
            f"in the workspace, then snapshot",
            data={"paths": combined.paths, "conflicts": [c.record() for c in combined.conflicts], "update": True,
                  "system": system, "head": ws.head},
            links={"sws": ws.id},
        )
        return UpdateResult(ws.id, "conflict", system, adopted, combined.merged, combined.conflicts, rec.oid)


def unresolved(repo: Repo, ws: Sws) -> list[str]:
    """The files `sws update` left with conflict markers that the workspace's
    recorded head still has them in."""
    if not ws.unresolved:
        return []
    tree = repo.commit(ws.head).tree
    left = []
    for path in ws.unresolved:
        entry = trees.entry_at(tree, path)
        if entry is not None and has_markers(repo.blob(entry.oid).data):
            left.append(path)
    return left


def has_markers(data: bytes) -> bool:
    """Whether a file still holds a conflict as `sws update` writes one."""
    lines = [line.rstrip(b"\r") for line in data.split(b"\n")]
    return any(line == b"<" * MARKER + b" system" for line in lines) and \
        any(line == b">" * MARKER + b" workspace" for line in lines)
