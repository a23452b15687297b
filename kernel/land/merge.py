"""Where a workspace and the system disagree: the paths both changed since the
workspace's base. Pure tree comparison in memory; never writes.
"""

from __future__ import annotations

from kernel.base.repo import Repo
from kernel.workspace import trees


def conflicts(repo: Repo, base: str, system: str, head: str) -> list[str]:
    """Paths both sides changed differently since `base` (identical changes agree),
    including a file on one side where the other has a folder."""
    b = repo.tree_of(base)
    d_sys = trees.diff(repo.git, b, repo.tree_of(system))
    d_ws = trees.diff(repo.git, b, repo.tree_of(head))
    clash = {p for p in d_sys.keys() & d_ws.keys() if d_sys[p] != d_ws[p]}
    for mine, theirs in ((d_ws, d_sys), (d_sys, d_ws)):
        for path, entry in mine.items():
            if entry is None:
                continue
            parts = path.split("/")
            for i in range(1, len(parts)):
                if theirs.get("/".join(parts[:i])) is not None:
                    clash.add(path)
    return sorted(clash)
