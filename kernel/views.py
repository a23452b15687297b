"""Read-only views folded from history: `status` (with a collapse prediction per
workspace, computed in memory) and `log`. Never writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel import history, refs, state
from kernel.collapse import conflicts
from kernel.repo import Repo
from kernel.sws import Workspace, view


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: str
    seq: int
    kind: str
    summary: str
    time: int
    links: dict[str, str]
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Status:
    system: str
    branch: str
    history: str
    events: int
    workspaces: tuple[Workspace, ...]
    tasks: tuple[dict[str, Any], ...]
    predictions: dict[str, Prediction]


@dataclass(frozen=True, slots=True)
class Prediction:
    """Whether a workspace's recorded head would collapse onto the current system."""

    clean: bool
    rebase: bool
    conflicts: tuple[str, ...]


def status(repo: Repo) -> Status:
    st = state.load(repo)
    active = [s for s in st.sws.values() if s.state == state.SWS_ACTIVE]
    # A collapse adopts commits made on the branch first, so predict against its tip.
    target = refs.read(repo, f"refs/heads/{st.branch}") or st.system
    predictions = {}
    for sws in active:
        clash = tuple(conflicts(repo, sws.base, target, sws.head)) if target and sws.base != target else ()
        predictions[sws.id] = Prediction(not clash, sws.base != target, clash)
    workspaces = tuple(view(repo, s) for s in active)
    return Status(st.system or "", st.branch or "", st.head or "", st.seq, workspaces, (), predictions)


def log(repo: Repo, limit: int | None = None, sws: str | None = None) -> list[LogEntry]:
    """Events newest first, optionally only those linked to one workspace."""
    history.require(repo)
    entries: list[LogEntry] = []
    for rec in history.walk(repo):
        event = rec.event
        if sws is not None and event.links.get("sws") != sws:
            continue
        entries.append(
            LogEntry(rec.oid, event.seq, event.kind, event.summary, event.time, dict(event.links), dict(event.data))
        )
        if limit is not None and len(entries) >= limit:
            break
    return entries
