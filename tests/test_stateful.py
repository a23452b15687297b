"""Interleavings nobody writes by hand: a hypothesis state machine drives one
repository through workspaces made, edited, snapshotted, collapsed (green or
red gate), discarded and undone, with commits made on the branch by plain git
and `git gc --prune=now` in between, and checks it against a small model after
every step:

- the branch and the system ref move only by a collapse (an undo is one) or a
  commit made outside jitos, and land exactly the tree the model predicts: the
  workspace's changes merged path by path onto the branch, a path both sides
  changed differently a conflict that moves nothing;
- a workspace reads exactly what was written to it (workspaces are isolated
  from each other and from the checkout), and its ref holds its last recorded
  tree for ever, discarded or collapsed;
- the user's checkout is the branch, clean;
- `jitos verify` is green.

At the end, history folds to the same state in one go as step by step, `jitos
log` lists its ids, and the same steps done again in a fresh repository record
byte-identical history (determinism: the ids are a function of the inputs).

The default run is small, deterministic and writes no example database;
`pytest -m faults` runs a longer one on each workspace backend.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kernel.base import sandbox
from kernel.base.repo import open_repo
from kernel.errors import BadInput
from kernel.land.collapse import CollapseResult, collapse
from kernel.land.gate import GatePolicy
from kernel.land.undo import undo
from kernel.record import history, state
from kernel.record.initialise import init
from kernel.verify import verify
from kernel.workspace import sws
from tests import edits
from tests.conftest import commit_files, git, jitos

PASS = "true"
FAIL = "false"
BRANCH = "main"
FIRST = {"README.md": "hello\n", "shared.txt": "0\n"}
MAX_ACTIVE = 3

# CI: few examples, the same ones every run (derandomize), nothing written to
# .hypothesis/; a slow step (a gate, git gc) is not a failure.
SMALL = settings(max_examples=4, stateful_step_count=12, deadline=None, derandomize=True,
                 database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LARGE = settings(SMALL, max_examples=40, stateful_step_count=30)

Tree = dict[str, str]


# -- the model -------------------------------------------------------------------


def merge(base: Tree, ours: Tree, theirs: Tree) -> Tree | tuple[str, ...]:
    """`ours` and `theirs`, both changed from `base`, merged path by path; the
    sorted paths both changed differently when they clash."""
    merged: Tree = {}
    clash = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if o == t or t == b:
            taken = o
        elif o == b:
            taken = t
        else:
            clash.append(path)
            continue
        if taken is not None:
            merged[path] = taken
    return tuple(clash) if clash else merged


@dataclass
class Draft:
    """An active workspace, as the model sees it."""

    base: Tree  # the tree it was made from or last re-based onto
    files: Tree  # what a program in it reads
    undoes: int | None = None  # for an undo workspace: which collapse (index in `landed`)


@dataclass
class Model:
    branch: Tree
    branch_tip: str
    system: Tree
    system_tip: str
    active: dict[str, Draft] = field(default_factory=dict)
    # every workspace ever made → the tree at refs/jitos/sws/<id> (its last recorded state)
    recorded: dict[str, Tree] = field(default_factory=dict)
    landed: list[tuple[Tree, Tree]] = field(default_factory=list)  # per collapse: (before, after)

    def adopt(self) -> None:
        """A collapse (an undo too) first takes in what was committed on the branch."""
        self.system, self.system_tip = dict(self.branch), self.branch_tip

    def expect(self, sid: str, gate: str) -> tuple[str, Tree | tuple[str, ...]]:
        """How collapsing `sid` ends (after `adopt`), and the merged tree or the clashing paths."""
        ws = self.active[sid]
        merged = merge(ws.base, ws.files, self.system)
        if isinstance(merged, tuple):
            return "conflict", merged
        if merged == self.system:
            return "empty", merged
        return ("committed" if gate == PASS else "gate-failed"), merged


# -- the real repository -------------------------------------------------------------


class Session:
    """A repository with `jitos init` done, and the steps done to it so far,
    which `replay` does again in another repository."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)
        git(root, "init", "-q", "-b", BRANCH)
        commit_files(root, dict(FIRST), "initial")
        init(open_repo(root))
        self.root = root
        self.steps: list[tuple[str, tuple[Any, ...]]] = []

    def replay(self, root: Path) -> Session:
        """The same steps in a new repository at `root` (bar `git gc`, which records nothing)."""
        again = Session(root)
        for name, args in self.steps:
            if name != "gc":
                getattr(again, name)(*args)
        return again

    def _step(self, name: str, *args: Any) -> None:
        self.steps.append((name, args))

    def new(self) -> str:
        self._step("new")
        return sws.new(open_repo(self.root)).id

    def write(self, sid: str, rel: str, text: str) -> None:
        self._step("write", sid, rel, text)
        edits.write(sws.get(open_repo(self.root), sid), rel, text)

    def remove(self, sid: str, rel: str) -> None:
        self._step("remove", sid, rel)
        edits.remove(sws.get(open_repo(self.root), sid), rel)

    def snapshot(self, sid: str) -> None:
        self._step("snapshot", sid)
        sws.snapshot(open_repo(self.root), sid)

    def collapse(self, sid: str, gate: str) -> CollapseResult:
        self._step("collapse", sid, gate)
        repo = open_repo(self.root)
        return collapse(repo, sid, GatePolicy.from_options(repo, gate=gate))

    def undo(self, gate: str) -> CollapseResult:
        self._step("undo", gate)
        repo = open_repo(self.root)
        return undo(repo, policy=GatePolicy.from_options(repo, gate=gate))

    def discard(self, sid: str, force: bool) -> BadInput | None:
        """None, or why it was refused."""
        self._step("discard", sid, force)
        try:
            sws.discard(open_repo(self.root), sid, force=force)
        except BadInput as refused:
            return refused
        return None

    def commit_outside(self, files: dict[str, str | None]) -> str:
        """A commit made on the branch in the user's checkout by plain git."""
        self._step("commit_outside", files)
        return commit_files(self.root, files, "made outside jitos")

    def gc(self) -> None:
        self._step("gc")
        git(self.root, "gc", "-q", "--prune=now")

    # -- reading it back --

    def tip(self, rev: str) -> str:
        return str(pygit2.Repository(str(self.root)).revparse_single(rev).peel(pygit2.Commit).id)

    def tree(self, rev: str) -> Tree:
        g = pygit2.Repository(str(self.root))
        return dict(_blobs(g, g.revparse_single(rev).peel(pygit2.Tree)))

    def clean(self) -> bool:
        """Whether `git status` shows nothing in the user's checkout."""
        return not pygit2.Repository(str(self.root)).status()

    def checkout(self) -> Tree:
        """The files in the user's checkout, `.git` aside."""
        found = {}
        for top, folders, names in os.walk(self.root):
            folders[:] = [f for f in folders if f != ".git"]
            for name in names:
                path = Path(top, name)
                found[str(path.relative_to(self.root))] = path.read_text()
        return found

    def jitos_refs(self) -> dict[str, str]:
        listing = git(self.root, "for-each-ref", "--format=%(refname) %(objectname)",
                      "refs/jitos/", f"refs/heads/{BRANCH}")
        return dict(line.split(" ") for line in listing.splitlines())


def _blobs(g: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, str]]:
    for entry in tree:
        obj = g[entry.id]
        if isinstance(obj, pygit2.Tree):
            yield from _blobs(g, obj, f"{prefix}{entry.name}/")
        else:
            assert isinstance(obj, pygit2.Blob)
            yield f"{prefix}{entry.name}", obj.data.decode()


def digests(tree: Tree) -> dict[str, str]:
    """What `tests.edits.files` reads for these files."""
    return {path: hashlib.sha1(text.encode()).hexdigest() for path, text in tree.items()}


# -- the state machine -------------------------------------------------------------

texts = st.sampled_from(["1\n", "2\n", "3\n"])
gates = st.sampled_from([PASS, PASS, FAIL])
picks = st.integers(min_value=0, max_value=MAX_ACTIVE - 1)
# Each workspace edits files named after it, so only the shared file can clash.
own_files = st.sampled_from(["a", "b", "shared"])


def own(sid: str, which: str) -> str:
    return "shared.txt" if which == "shared" else f"{sid}-{which}.txt"


def tagged(path: str, text: str) -> str:
    """A file's content names its path: no two files hold the same text, so
    git's rename detection (which a collapse's merge follows, as `git merge`
    does, and `tests/land/test_merge.py` checks) never pairs unrelated files
    this path-by-path model keeps apart."""
    return f"{path}: {text}"


class Jitos(RuleBasedStateMachine):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.world = Session(root)
        tip = self.world.tip(BRANCH)
        self.model = Model(dict(FIRST), tip, dict(FIRST), tip)
        self.made = 0

    def pick(self, i: int) -> str:
        ids = sorted(self.model.active)
        return ids[i % len(ids)]

    # -- rules --

    @precondition(lambda self: len(self.model.active) < MAX_ACTIVE)
    @rule(which=own_files, text=texts)
    def new_workspace(self, which: str, text: str) -> None:
        """A new workspace, and the first file written in it (the work that follows)."""
        sid = self.world.new()
        self.made += 1
        assert sid == f"s{self.made}"  # ids come from history: no randomness
        tree = self.model.system  # from the system, which adopts outside commits only at a collapse
        self.model.active[sid] = Draft(dict(tree), dict(tree))
        self.model.recorded[sid] = dict(tree)
        self.edit_file(sid, which, text)

    @precondition(lambda self: self.model.active)
    @rule(i=picks, which=own_files, text=st.one_of(texts, st.none()))
    def edit(self, i: int, which: str, text: str | None) -> None:
        """Write a file in a workspace, or (None) remove it."""
        self.edit_file(self.pick(i), which, text)

    def edit_file(self, sid: str, which: str, text: str | None) -> None:
        rel, files = own(sid, which), self.model.active[sid].files
        if text is None:
            self.world.remove(sid, rel)
            files.pop(rel, None)
        else:
            text = tagged(rel, text)
            self.world.write(sid, rel, text)
            files[rel] = text

    @precondition(lambda self: self.model.active)
    @rule(i=picks)
    def snapshot(self, i: int) -> None:
        sid = self.pick(i)
        self.world.snapshot(sid)
        ws = self.model.active[sid]
        self.model.recorded[sid] = dict(ws.files)

    @precondition(lambda self: self.model.active)
    @rule(i=picks, gate=gates)
    def collapse(self, i: int, gate: str) -> None:
        sid = self.pick(i)
        before = self.model.branch_tip
        result = self.world.collapse(sid, gate)
        self.landed(sid, gate, result, before)

    @precondition(lambda self: self.model.landed)
    @rule(gate=gates)
    def undo(self, gate: str) -> None:
        before = self.model.branch_tip
        result = self.world.undo(gate)
        target = len(self.model.landed) - 1
        again = [sid for sid, ws in self.model.active.items() if ws.undoes == target]
        if again:  # an earlier try (a conflict or a red gate) is collapsed again
            assert result.sws == again[0]
        else:
            self.made += 1
            assert result.sws == f"s{self.made}"
            was, now = self.model.landed[target]
            self.model.active[result.sws] = Draft(dict(now), dict(was), undoes=target)
            self.model.recorded[result.sws] = dict(was)
        outcome = self.landed(result.sws, gate, result, before)
        if outcome == "empty":  # already undone: the workspace is discarded
            del self.model.active[result.sws]

    @precondition(lambda self: self.model.active)
    @rule(i=picks, force=st.booleans())
    def discard(self, i: int, force: bool) -> None:
        sid = self.pick(i)
        refused = self.world.discard(sid, force)
        ws = self.model.active[sid]
        if ws.files != self.model.recorded[sid] and not force:  # unrecorded edits never vanish
            assert isinstance(refused, BadInput), refused
            return
        assert refused is None, refused
        self.model.recorded[sid] = dict(ws.files)
        del self.model.active[sid]

    @rule(files=st.dictionaries(st.sampled_from(["ext-a.txt", "ext-b.txt", "shared.txt"]),
                                st.one_of(texts, st.none()), min_size=1))
    def commit_outside(self, files: dict[str, str | None]) -> None:
        branch = self.model.branch
        files = {p: None if t is None else tagged(p, t) for p, t in files.items() if t is not None or p in branch}
        after = {**branch, **{p: t for p, t in files.items() if t is not None}}
        for p in (p for p, t in files.items() if t is None):
            del after[p]
        if after == branch:
            return  # git would have nothing to commit
        tip = self.world.commit_outside(files)
        assert self.world.tip(f"{tip}^") == self.model.branch_tip
        self.model.branch, self.model.branch_tip = after, tip

    @precondition(lambda self: self.world.steps and self.world.steps[-1][0] != "gc")
    @rule()
    def gc(self) -> None:
        self.world.gc()

    # -- what a collapse must do --

    def landed(self, sid: str, gate: str, result: CollapseResult, before: str) -> str:
        """Check `result` against the model's prediction, update the model; the outcome."""
        model = self.model
        adopted = model.branch_tip != model.system_tip
        model.adopt()
        outcome, merged = model.expect(sid, gate)
        assert (result.sws, result.outcome) == (sid, outcome), (result, merged)
        assert bool(result.adopted) == adopted
        ws = model.active[sid]
        if isinstance(merged, tuple):
            assert result.conflicts == merged
            model.recorded[sid] = dict(ws.files)
            return outcome
        if outcome != "committed":  # re-based onto the system, nothing landed
            ws.base, ws.files = dict(model.system), dict(merged)
            model.recorded[sid] = dict(merged)
            return outcome
        assert self.world.tip(f"{result.system}^") == before
        changed = {p for p in merged.keys() | model.system.keys()
                   if merged.get(p) != model.system.get(p)}
        assert result.paths == tuple(sorted(changed))
        model.landed.append((dict(model.system), dict(merged)))
        model.branch = model.system = dict(merged)
        model.branch_tip = model.system_tip = result.system
        model.recorded[sid] = dict(merged)
        del model.active[sid]
        return outcome

    # -- after every step --

    @invariant()
    def branch_and_system_move_only_as_the_model_says(self) -> None:
        world, model = self.world, self.model
        assert world.tip(BRANCH) == model.branch_tip
        assert world.tip(history.SYSTEM_REF) == model.system_tip
        assert world.tree(BRANCH) == model.branch
        assert world.tree(history.SYSTEM_REF) == model.system

    @invariant()
    def the_checkout_is_the_branch_and_clean(self) -> None:
        assert self.world.checkout() == self.model.branch
        assert self.world.clean()

    @invariant()
    def each_workspace_reads_what_was_written_to_it(self) -> None:
        repo = open_repo(self.world.root)
        assert {w.id for w in sws.list_all(repo)} == set(self.model.active)
        for sid, ws in self.model.active.items():
            assert edits.files(sws.get(repo, sid)) == digests(ws.files), sid

    @invariant()
    def every_workspace_ref_keeps_its_last_recorded_tree(self) -> None:
        for sid, tree in self.model.recorded.items():
            assert self.world.tree(f"refs/jitos/sws/{sid}") == tree, sid

    @invariant()
    def verify_is_green(self) -> None:
        found = verify(open_repo(self.world.root))
        assert found.ok, found.problems

    def teardown(self) -> None:
        root = self.world.root
        repo = open_repo(root)
        records = history.events(repo)
        assert state.fold(records) == state.load(repo)  # folding again from the first event agrees
        logged = json.loads(jitos("log", "--json", cwd=root).stdout)
        assert [entry["id"] for entry in logged] == [rec.oid for rec in reversed(records)]
        again = self.world.replay(root.with_name(root.name + "-again"))
        assert again.jitos_refs() == self.world.jitos_refs()


def machine(tmp_path: Path, made: list[Jitos]) -> Callable[[], Jitos]:
    """A fresh repository for every example (each kept in `made`)."""
    counter = itertools.count()

    def make() -> Jitos:
        made.append(Jitos(tmp_path / f"run{next(counter)}"))
        return made[-1]

    return make


def test_interleaved_workspace_commands_keep_every_invariant(tmp_path: Path) -> None:
    made: list[Jitos] = []
    run_state_machine_as_test(machine(tmp_path, made), settings=SMALL)
    assert sum(len(m.world.steps) for m in made) > 0  # the invariants were checked after real commands


@pytest.mark.faults
def test_longer_interleavings_keep_every_invariant_on_each_backend(tmp_path: Path,
                                                                   backend_kind: str) -> None:
    made: list[Jitos] = []
    run_state_machine_as_test(machine(tmp_path, made), settings=LARGE)
    assert sum(len(m.world.steps) for m in made) > 0


# -- what the machine found ----------------------------------------------------------


@pytest.fixture
def overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    """New workspaces are overlays (skipped where the OS allows no views)."""
    if not sandbox.support().available:
        pytest.skip(f"no namespaces here: {sandbox.support().reason}")
    monkeypatch.setenv("JITOS_SWS_BACKEND", "overlay")


# Found by the machine above: removing a file the base lacks, once recorded, leaves nothing in
# the overlay's upper layer (OverlayFS needs no whiteout for it), and the removal went unseen.


def test_a_snapshot_records_removing_a_new_file_already_recorded(jrepo: Path,
                                                                  overlay: None) -> None:
    repo = open_repo(jrepo)
    ws = sws.new(repo)
    edits.write(ws, "notes.txt", "draft\n")
    sws.snapshot(repo, ws.id)
    edits.remove(ws, "notes.txt")
    assert not edits.exists(ws, "notes.txt")
    assert sws.snapshot(repo, ws.id).changed == ("notes.txt",)
    assert "notes.txt" not in git(jrepo, "ls-tree", "--name-only", f"refs/jitos/sws/{ws.id}")


def test_a_collapse_never_lands_a_file_the_workspace_removed(jrepo: Path, overlay: None) -> None:
    repo = open_repo(jrepo)
    ws = sws.new(repo)
    edits.write(ws, "notes.txt", "draft\n")
    sws.snapshot(repo, ws.id)
    edits.remove(ws, "notes.txt")
    result = collapse(repo, ws.id, GatePolicy.from_options(repo, gate=PASS))
    assert result.outcome == "empty"  # the workspace holds exactly its base again
    assert "notes.txt" not in git(jrepo, "ls-tree", "--name-only", BRANCH)
