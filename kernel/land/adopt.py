"""Adopt commits made on the system branch outside jitos: the system follows
the branch (an `adopt` event), and a branch that was rewritten keeps the old
system reachable at `refs/jitos/kept/<seq>`, so `git gc` never drops it.

Never moves the branch or rewrites a commit: it only records what is already
on the branch. Caller holds the ledger.
"""

from __future__ import annotations

import pygit2

from kernel.base.repo import Repo
from kernel.errors import BadInput
from kernel.record import refs
from kernel.record.history import SYSTEM_REF
from kernel.record.state import Ledger

SHOWN = 200


def adopt(repo: Repo, ledger: Ledger) -> tuple[str, ...]:
    """Bring commits made on the system branch outside jitos into the system."""
    st = ledger.state
    branch_ref = f"refs/heads/{st.branch}"
    tip = refs.read(repo, branch_ref)
    system = st.system
    assert system is not None
    if tip is None:
        raise BadInput(
            f"the system branch {st.branch!r} no longer exists; recreate it with "
            f"`git branch {st.branch} {system[:12]}`"
        )
    if tip == system:
        return ()
    diverged = not repo.git.descendant_of(tip, system)
    walker = repo.git.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(system)
    commits = tuple(str(c.id) for c in walker)
    moves: dict[str, str | None] = {SYSTEM_REF: tip}
    note = ""
    if diverged:  # the branch was rewritten: keep what the system was, reachable
        kept = f"refs/jitos/kept/{st.seq + 1}"
        moves[kept] = system
        note = f" (the branch was rewritten; the old system stays at {kept})"
    ledger.record(
        "adopt",
        f"adopt {len(commits)} commit(s) made on {st.branch} outside jitos{note}",
        data={"branch": st.branch, "from": system, "to": tip, "commits": list(commits[:SHOWN]),
              "count": len(commits), "diverged": diverged},
        moves=moves,
    )
    return commits
