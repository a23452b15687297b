"""State is a fold over history, never a stored field.

`fold` replays events oldest-first into an immutable `State`; `ledger` is the
one way to record new events: it takes the jitos lock, folds history, and
appends events whose ids and ref moves are derived from that state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from kernel.base.repo import Repo
from kernel.record import carry, folds, history, packing, refs
from kernel.record.history import SWS_REF_PREFIX, SYSTEM_REF, Recorded

SWS_ACTIVE = "active"
SWS_DISCARDED = "discarded"
SWS_COLLAPSED = "collapsed"


@dataclass(frozen=True, slots=True)
class Sws:
    """A speculative workspace as history knows it."""

    id: str
    name: str | None
    base: str
    head: str
    state: str
    created: int
    task: str | None = None
    overlay: str | None = None  # store digest of its latest overlay manifest
    unresolved: tuple[str, ...] = ()  # files `sws update` left with conflict markers to resolve

    @property
    def ref(self) -> str:
        return SWS_REF_PREFIX + self.id


@dataclass(frozen=True, slots=True)
class State:
    head: str | None = None
    seq: int = 0
    branch: str | None = None
    refs: Mapping[str, str] = field(default_factory=dict)
    sws: Mapping[str, Sws] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    v: int = 0  # the newest event's format (0: no event yet)

    @property
    def system(self) -> str | None:
        return self.refs.get(SYSTEM_REF)

    def apply(self, rec: Recorded) -> State:
        event = rec.event
        new_refs = dict(self.refs)
        for name, target in event.refs.items():
            if target is None:
                new_refs.pop(name, None)
            else:
                new_refs[name] = target
        sws = dict(self.sws)
        branch = self.branch
        sws_id = event.links.get("sws")
        if event.kind == "init":
            branch = event.data["branch"]
        elif event.kind == "sws-new" and sws_id:
            base = event.data["base"]
            sws[sws_id] = Sws(sws_id, event.data.get("name"), base, base, SWS_ACTIVE, event.seq,
                              event.links.get("task"))
        if sws_id in sws:
            current = sws[sws_id]
            updated = replace(current, head=new_refs.get(current.ref, current.base))
            if isinstance(event.data.get("overlay"), str):
                updated = replace(updated, overlay=event.data["overlay"])
            if event.kind == "sws-discard" and current.state == SWS_ACTIVE:
                updated = replace(updated, state=SWS_DISCARDED)
            elif event.kind == "collapse":
                updated = replace(updated, state=SWS_COLLAPSED)
            elif event.kind == "rebase":  # files an earlier update left with markers stay to be checked
                updated = replace(updated, base=event.data["base"], unresolved=tuple(sorted(
                    set(current.unresolved) | set(event.data.get("unresolved", ())))))
            sws[sws_id] = updated
        if event.kind == "collapse":  # a queue lands several workspaces in one event
            for other in event.data.get("queue", ()):
                if other in sws and other != sws_id:
                    sws[other] = replace(sws[other], state=SWS_COLLAPSED)
        counts = dict(self.counts)
        counts[event.kind] = counts.get(event.kind, 0) + 1
        return State(rec.oid, event.seq, branch, new_refs, sws, counts, event.v)

    def next_sws_id(self) -> str:
        return f"s{len(self.sws) + 1}"

    def next_task_id(self) -> str:
        return f"t{self.counts.get('task', 0) + 1}"


def fold(records: list[Recorded], start: State | None = None) -> State:
    state = start or State()
    for rec in records:
        state = state.apply(rec)
    return state


def _encode(st: State) -> dict[str, Any]:
    return {"head": st.head, "seq": st.seq, "branch": st.branch, "refs": dict(st.refs), "counts": dict(st.counts),
            "v": st.v,
            "sws": [[s.id, s.name, s.base, s.head, s.state, s.created, s.task, s.overlay, list(s.unresolved)]
                    for s in st.sws.values()]}


def _decode(data: dict[str, Any]) -> State:
    sws = {row[0]: Sws(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], tuple(row[8]))
           for row in data["sws"]}
    return State(data["head"], data["seq"], data["branch"], dict(data["refs"]), sws, dict(data["counts"]), data["v"])


STATE = folds.Fold("state", (__name__,), State, lambda st, records: fold(list(records), st), _encode, _decode)


def current(repo: Repo, ref: str = history.HISTORY_REF) -> State:
    """The fold of the whole history (at `ref`: another clone's, as fetched),
    from the last checkpoint (`kernel.record.folds`)."""
    return folds.folded(repo, STATE, ref)


def load(repo: Repo) -> State:
    """The current state (requires `jitos init`)."""
    history.require(repo)
    return current(repo)


class Ledger:
    """Records events under the jitos lock, keeping the folded state current."""

    def __init__(self, repo: Repo, state: State) -> None:
        self.repo = repo
        self.state = state

    def record(
        self,
        kind: str,
        summary: str,
        *,
        data: Mapping[str, Any] | None = None,
        links: Mapping[str, str] | None = None,
        moves: Mapping[str, str | None] | None = None,
        extra_moves: tuple[refs.RefMove, ...] = (),
        when: int | None = None,
    ) -> Recorded:
        """Append an event; `moves` maps jitos refs to their new target (None deletes);
        each ref's expected old value is the one history recorded. The store
        objects the event names go into its commit (`kernel.record.carry`)."""
        carried = carry.blobs(self.repo, self._to_carry(data or {}, links or {}))
        cas = {name: (self.state.refs.get(name), new) for name, new in (moves or {}).items()}
        rec = history.append(
            self.repo,
            self.state.head,
            self.state.seq + 1,
            kind,
            summary,
            data=data,
            links=links,
            moves=cas,
            extra_moves=extra_moves,
            when=when,
            carried=carried,
        )
        self.state = self.state.apply(rec)
        return rec

    def _to_carry(self, data: Mapping[str, Any], links: Mapping[str, str]) -> dict[str, str | None]:
        """What this event names (`kernel.record.carry`), and — after a
        format-1 event, in a history recorded before objects were carried —
        everything earlier events named."""
        workspace = self.state.sws.get(links.get("sws", ""))
        wanted = carry.named(self.repo, data, workspace.overlay if workspace else None)
        if self.state.v == 1:
            earlier = {d: b for rec in history.events(self.repo) for d, b in carry.named(self.repo, rec.event.data).items()}
            wanted = {**earlier, **wanted}
        return wanted


@contextmanager
def ledger(repo: Repo, *, require_init: bool = True,
           recover: Callable[[Repo], None] | None = None) -> Iterator[Ledger]:
    """Hold the jitos lock and record events. `recover` runs first, under the
    lock: a later layer's way to finish work a killed process left (the
    checkout update after a collapse), without this layer knowing about it.
    Once out of the lock, history is packed when enough events are loose
    (`kernel.record.packing`)."""
    with history.lock(repo):
        if recover is not None:
            recover(repo)
        if require_init:
            history.require(repo)
        recording = Ledger(repo, current(repo))
        yield recording
    done = recording.state
    if done.head is not None:
        folds.remember(repo, STATE, done, done.head, done.seq)
        packing.pack_later(repo.common_dir, done.head, done.seq)
