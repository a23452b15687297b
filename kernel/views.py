"""Read-only views folded from history: `status` and `log`. Never writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernel import history, state
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


def status(repo: Repo) -> Status:
    st = state.load(repo)
    workspaces = tuple(view(repo, s) for s in st.sws.values() if s.state == state.SWS_ACTIVE)
    return Status(st.system or "", st.branch or "", st.head or "", st.seq, workspaces, ())


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
