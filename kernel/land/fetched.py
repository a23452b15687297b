"""Landing a workspace fetched from another clone (`jitos collapse s1@bob`).

Only an active one: a workspace its clone discarded or collapsed is refused,
and so is one whose fetched head already landed here.

Its snapshot commits came with the fetch (`refs/jitos/clones/bob/sws/s1`),
but collapse, gate and history work on this clone's workspaces. So it first
becomes one: a new workspace here on the same base, carrying exactly the
fetched change (base → head) — a `sws-new` event, then a `rebase` event onto
that same base linked `from: s1@bob` — and that workspace is collapsed as any
other, gate included. Taking the same fetched head again reuses the
workspace made for it while it is active. Nothing of the other clone's refs
or history is touched.
"""

from __future__ import annotations

from kernel.base.repo import Repo
from kernel.errors import BadInput, NotFound
from kernel.record import clones, history, state
from kernel.workspace import checkout, sws, trees

FROM_LINK = "from"


def take(repo: Repo, key: str) -> str:
    """This clone's workspace id for `key`: `key` itself when it names one of
    this clone's, else (`s1@bob`) a workspace here made from the fetched one."""
    local, clone = clones.split(key)
    if clone is None:
        return key
    if clone not in clones.known(repo):
        fetched = ", ".join(clones.known(repo)) or "none"
        raise NotFound(f"no history fetched from a clone named {clone!r} (fetched: {fetched}); `jitos fetch` first")
    theirs = sws.find(state.current(repo, history.history_ref(clone)), local)
    if theirs.state != state.SWS_ACTIVE:
        raise BadInput(f"workspace {theirs.id}@{clone} is {theirs.state} on clone {clone}; only an active one "
                       "can be landed here")
    if theirs.head == theirs.base:
        raise BadInput(f"workspace {key} has no snapshot: nothing of it to land")
    for commit in (theirs.base, theirs.head):
        if commit not in repo.git:
            raise NotFound(f"workspace {key}'s commit {commit[:12]} is not here; `jitos fetch` from a remote "
                           f"{clone} pushed to")
    mine = state.load(repo)
    for rec in reversed(history.events(repo)):
        made = mine.sws.get(rec.event.links.get("sws", ""))
        if rec.event.links.get(FROM_LINK) != f"{theirs.id}@{clone}" or made is None \
                or repo.tree_of(made.head) != repo.tree_of(theirs.head):
            continue
        if made.state == state.SWS_ACTIVE:
            return made.id
        if made.state == state.SWS_COLLAPSED:
            raise BadInput(f"workspace {key} as fetched already landed here as {made.id} (`jitos why {made.id}`)")
    made_ws = sws.new(repo, theirs.base, task=None)
    with checkout.ledger(repo) as ledger:
        current = ledger.state.sws[made_ws.id]
        change = trees.diff(repo.git, repo.tree_of(theirs.base), repo.tree_of(theirs.head))
        sws.rebase(repo, ledger, current, theirs.base, {FROM_LINK: f"{theirs.id}@{clone}"}, changes=change)
    return made_ws.id
