"""`jitos verify`: replay history from the first event and check that
everything jitos recorded still holds — every history commit id recomputed
from its record, the saved folds commands start from (`kernel.record.folds`),
a linear chain with consecutive sequence numbers, canonical
records, every store object's digest, every digest an event names, every
overlay manifest, and every `refs/jitos/*` ref where history says it is.

Read-only, apart from finishing a ref move a killed process left journalled
(taking the lock does that): commit ids are recomputed by hashing, never by
writing objects. Never prints and never raises for a problem it finds: every
problem is a line in the result, whose `exit_code` says how `jitos verify` ends.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pygit2

from kernel.base import canonical
from kernel.base.policy import environ_for_git_child
from kernel.base.repo import Repo
from kernel.base.store import digest_bytes
from kernel.errors import EXIT_OK, IntegrityError, JitosError
from kernel.record import carry, clones, folds, history, refs, state
from kernel.record.history import HISTORY_REF
from kernel.tasks import model as tasks
from kernel.workspace.checkout import checkout_update_pending
from kernel.workspace.sws import workspace_path

#: Keys of event data whose value is a git object id (commit or tree) jitos recorded.
OBJECT_KEYS = frozenset({"base", "from", "commit", "parent", "head", "system", "tree", "onto"})
_OID = re.compile(r"[0-9a-f]{40}\Z")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    events: int
    objects: int
    problems: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """0 when everything holds; a problem is an integrity error (1)."""
        return EXIT_OK if self.ok else IntegrityError.exit_code


def _object_ids(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, id) for every git object id event data names (`gate.event`: a history event)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _object_ids(v, f"{key}.{k}" if key else k)
    elif isinstance(value, str) and _OID.match(value) and (key.rsplit(".", 1)[-1] in OBJECT_KEYS
                                                           or key == "gate.event"):
        yield key, value


def verify(repo: Repo) -> VerifyResult:
    """This clone's history and every history fetched from other clones
    (their problems start with `clone <name>:`); a clone that only fetched
    verifies what it fetched."""
    with refs.locked(repo):  # finishes a move a dead process left journalled
        head = history.head(repo)
        others = clones.known(repo)
        if head is None and not others:
            history.require(repo)
        results = [_verify(repo, head)] if head is not None else []
        results += [_verify_clone(repo, clone) for clone in others]
        problems = tuple(p for r in results for p in r.problems)
        return VerifyResult(not problems, sum(r.events for r in results), sum(r.objects for r in results), problems)


def _verify_clone(repo: Repo, clone: str) -> VerifyResult:
    """Another clone's history as fetched: its chain, every id, what its
    events carry, the git objects it names, and its published refs
    where its history says they are."""
    head = history.head(repo, history.history_ref(clone))
    assert head is not None
    problems, chain = _chain(repo, head)
    st = state.fold(chain)
    for name, want in sorted(st.refs.items()):
        have = refs.read(repo, clones.ref(clone, name))
        if have != want:
            problems.append(f"{clones.ref(clone, name)} is at {str(have)[:12]} but that clone's history says "
                            f"{want[:12]} (`jitos fetch` again)")
    objects, store_problems = _check_store(repo, chain, st)
    problems += store_problems + _check_objects(repo, chain)
    return VerifyResult(not problems, len(chain), objects, tuple(f"clone {clone}: {p}" for p in problems))


def _verify(repo: Repo, head: str) -> VerifyResult:
    problems, chain = _chain(repo, head)
    st = state.fold(chain)
    problems += [why for why in (folds.stale(repo, state.STATE, chain, st), folds.stale(repo, tasks.TASKS, chain))
                 if why]
    problems += _check_refs(repo, st)
    objects, store_problems = _check_store(repo, chain, st)
    problems += store_problems
    problems += _check_objects(repo, chain)
    problems += _check_workspaces(repo, st, chain)
    return VerifyResult(not problems, len(chain), objects, tuple(problems))


def _chain(repo: Repo, head: str) -> tuple[list[str], list[history.Recorded]]:
    """The history under `head`, oldest first, and what is wrong with it as a
    chain: unreadable, merges, records not canonical, sequence gaps, commits
    that do not reproduce from their records."""
    problems: list[str] = []
    chain: list[history.Recorded] = []
    records: dict[str, bytes] = {}  # each event's canonical record, by commit id
    oid: str | None = head
    while oid:
        try:
            event, raw, commit = history.read_event(repo, oid)
        except (IntegrityError, KeyError, ValueError) as err:
            problems.append(f"history commit {oid[:12]}: unreadable ({err})")
            break
        if len(commit.parent_ids) > 1:
            problems.append(f"history commit {oid[:12]} (seq {event.seq}) is a merge; history must be linear")
        records[oid] = canonical.dumps(event.record(), loaded=True)
        if records[oid] != raw:
            problems.append(f"history commit {oid[:12]} (seq {event.seq}): event record is not canonical")
        carried = history.carried_of(commit)
        extra = sorted(e.name or "?" for e in commit.tree if e.name != history.EVENT_FILE and e.name not in carried)
        if extra or (carried and event.v < 2):
            problems.append(f"history commit {oid[:12]} (seq {event.seq}) holds {', '.join(extra or sorted(carried))}, "
                            "which its format does not name")
        chain.append(history.Recorded(oid, event, carried))
        oid = str(commit.parent_ids[0]) if commit.parent_ids else None
    chain.reverse()

    parent: str | None = None
    for expected_seq, rec in enumerate(chain, start=1):
        if rec.event.seq != expected_seq:
            problems.append(f"history commit {rec.oid[:12]}: seq {rec.event.seq}, expected {expected_seq}")
        again = history.commit_id(rec.event, parent, records[rec.oid], rec.carried)
        if again != rec.oid:
            problems.append(
                f"history commit {rec.oid[:12]} (seq {rec.event.seq}, {rec.event.kind}) does not reproduce "
                f"from its record (recomputed {again[:12]})"
            )
        parent = rec.oid
    return problems, chain


def _check_refs(repo: Repo, st: state.State) -> list[str]:
    problems = []
    actual = {
        name: refs.read(repo, name)
        for name in repo.git.references
        if name.startswith("refs/jitos/") and name != HISTORY_REF
        and not name.startswith(clones.FETCHED)  # other clones', checked with their history
    }
    if refs.refused_journal(repo).is_file():
        problems.append(f"a ref journal jitos did not write was refused, not replayed: {refs.refused_journal(repo)} "
                        "(inspect it, then delete it)")
    if checkout_update_pending(repo):
        problems.append("a killed collapse left your checkout behind the branch; any jitos command "
                        "(e.g. `jitos status`) finishes the update")
    for lock in refs.stale_locks(repo):
        problems.append(f"stale git lock {lock} (left by a killed process); any jitos command removes it")
    for name in sorted(set(actual) | set(st.refs)):
        want, have = st.refs.get(name), actual.get(name)
        if want != have:
            problems.append(f"{name} is at {str(have)[:12]} but history says {str(want)[:12]}")
        elif want is not None and want not in repo.git:
            problems.append(f"{name} points at {want[:12]}, which is missing from the object database")
    return problems


def _check_store(repo: Repo, chain: list[history.Recorded], st: state.State) -> tuple[int, list[str]]:
    """Every object in this clone's store and every one history's commits
    carry (`kernel.record.carry`) hashes to its name; every digest an event
    names, and every content an overlay manifest names, is carried (in a
    history still all in format 1: is in the store)."""
    problems = []
    store = repo.store
    checked: set[str] = set()
    for digest in store.digests():
        checked.add(digest)
        try:
            store.check(digest)
        except JitosError as err:
            problems.append(str(err))
    carrying = any(rec.event.v > 1 for rec in chain)
    carried, bad = _carried(repo, chain)
    checked |= carried
    problems += bad

    def held(digest: str) -> bool:
        return digest in carried if carrying else store.has(digest)

    where = "no event of this history carries" if carrying else "is missing"
    manifests: set[str] = set()
    for rec in chain:
        for key, digest in carry.digests(dict(rec.event.data)):
            if not held(digest):
                problems.append(f"event seq {rec.event.seq} ({rec.event.kind}) names store object {digest[:12]}, "
                                f"which {where}")
            elif key == carry.MANIFEST_KEY and digest not in manifests:
                manifests.add(digest)
                problems += _check_manifest(repo, rec, digest, held, where)
    return len(checked), problems


def _carried(repo: Repo, chain: list[history.Recorded]) -> tuple[set[str], list[str]]:
    """The digests history's commits carry, and each carried blob that is
    missing or whose bytes do not hash to its name."""
    found: set[str] = set()
    problems: list[str] = []
    hashed: dict[str, str | None] = {}  # blob id → the blake3 of its bytes (None: missing), hashed once
    for rec in chain:
        for digest, oid in sorted(rec.carried.items()):
            if oid not in hashed:
                blob = repo.git.get(oid)
                hashed[oid] = digest_bytes(blob.data) if isinstance(blob, pygit2.Blob) else None
            if hashed[oid] is None:
                problems.append(f"event seq {rec.event.seq} carries store object {digest[:12]} as git blob "
                                f"{oid[:12]}, which is missing (restore it from a clone, e.g. `jitos fetch` "
                                "from one that has it)")
            elif hashed[oid] != digest:
                problems.append(f"event seq {rec.event.seq} carries {digest[:12]} as git blob {oid[:12]}, whose "
                                f"bytes hash to {str(hashed[oid])[:12]}")
            else:
                found.add(digest)
    return found, problems


def _check_manifest(repo: Repo, rec: history.Recorded, digest: str, held: Callable[[str], bool],
                    where: str) -> list[str]:
    """Every file content an overlay manifest names is held."""
    try:
        named = carry.manifest_contents(repo.store.get(digest))
    except (JitosError, KeyError, TypeError, ValueError, AttributeError) as err:
        return [f"event seq {rec.event.seq} ({rec.event.kind}): overlay manifest {digest[:12]} is unreadable ({err})"]
    return [f"event seq {rec.event.seq} ({rec.event.kind}): overlay manifest {digest[:12]} names the content "
            f"{content[:12]}, which {where}" for content in named if not held(content)]


def _check_objects(repo: Repo, chain: list[history.Recorded]) -> list[str]:
    """Every commit and tree an event names exists with everything it reaches
    (blobs of a snapshot, say: without them it cannot be collapsed or
    restored), and a gate result a collapse relies on is an event in history."""
    problems: list[str] = []
    events = {rec.oid for rec in chain}
    named: dict[str, tuple[history.Recorded, str]] = {}
    for rec in chain:
        for key, oid in _object_ids(dict(rec.event.data)):
            if key == "gate.event":
                if oid not in events:
                    problems.append(f"event seq {rec.event.seq} ({rec.event.kind}) relies on gate result {oid[:12]}, "
                                    "which is not an event in history")
            elif oid not in repo.git:
                problems.append(f"event seq {rec.event.seq} ({rec.event.kind}) names {key} {oid[:12]}, which is "
                                "missing from the object database")
            else:
                named.setdefault(oid, (rec, key))
    if not named:
        return problems
    # git walks each named commit's tree once (objects seen once are not walked
    # again), printing every object it cannot find with a leading "?".
    done = subprocess.run(["git", "rev-list", "--objects", "--no-walk", "--missing=print", "--stdin"],
                          input="\n".join(sorted(named)) + "\n", capture_output=True, text=True,
                          cwd=repo.common_dir, env=environ_for_git_child(), check=False)
    missing = sorted(line[1:].split()[0] for line in done.stdout.splitlines() if line.startswith("?"))
    if done.returncode != 0:
        problems.append(f"git rev-list could not walk the objects history names: {done.stderr.strip()[:200]}")
    for oid in missing[:20]:
        problems.append(f"git object {oid[:12]} is missing: a commit or tree history names needs it "
                        "(restore it from a clone, e.g. `git fetch` from one that has it)")
    if len(missing) > 20:
        problems.append(f"… and {len(missing) - 20} more missing git objects")
    return problems


def _check_workspaces(repo: Repo, st: state.State, chain: list[history.Recorded]) -> list[str]:
    """Active workspaces have their folder; each overlay names a stored manifest
    (its mirror file is rewritten from the store, so it is not evidence)."""
    problems = []
    for sws in st.sws.values():
        if sws.state == state.SWS_ACTIVE and not workspace_path(repo, sws.id).is_dir():
            problems.append(f"workspace {sws.id} has no directory at {workspace_path(repo, sws.id)}")
        if sws.overlay is not None and not repo.store.has(sws.overlay):
            problems.append(f"workspace {sws.id}: its overlay manifest {sws.overlay[:12]} is not in the store")
    return problems
