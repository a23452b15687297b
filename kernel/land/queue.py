"""`jitos collapse ID ID …`: a local merge queue.

The workspaces are stacked in the order given onto the system, each merged
onto the ones before it as a collapse merges (`kernel.land.merge`); one that
conflicts with the stack is left out (a `conflict` event, as for a single
collapse). The gate runs once, on the combined tree. When it is red,
bisection finds the workspaces that break it: halves of the suspects are
gated stacked on the workspaces known good, and every tree's result is
recorded and reused (by tree id and command, as for any collapse), so no tree
is gated twice. The rest land together: one collapse commit (parent: the
system) holding their combined tree — the tree that passed — moving the
system and the branch in one ref transaction and one `collapse` event that
lists them (`queue`). The same workspaces on the same system give the same
commit (with `SOURCE_DATE_EPOCH`).

A tree the queue gates that no workspace holds is gated in a workspace made
for it from a throwaway commit and discarded afterwards (`sws-new`,
`gate-passed`/`gate-failed`, `sws-discard` events, all visible in `log`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kernel.base.policy import check_program, refuse_inside_worker
from kernel.base.repo import Repo
from kernel.errors import EXIT_CONFLICT, EXIT_GATE_RED, EXIT_OK, BadInput, JitosError
from kernel.land import gate
from kernel.land.adopt import adopt
from kernel.land.collapse import checkouts_in_the_way, gate_record, land_commit
from kernel.land.gate import GatePolicy, GateResult
from kernel.land.merge import UNRESOLVED, Conflict, merge, throwaway
from kernel.land.update import unresolved
from kernel.record import refs, state
from kernel.record.locks import is_live
from kernel.record.state import SWS_ACTIVE, Ledger, Sws
from kernel.workspace import checkout, sws, trash, trees

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Culprit:
    sws: str
    why: str  # conflict | gate-failed | conflict markers from sws update
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueResult:
    landed: tuple[str, ...]
    system: str
    outcome: str  # committed | empty | checkout-dirty | nothing (every workspace is a culprit)
    culprits: tuple[Culprit, ...] = ()
    gate_runs: int = 0  # gates actually run (not reused from history)
    gate: GateResult | None = None
    event: str = ""
    paths: tuple[str, ...] = ()
    dirty: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when every workspace landed (or had nothing to land); 4 when a
        gate culprit was left out, else 3 for a conflict or a dirty checkout."""
        if any(c.why == "gate-failed" for c in self.culprits):
            return EXIT_GATE_RED
        if self.culprits or self.outcome == "checkout-dirty":
            return EXIT_CONFLICT
        return EXIT_OK


GateNotice = Callable[[tuple[str, ...], str], None]


def collapse_all(repo: Repo, keys: Sequence[str], policy: GatePolicy, *, message: str | None = None,
                 on_gate: GateNotice | None = None) -> QueueResult:
    """Land the workspaces `keys`, in that order, gated together."""
    refuse_inside_worker("collapse")
    if len(set(keys)) != len(keys):
        raise BadInput(f"a workspace is named twice in {' '.join(keys)}; name each once")
    runs = [0]
    for _ in range(MAX_ATTEMPTS):
        queue, system, culprits, stacks = _prepare(repo, keys)
        good = [ws for ws in queue if ws.id not in {c.sws for c in culprits}]
        verdicts: dict[str, GateResult | None] = {}
        bad, gated_red = _bisect(repo, policy, stacks, good, verdicts, runs, on_gate)
        # A workspace only ever in stacks that would not merge is a conflict, not a red gate.
        culprits += [Culprit(ws.id, "gate-failed" if ws.id in gated_red else "conflict") for ws in bad]
        landing = [ws for ws in good if ws not in bad]
        stacked = stacks.of(landing)
        if landing and stacked is not None and repo.tree_of(stacked) not in verdicts:  # not gated yet
            verdicts[repo.tree_of(stacked)] = _gated(repo, policy, stacked, runs, on_gate)
        done = _land(repo, policy, system, landing, stacked, tuple(culprits), verdicts, runs[0], message)
        if done is not None:
            if done.outcome == "committed":
                trash.empty_later(repo)
            return done
    raise JitosError(f"the system kept moving during {MAX_ATTEMPTS} queue attempts; try again")


def ready(repo: Repo) -> list[str]:
    """`--all-ready`: the active workspaces with a snapshot and no running task, oldest first."""
    st = state.load(repo)
    return [ws.id for ws in sorted(st.sws.values(), key=lambda w: w.created)
            if ws.state == SWS_ACTIVE and ws.head != ws.base and not (ws.task and is_live(repo, ws.task))]


# -- 1. prepare: snapshot, adopt, stack ------------------------------------------


def _prepare(repo: Repo, keys: Sequence[str]) -> tuple[list[Sws], str, list[Culprit], _Stacks]:
    with checkout.ledger(repo) as ledger:
        queue = [sws.find_active(ledger.state, key) for key in keys]
        for ws in queue:
            if ws.task and is_live(repo, ws.task):
                raise BadInput(f"workspace {ws.id} belongs to task {ws.task}, which is running; its own collapse "
                               "step lands it (stop the task first to queue it by hand)")
        for ws in queue:
            sws.record_changes(repo, ledger, ws, label="before collapse")
        adopt(repo, ledger)
        queue = [ledger.state.sws[ws.id] for ws in queue]
        system = ledger.state.system
        assert system is not None
        culprits: list[Culprit] = []
        for ws in queue:
            left = unresolved(repo, ws)
            if left:
                culprits.append(_conflict(ledger, ws, system, tuple(Conflict(p, UNRESOLVED) for p in left)))
        stacks = _Stacks(repo, system)
        stacked: list[Sws] = []
        for ws in queue:
            if any(c.sws == ws.id for c in culprits):
                continue
            clash = stacks.conflicts(stacked, ws)
            if clash:
                culprits.append(_conflict(ledger, ws, stacks.of(stacked) or system, clash))
            else:
                stacked.append(ws)
        return queue, system, culprits, stacks


def _conflict(ledger: Ledger, ws: Sws, onto: str, clash: tuple[Conflict, ...]) -> Culprit:
    ledger.record(
        "conflict",
        f"sws {ws.id}: left out of the queue, {len(clash)} path(s) conflict with the workspaces before it",
        data={"paths": [c.path for c in clash], "conflicts": [c.record() for c in clash], "base": ws.base,
              "system": onto, "head": ws.head, "queue": True},
        links={"sws": ws.id},
    )
    kind = UNRESOLVED if all(c.kind == UNRESOLVED for c in clash) else "conflict"
    return Culprit(ws.id, kind, clash)


class _Stacks:
    """Workspaces stacked on the system, each merged onto the ones before it:
    every stack is remembered, so bisection, which gates many stacks sharing
    a start, merges each workspace onto a given stack once."""

    def __init__(self, repo: Repo, system: str) -> None:
        self.repo = repo
        self.known: dict[tuple[str, ...], str | None] = {(): system}
        self.clashes: dict[tuple[str, ...], tuple[Conflict, ...]] = {}

    def of(self, queue: Sequence[Sws]) -> str | None:
        """The commit of `queue` stacked, or None if it does not merge stacked so."""
        ids = tuple(ws.id for ws in queue)
        if ids not in self.known:
            self.conflicts(queue[:-1], queue[-1])
        return self.known[ids]

    def conflicts(self, below: Sequence[Sws], ws: Sws) -> tuple[Conflict, ...]:
        """What `ws` conflicts on merged onto `below` stacked (nothing: it stacks)."""
        ids = (*(w.id for w in below), ws.id)
        if ids not in self.known:
            under = self.of(below)
            if under is None:
                self.known[ids], self.clashes[ids] = None, ()
            else:
                combined = merge(self.repo, ws.base, under, ws.head)
                self.clashes[ids] = combined.conflicts
                tree = combined.tree or trees.apply(self.repo.git, self.repo.tree_of(under), combined.changes)
                self.known[ids] = None if combined.conflicts else throwaway(self.repo, tree, under, "queue")
        return self.clashes.get(ids, ())


# -- 2. gate, and bisect when red -------------------------------------------------


def _bisect(repo: Repo, policy: GatePolicy, stacks: _Stacks, queue: list[Sws],
            verdicts: dict[str, GateResult | None], runs: list[int],
            on_gate: GateNotice | None) -> tuple[list[Sws], set[str]]:
    """The workspaces of `queue` that make the gate red (none when all pass
    together), and the ids of those that were in a stack the gate failed."""
    gated_red: set[str] = set()

    def green(subset: list[Sws]) -> bool:
        stacked = stacks.of(subset)
        if stacked is None:  # these do not merge stacked so: as red, but no gate ran
            return False
        result = _gated(repo, policy, stacked, runs, on_gate)
        verdicts[repo.tree_of(stacked)] = result
        passed = result is None or result.passed
        if not passed:
            gated_red.update(ws.id for ws in subset)
        return passed

    def culprits(known_good: list[Sws], suspects: list[Sws]) -> list[Sws]:
        # known_good stacked passes; known_good + suspects does not.
        if len(suspects) == 1:
            return suspects
        half = len(suspects) // 2
        left, right = suspects[:half], suspects[half:]
        if green(known_good + left):
            return culprits(known_good + left, right)
        bad = culprits(known_good, left)
        kept = known_good + [ws for ws in left if ws not in bad]
        return bad if green(kept + right) else bad + culprits(kept, right)

    if not queue or green(queue):
        return [], gated_red
    return culprits([], queue), gated_red


def _gated(repo: Repo, policy: GatePolicy, commit: str, runs: list[int],
           on_gate: GateNotice | None) -> GateResult | None:
    """The gate's verdict on `commit`'s tree: recorded before (by tree and
    command), or run now in a workspace made for it (None: no gate)."""
    argv = policy.argv
    if not argv:
        return None
    tree = repo.tree_of(commit)
    if not policy.rerun:
        known = gate.cached(state.load(repo), repo, tree, argv)
        if known is not None:
            return known
    place = sws.new(repo, commit, name=None)
    try:
        check_program(argv, place.path, "gate")
        if on_gate is not None:
            on_gate(argv, place.id)
        result = gate.run(repo, policy, place.path, tree, place.id)
        runs[0] += 1
        with checkout.ledger(repo) as ledger:
            verdict = "passed" if result.passed else "failed"
            rec = ledger.record(
                f"gate-{verdict}", f"sws {place.id}: queue gate {verdict}: {' '.join(result.command)[:60]}",
                data={"tree": tree, "command": list(result.command), "exit": result.exit_code, "log": result.log,
                      "cached": False, "queue": True},
                links={"sws": place.id},
            )
        return GateResult(result.command, tree, result.passed, result.exit_code, result.log, False, rec.oid)
    finally:
        sws.discard(repo, place.id, reason="the queue gated its tree", force=True)


# -- 3. land what passed, in one transaction ----------------------------------------


def _land(repo: Repo, policy: GatePolicy, system: str, landing: list[Sws], stacked: str | None,
          culprits: tuple[Culprit, ...], verdicts: dict[str, GateResult | None], runs: int,
          message: str | None) -> QueueResult | None:
    """Under the lock: land `landing` (stacked: `stacked`) unless anything it was
    prepared from moved meanwhile (None: start over)."""
    with checkout.ledger(repo) as ledger:
        st = ledger.state
        branch = st.branch or ""
        moved = st.system != system or refs.read(repo, f"refs/heads/{branch}") != system
        current = [st.sws[ws.id] for ws in landing]
        if moved or any(c.head != ws.head or c.state != SWS_ACTIVE for c, ws in zip(current, landing, strict=True)):
            return None
        if not landing:
            return QueueResult((), system, "nothing", culprits, runs)
        assert stacked is not None, "what bisection leaves stacks cleanly"
        tree = repo.tree_of(stacked)
        result = verdicts.get(tree) if policy.argv else None
        if policy.argv and (result is None or not result.passed):
            return None  # the tree to land was not the one gated: the world moved
        old_tree = repo.tree_of(system)
        if tree == old_tree:
            return QueueResult((), system, "empty", culprits, runs, result)
        changed = trees.diff(repo.git, old_tree, tree)
        opened, dirty = checkouts_in_the_way(repo, branch, old_tree, changed)
        if dirty:
            ledger.record("conflict", f"queue not collapsed, local edits in the {branch} checkout would be overwritten",
                          data={"paths": dirty, "checkout": True, "system": system,
                                "queue": [ws.id for ws in landing]},
                          links={"sws": landing[0].id})
            return QueueResult((), system, "checkout-dirty", culprits, runs, result, dirty=tuple(dirty))
        ids = [ws.id for ws in landing]
        text = (message.strip() if message else f"Collapse {', '.join(ids)}: {len(changed)} path(s)") + "\n\n" + \
            "\n".join([*(f"Jitos-Sws: {i}" for i in ids), f"Jitos-Event: collapse #{st.seq + 1}",
                       f"Jitos-Gate: {policy.trailer(result)}"]) + "\n"
        commit, rec = land_commit(
            repo, ledger, system, tree, changed, opened, message=text,
            summary=lambda commit: f"queue {', '.join(ids)}: collapsed into {branch} as {commit[:12]} "
                                   f"({len(changed)} path(s))",
            data={"gate": gate_record(result), "gate_skipped": policy.skipped, "queue": ids,
                  "heads": {ws.id: ws.head for ws in landing}, "left_out": [c.sws for c in culprits]},
            links={"sws": ids[0]},
        )
        for ws in landing:
            sws.remove_if_clean(repo, ledger.state.sws[ws.id])
        return QueueResult(tuple(ids), commit, "committed", culprits, runs, result, rec.oid, tuple(sorted(changed)))
