"""Collapse benchmark: `kernel.land.collapse.collapse` against git plumbing on the same commits.

    python bench/collapse.py [--sizes 1000,10000,50000] [--repeat N] [--out FILE] [--dir DIR] [--merged N]

For each size, the repository of `bench/kernel_bench.py` (same generator, imported from
it): nested folders of 20-50 small text files, one commit on `main`, checked out,
`jitos init`. Each repetition then prepares, untimed:

  B  the system (the tip of `main`);
  W  a fresh workspace from B with 10 changed files, snapshotted;
  S  `main` advanced past B, in the user's checkout, by a commit changing 10
     other files and the first line of `--merged` (default 3) of W's files
     (so the collapse adopts S, re-bases W onto it and merges those files
     line by line).

and measures, on those three commits:

  collapse   `collapse(repo, id, GatePolicy.from_options(repo, no_gate=True,
             reason="bench"))` end to end, in process: scan the workspace, adopt S, check conflicts, re-base W
             (trees, commit, rewrite the workspace's files), check the user's
             checkout for local edits, one commit + ref transaction, write the
             changed files into the checkout, remove the workspace;
  tree work  what the re-base costs in trees alone: `merge.merge(B, S, W)`
             (trees compared by id; git merge-tree when both sides changed a
             path, whose tree is then the result) or `trees.apply(S, …)`;
  git        `git merge-tree --write-tree [--merge-base B] S W` + `git commit-tree`
             + `git update-ref` (compare-and-swap from S), the same merge by git.

The three results must be the same tree (checked). Objects the tree-work and git
sides write are deleted again after each, so every side writes its own trees
(an existing object is only "freshened", which would favour whoever runs second);
the two run in a rotating order, the collapse last, each with no tree read
before in the process (as a fresh command starts). The disk is synced before
each timed call. Each repetition also times the phases of the collapse (time
spent in each kernel step, nested steps subtracted), and one extra, untimed
repetition per size runs under cProfile: its top functions by own time are listed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHANGED = 10


sys.path.insert(0, str(ROOT))  # the jitos checkout this benchmark measures
import kernel_bench as kb

log, git, timed, fmt_time = kb.log, kb.git, kb.timed, kb.fmt_time


# ---------------------------------------------------------------------------
# phases: time spent in each kernel step during a collapse, nested steps subtracted

PHASES = (
    ("fold", "fold history (each ledger session)"),
    ("scan", "scan the workspace before collapse"),
    ("adopt", "adopt outside commits"),
    ("conflicts", "merge (trees, git merge-tree when both sides changed a path)"),
    ("rebase", "re-base: trees + commit"),
    ("move", "re-base: rewrite the workspace's files"),
    ("checkouts", "find checkouts of the branch"),
    ("edits", "local edits in the checkout"),
    ("message", "commit message"),
    ("append", "append events + ref transactions"),
    ("write", "write the checkout (files + index)"),
    ("left", "scan the workspace after collapse"),
    ("remove", "remove the workspace"),
)


class PhaseClock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._stack: list[float] = []  # time spent in children of each open phase

    def wrap(self, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                children = self._stack.pop()
                self.spent[key] = self.spent.get(key, 0.0) + elapsed - children
                if self._stack:
                    self._stack[-1] += elapsed
        return timed_call


@contextmanager
def phase_clock() -> Iterator[PhaseClock]:
    """Wrap the steps `kernel.land.collapse` calls (module and class attributes, restored on exit)."""
    from kernel.land import collapse
    from kernel.record import history
    from kernel.workspace import sws
    from kernel.workspace.backend import GitWorktree

    clock = PhaseClock()
    candidates: list[tuple[Any, str, str]] = [
        (history, "events", "fold"),
        (history, "append", "append"),
        (sws, "record_changes", "scan"),
        (collapse, "adopt", "adopt"),
        (collapse, "merge", "conflicts"),
        (sws, "rebase", "rebase"),
        (collapse, "checkouts_of", "checkouts"),
        (collapse, "local_edits", "edits"),
        (collapse, "_message", "message"),
        (collapse, "write_paths", "write"),
        (sws, "remove_if_clean", "left"),  # its own time: the scan (the removal is "remove")
        (GitWorktree, "move_to", "move"),
        (GitWorktree, "remove", "remove"),
    ]
    targets = [(obj, name, key) for obj, name, key in candidates if hasattr(obj, name)]
    missing = {key for _, _, key in candidates} - {key for _, _, key in targets}
    if missing:
        log(f"note: no kernel function found for phase(s) {', '.join(sorted(missing))}; counted as the rest")
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in targets]
    try:
        for obj, name, key in targets:
            setattr(obj, name, clock.wrap(key, getattr(obj, name)))
        yield clock
    finally:
        for obj, name, original in saved:
            setattr(obj, name, original)


# ---------------------------------------------------------------------------
# measurement


@dataclass
class Size:
    n: int
    collapse: list[float] = field(default_factory=list)
    trees: list[float] = field(default_factory=list)
    git: list[float] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)
    profile: list[tuple[str, int, float, float]] = field(default_factory=list)
    profile_total: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def loose_objects(objects: Path) -> set[Path]:
    return {entry for d in objects.glob("[0-9a-f][0-9a-f]") for entry in d.iterdir()}


@contextmanager
def forgotten(objects: Path) -> Iterator[None]:
    """Delete the loose objects written inside the block (nothing refers to them)."""
    before = loose_objects(objects)
    yield
    for path in loose_objects(objects) - before:
        path.unlink()


def merge_base_option() -> bool:
    """`git merge-tree --write-tree --merge-base` needs git 2.40 or later."""
    done = subprocess.run(["git", "merge-tree", "-h"], capture_output=True, text=True, check=False)
    return "--merge-base" in done.stdout + done.stderr


def prepare(repo: Any, root: Path, ws_paths: list[str], sys_paths: list[str], r: int,
            merged: int = 0) -> tuple[str, str, str, str]:
    """A fresh workspace W from the system B with `ws_paths` changed (a line
    appended), and `main` advanced to S by a commit in the user's checkout
    changing `sys_paths` and, at their first line, the first `merged` of
    `ws_paths` (so the collapse merges those line by line)."""
    from kernel.record import state
    from kernel.workspace import sws

    base = state.load(repo).system
    assert base is not None and git(root, "rev-parse", "main").strip() == base
    ws = sws.new(repo)
    kb.settle(limit=15)
    kb.change(ws.path, ws_paths, r)
    time.sleep(1.1)  # nothing shares the index's timestamp: no racily clean entries
    snap = sws.snapshot(repo, ws.id, f"bench edit {r}")
    assert len(snap.changed) == CHANGED, snap.changed
    kb.change(root, sys_paths, r)
    for rel in ws_paths[:merged]:
        text = (root / rel).read_text(encoding="utf-8")
        (root / rel).write_text(f"first line, changed on the branch ({r})\n" + text.split("\n", 1)[1],
                                encoding="utf-8")
    git(root, "add", "--", *sys_paths, *ws_paths[:merged])
    git(root, "commit", "-q", "-m", f"outside change {r}")
    system = git(root, "rev-parse", "main").strip()
    time.sleep(1.1)
    os.sync()
    return ws.id, base, system, snap.head


def cold() -> None:
    """Forget the trees this process has read, as a fresh `jitos` command starts."""
    from kernel.workspace import trees

    trees._RAW.clear()


def tree_work(repo: Any, base: str, system: str, head: str) -> str:
    from kernel.land.merge import merge
    from kernel.workspace import trees

    combined = merge(repo, base, system, head)
    assert not combined.conflicts, combined.conflicts
    return combined.tree or trees.apply(repo.git, str(repo.git[system].tree_id), combined.changes)


def git_land_tree(root: Path, base: str, system: str, head: str, with_base: bool) -> str:
    """The same landing by git: merge, commit on top of the system, move the ref
    by compare-and-swap. Returns the merged tree."""
    args = ["merge-tree", "--write-tree", *(["--merge-base", base] if with_base else []), system, head]
    tree = git(root, *args).split("\n", 1)[0].strip()
    commit = git(root, "commit-tree", tree, "-p", system, "-m", "land the workspace").strip()
    git(root, "update-ref", "-m", "bench: land", "refs/bench/landed", commit, system)
    return tree


def timed_store(into: dict[str, Any], key: str, fn: Callable[[], Any]) -> float:
    """`timed(fn)`, keeping what `fn` returned in `into[key]`."""
    return float(timed(lambda: into.__setitem__(key, fn())))


def collapse_ungated(repo: Any, sid: str) -> Any:
    """The measured collapse: its gate policy built as the command line builds it, then the collapse."""
    from kernel.land.collapse import collapse
    from kernel.land.gate import GatePolicy

    return collapse(repo, sid, GatePolicy.from_options(repo, no_gate=True, reason="bench"))


def bench_size(base_dir: Path, n: int, repeat: int, with_base: bool, merged: int = 0) -> Size:
    from kernel.base.repo import open_repo
    from kernel.record import initialise, state

    out = Size(n)
    work = base_dir / f"n{n}"
    log(f"[{n} files] generating repository")
    start = time.perf_counter()
    _, paths = kb.make_repo(work / "repo", n)
    root = work / "repo"
    out.extra["generate_s"] = time.perf_counter() - start
    repo = open_repo(root)
    initialise.init(repo)
    objects = Path(repo.git.path) / "objects"
    rng = random.Random(f"jitos-collapse-bench-{n}")
    picked = rng.sample(paths, 2 * CHANGED)
    ws_paths, sys_paths = sorted(picked[:CHANGED]), sorted(picked[CHANGED:])
    out.extra["settle_s"] = kb.settle(limit=30)

    for r in range(repeat + 1):
        profiled = r == repeat
        log(f"[{n} files] repetition {r + 1}/{repeat}" if not profiled else f"[{n} files] profiled run")
        sid, b, s, w = prepare(repo, root, ws_paths, sys_paths, r, merged)
        if not with_base:  # git picks the merge base itself: it must be B
            assert git(root, "merge-base", s, w).strip() == b
        results: dict[str, str] = {}
        if not profiled:
            for side in kb.rotate(["trees", "git"], r):
                git(root, "update-ref", "refs/bench/landed", s)
                with forgotten(objects):
                    cold()
                    if side == "trees":
                        out.trees.append(timed_store(results, "trees", partial(tree_work, repo, b, s, w)))
                    else:
                        out.git.append(timed_store(results, "git", partial(git_land_tree, root, b, s, w, with_base)))
                    git(root, "update-ref", "-d", "refs/bench/landed")
        land = partial(collapse_ungated, repo, sid)
        done: dict[str, Any] = {}
        cold()
        if profiled:
            prof = cProfile.Profile()
            os.sync()
            start = time.perf_counter()
            done["result"] = prof.runcall(land)
            out.profile_total = time.perf_counter() - start
            out.profile = top_functions(prof)
        else:
            with phase_clock() as clock:
                out.collapse.append(timed_store(done, "result", land))
            out.phases.append(dict(clock.spent))
        result = done["result"]
        assert result.committed and result.rebased and len(result.paths) == CHANGED, result
        assert len(result.merged) == merged, result.merged
        assert not result.left_behind and not (repo.workspaces_dir / sid).exists(), result
        landed = str(repo.git[result.system].tree_id)
        assert all(tree == landed for tree in results.values()), (results, landed)
        assert git(root, "status", "--porcelain").strip() == "", "the checkout must be clean after a collapse"
        assert state.load(repo).system == git(root, "rev-parse", "main").strip() == result.system
    return out


def top_functions(prof: cProfile.Profile, k: int = 10) -> list[tuple[str, int, float, float]]:
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = name if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line} {name}"
        rows.append((where, calls, own, cumulative))
    rows.sort(key=lambda row: -row[2])
    return rows[:k]


# ---------------------------------------------------------------------------
# report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def cell(values: list[float]) -> str:
    med = statistics.median(values)
    spread = f" [{fmt_time(min(values))}–{fmt_time(max(values))}]" if len(values) > 1 else ""
    return fmt_time(med) + spread


def report(sizes: list[Size], meta: dict[str, str]) -> str:
    lines = [
        ("| files | jitos collapse, total | of which removing the workspace | jitos tree work "
         "| git merge-tree + commit-tree + update-ref | collapse ÷ git | tree work ÷ git |"),
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        c, t, g = (statistics.median(v) for v in (size.collapse, size.trees, size.git))
        removal = [p.get("remove", 0.0) for p in size.phases]
        lines.append(f"| {size.n:,} | {cell(size.collapse)} | {cell(removal)} | {cell(size.trees)} "
                     f"| {cell(size.git)} | {c / g:.1f}× | {t / g:.2f}× |")
    lines += ["", "Where the collapse's time goes (ms, median per repetition; nested steps subtracted):", ""]
    lines.append("| step | " + " | ".join(f"{s.n:,} files" for s in sizes) + " |")
    lines.append("|---|" + "---:|" * len(sizes))
    medians = [{key: statistics.median(p.get(key, 0.0) for p in s.phases) for key, _ in PHASES} for s in sizes]
    for key, label in PHASES:
        lines.append(f"| {label} | " + " | ".join(ms(m[key]) for m in medians) + " |")
    rest = [statistics.median(total - sum(p.values()) for total, p in zip(s.collapse, s.phases, strict=True))
            for s in sizes]
    lines.append("| everything else | " + " | ".join(ms(x) for x in rest) + " |")
    lines.append("| **total** | " + " | ".join(f"**{ms(statistics.median(s.collapse))}**" for s in sizes) + " |")
    lines.append("")
    for size in sizes:
        lines.append(f"cProfile, {size.n:,} files (one collapse, {fmt_time(size.profile_total)} under the "
                     "profiler), top functions by own time:")
        lines.append("")
        for where, calls, own, cumulative in size.profile:
            lines.append(f"- `{where}`: {ms(own)} ms own, {ms(cumulative)} ms cumulative, {calls:,} call(s)")
        lines.append("")
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    for size in sizes:
        lines.append(f"- {size.n:,} files: generated in {size.extra['generate_s']:.1f} s, disk settled in "
                     f"{size.extra['settle_s']:.1f} s, {len(size.collapse)} repetition(s)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--merged", type=int, default=3,
                     help="how many of the workspace's 10 files the branch also changes (merged line by line)")
    mine, rest = own.parse_known_args(argv)
    args, sizes = kb.parse_common(__doc__.split("\n\n")[0], rest)

    base = Path(tempfile.mkdtemp(prefix="jitos-collapse-bench-", dir=args.dir))
    # The workspace is edited in place, so it is a git worktree; whole-command
    # collapses on both backends are in bench/commands_bench.py.
    os.environ["JITOS_SWS_BACKEND"] = "worktree"
    try:
        kb.seal(base / "home")
        with_base = merge_base_option()
        meta = {
            **kb.run_meta("collapse.py", argv, base),
            "git merge base": "given with `--merge-base B`" if with_base else
                              "found by git itself (`--merge-base` needs git 2.40; checked to be B)",
        }
        results: list[Size] = kb.each_size(sizes, args, lambda n, repeat: bench_size(base, n, repeat, with_base,
                                                                                            mine.merged))
        text = report(results, meta)
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
    finally:
        log("removing the temporary repositories")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
