"""`jitos undo`: land a new collapse that restores the tree before an earlier
one. It is an ordinary workspace (named `undo-<seq>`) based on the collapse
commit, holding the reverse change, collapsed like any other — so it is
recorded, gated, re-based, and a conflict if later collapses touched the same
paths. History is never rewritten, and the workspace folder is written only
through the workspace backend.
"""

from __future__ import annotations

from kernel.base.policy import refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import BadInput, NotFound
from kernel.land.collapse import CollapseResult, collapse
from kernel.land.gate import GatePolicy
from kernel.record import history
from kernel.workspace import sws, trees
from kernel.workspace.backend import for_path


def find_collapse(repo: Repo, which: str | None) -> history.Recorded:
    """The latest collapse, or the one named by history id, collapse commit id (prefixes) or #seq."""
    history.require(repo)
    if which is None:
        latest = next((rec for rec in history.walk(repo) if rec.event.kind == "collapse"), None)
        if latest is None:
            raise NotFound("nothing to undo: no collapse is recorded yet")
        return latest
    by_seq, key = _parse(which)
    found = [rec for rec in history.walk(repo) if rec.event.kind == "collapse" and _matches(rec, key, by_seq)]
    if not found:
        raise NotFound(f"no collapse matches {which!r}; see `jitos log` for collapse ids")
    if len(found) > 1:
        raise BadInput(f"{which!r} matches {len(found)} collapses; give more of the id")
    return found[0]


def _parse(which: str) -> tuple[bool, str]:
    """(`which` is a `#seq`, the seq or id prefix it gives)."""
    by_seq = which.startswith("#")
    key = which.lstrip("#")
    if not key or key.startswith("-") or (by_seq and not key.isdigit()):
        raise BadInput(f"{which!r} does not name a collapse; give a commit id or #seq from `jitos log`")
    return by_seq, key


def _matches(rec: history.Recorded, key: str, by_seq: bool) -> bool:
    """`#seq` names only the collapse with that seq, never an id prefix."""
    if by_seq:
        return str(rec.event.seq) == key
    return rec.oid.startswith(key) or str(rec.event.data["commit"]).startswith(key)


def undo(repo: Repo, which: str | None = None, policy: GatePolicy | None = None) -> CollapseResult:
    """Collapse, gated as `policy` says (default: the configured gate), a
    workspace that reverses collapse `which` (default: the latest)."""
    refuse_inside_worker("undo")
    rec = find_collapse(repo, which)
    if policy is None:
        policy = GatePolicy.from_options(repo)
    done = str(rec.event.data["commit"])
    commit = repo.commit(done)
    subject = commit.message.splitlines()[0] if commit.message else done[:12]
    reverse = trees.diff(repo.git, str(commit.tree_id), repo.tree_of(str(rec.event.data["parent"])))
    name = f"undo-{rec.event.seq}"
    earlier = [w for w in sws.list_all(repo) if w.name == name]
    if earlier:  # an earlier attempt (red gate, conflict): collapse it again
        ws = earlier[0]
    else:
        ws = sws.new(repo, from_rev=done, name=name)
    if ws.head == ws.base:  # new, or made by an attempt killed before it recorded the reverse change
        for_path(repo, ws.path).write(repo, ws.path, reverse)
        sws.snapshot(repo, ws.id, f"Undo \"{subject}\"")
    message = f"Undo \"{subject}\"\n\nRestores the tree from before collapse #{rec.event.seq} ({done[:12]})."
    result = collapse(repo, ws.id, policy, message=message)
    if result.outcome == "empty":  # already undone: nothing to keep
        sws.discard(repo, ws.id, reason="nothing to undo: the system already has this tree", force=True)
    return result
