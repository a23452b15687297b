"""Whole-command benchmark: what a user waits for, jitos against git doing the same work.

    python -m compileall -q kernel jitos_cli        # as an installed package is
    python bench/commands_bench.py [--sizes 1000,10000,50000] [--events 10,1000,10000]
                                   [--repeat N] [--repeat-large N] [--backends worktree,overlay]
                                   [--out FILE] [--dir DIR]

Every timed row runs a command as a new process, the way a shell or a hook runs it,
after two untimed warm-up runs; the sides of a row take turns in a rotating order,
repeat by repeat; the disk is synced before each timed call. Medians, range in
brackets; a ratio is the median of per-repeat ratios. In-process rows (no start-up)
stand beside them where the issue's targets are about the work itself.

Start-up and history (a repository of 100 files whose history holds N events:
`jitos init`, then N−1 `note` events recorded in process):

  `python -c pass` (the interpreter the `jitos` script runs), `jitos --version`,
  `jitos status`, `git status`; in process: folding history cold (no saved chain
  or fold, nothing read yet: every event from git), warm (from the saved folds,
  as a new command starts), `verify` (events/s), and one ledger session per
  appended event (the append itself, after start-up) against pygit2 writing the
  same three objects and moving a ref.

Snapshot of 10 changed files (repositories of `--sizes` files, per backend):

  `jitos sws snapshot ID --json` / `git add -A` then `git commit -q -m …` in a
  plain worktree holding the same 10 changes — exactly the work a user does to
  record them with git, nothing more.

Collapse of a workspace with 10 changed files onto a branch that moved by a
commit changing 10 other files (so the re-base runs), gate excluded
(`--no-gate`). Each side has its own copy of the same repository:

  jitos: `jitos collapse ID --no-gate` — the time until it answers, and the time
  until its workspace folder is gone (deleted after it answered, by a detached
  process);
  git: `git merge-tree --write-tree` + `git commit-tree` + `git update-ref`
  (compare-and-swap) + `git read-tree -m -u` (your checkout updated) + `git
  worktree remove --force` (the workspace's worktree deleted), one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_bench as kb  # the generator and environment of the kernel benchmark

WARMUP = 2
CHANGED = 10
APPENDS = 200  # ledger sessions per repeat in the append row


class Row:
    def __init__(self, what: str, where: str, unit: str = "time") -> None:
        self.what, self.where, self.unit = what, where, unit
        self.jitos: list[float] = []
        self.git: list[float] = []


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {cwd} (exit {done.returncode}): "
                           f"{done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def timed(fn: Callable[[], Any]) -> float:
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interpreter_of(script: str) -> str:
    """The interpreter a console script's shebang names (what `jitos` starts)."""
    first = Path(script).read_text(encoding="utf-8", errors="replace").splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else sys.executable


def pair(row: Row, jitos: Callable[[], Any], git: Callable[[], Any], repeat: int, warmup: int = WARMUP) -> None:
    """Time `jitos` into row.jitos and `git` into row.git, in turns, after warm-ups."""
    for _ in range(warmup):
        jitos()
        git()
    for r in range(repeat):
        for side in kb.rotate(["jitos", "git"], r):
            if side == "jitos":
                row.jitos.append(timed(jitos))
            else:
                row.git.append(timed(git))


# -- start-up and history --------------------------------------------------------


def startup(base: Path, events: list[int], repeat: int, jitos: list[str]) -> list[Row]:
    from kernel.base.repo import open_repo
    from kernel.record import initialise, state

    rows: list[Row] = []
    python = interpreter_of(jitos[0])
    repos: dict[int, Path] = {}
    for n in events:
        root = base / f"events-{n}"
        kb.make_repo(root, 100)
        initialise.init(open_repo(root))
        kb.log(f"[{n} events] recording")
        with state.ledger(open_repo(root)) as ledger:
            for i in range(n - ledger.state.seq):
                ledger.record("note", f"bench note {i}", data={"i": i, "text": "a small note"})
        _wait_for_packer(root)
        repos[n] = root

    first = repos[events[0]]
    row = Row("`jitos --version` / `python -c pass`", "command")
    pair(row, lambda: run([*jitos, "--version"], first), lambda: run([python, "-c", "pass"], first), repeat)
    rows.append(row)
    for n, root in repos.items():
        row = Row(f"`jitos status` / `python -c pass`, {n:,} events", "command")
        pair(row, lambda root=root: run([*jitos, "status"], root), lambda: run([python, "-c", "pass"], first), repeat)
        rows.append(row)
    for n, root in repos.items():
        row = Row(f"`jitos status` / `git status`, {n:,} events", "command")
        pair(row, lambda root=root: run([*jitos, "status"], root), lambda root=root: run(["git", "status"], root),
             repeat)
        rows.append(row)
    rows += _folds(repos, repeat)
    rows += _appends(repos[max(repos)], repeat)
    return rows


def _wait_for_packer(root: Path, limit: float = 120.0) -> None:
    """Let a detached history packer finish before anything is timed."""
    lock = root / ".git" / "jitos" / "cache" / "pack.lock"
    from kernel.base.files import is_held

    deadline = time.monotonic() + limit
    time.sleep(0.2)
    while lock.exists() and is_held(lock) and time.monotonic() < deadline:
        time.sleep(0.1)


def _forget() -> None:
    from kernel.record import folds, history

    folds._memo.clear()
    history._seen.clear()
    history._saved_cache.clear()


def _folds(repos: dict[int, Path], repeat: int) -> list[Row]:
    """Cold and warm folds, in process, against `git rev-list --count` of the same history."""
    from kernel.base.repo import open_repo
    from kernel.record import state
    from kernel.tasks import model

    rows = []
    for n, root in repos.items():
        cache = root / ".git" / "jitos" / "cache"
        saved = {p.name: p.read_bytes() for p in cache.iterdir() if p.name.startswith(("fold-", "events"))}

        def cold(root: Path = root, cache: Path = cache, saved: dict[str, bytes] = saved) -> None:
            for name in saved:
                (cache / name).unlink(missing_ok=True)
            _forget()
            repo = open_repo(root)
            state.current(repo), model.tasks_of(repo)

        def warm(root: Path = root) -> None:
            _forget()
            repo = open_repo(root)
            state.current(repo), model.tasks_of(repo)

        def count(root: Path = root) -> None:
            run(["git", "rev-list", "--count", "refs/jitos/history"], root)

        for label, fn in (("cold: every event read from git", cold), ("warm: from the saved folds", warm)):
            row = Row(f"fold {n:,} events, {label} / `git rev-list --count` (a command)", "in process")
            pair(row, fn, count, repeat, warmup=1)
            rows.append(row)
        for name, data in saved.items():  # leave the saved state as a command left it
            (cache / name).write_bytes(data)
        _forget()
    return rows


def _appends(root: Path, repeat: int) -> list[Row]:
    import pygit2

    from kernel import verify
    from kernel.base import canonical
    from kernel.base.repo import open_repo
    from kernel.record import state

    repo = open_repo(root)
    counter = [0]

    def sessions() -> None:
        for _ in range(APPENDS):
            counter[0] += 1
            with state.ledger(repo) as ledger:
                ledger.record("note", f"bench append {counter[0]}", data={"i": counter[0], "text": "a small note"})

    def floor() -> None:
        g = repo.git
        ref = "refs/bench/raw"
        parent = g.references[ref].target if ref in g.references else None
        sig = pygit2.Signature("jitos", "jitos@localhost", kb.EPOCH, 0)
        for i in range(APPENDS):
            blob = g.create_blob(canonical.dumps({"i": i, "kind": "note", "text": "a small note"}))
            builder = g.TreeBuilder()
            builder.insert("event.json", blob, pygit2.enums.FileMode.BLOB)
            oid = g.create_commit(None, sig, sig, f"bench note {i}\n", builder.write(), [parent] if parent else [])
            g.references.create(ref, oid, force=True)
            parent = oid

    row = Row(f"append an event, a ledger session each (history of {state.load(repo).seq:,}+) / pygit2 "
              "writing the same objects and a ref", "in process", unit="event")
    pair(row, sessions, floor, repeat, warmup=1)
    row.jitos = [t / APPENDS for t in row.jitos]
    row.git = [t / APPENDS for t in row.git]
    _wait_for_packer(root)

    events = state.load(repo).seq
    ver = Row(f"`verify` {events:,} events / `git rev-list --objects | git cat-file --batch`", "in process",
              unit="event")

    def read_all() -> None:
        lister = subprocess.Popen(["git", "rev-list", "--objects", "--no-object-names", "refs/jitos/history"],
                                  cwd=root, stdout=subprocess.PIPE)
        subprocess.run(["git", "cat-file", "--batch"], cwd=root, stdin=lister.stdout, stdout=subprocess.DEVNULL,
                       check=True)
        assert lister.stdout is not None
        lister.stdout.close()
        lister.wait()

    def check() -> None:
        assert verify.verify(repo).ok

    pair(ver, check, read_all, max(1, repeat // 2), warmup=1)
    ver.jitos = [t / events for t in ver.jitos]
    ver.git = [t / events for t in ver.git]
    return [row, ver]


# -- snapshot and collapse ---------------------------------------------------------


def repository(base: Path, n: int, backend: str) -> tuple[Path, Path, list[str], str]:
    """Two copies of the generated repository (jitos's and git's) and its files."""
    source = base / f"n{n}" / "source"
    if not source.exists():
        kb.make_repo(source, n)
    paths = kb.git(source, "ls-files").split()
    ours, theirs = base / f"n{n}" / f"jitos-{backend}", base / f"n{n}" / f"git-{backend}"
    for target in (ours, theirs):
        kb.git(base, "clone", "-q", "--no-hardlinks", str(source), str(target))
    run([*kb.jitos_argv(), "init"], ours)
    return ours, theirs, paths, kb.git(ours, "rev-parse", "HEAD").strip()


def snapshot_and_collapse(base: Path, n: int, repeat: int, backend: str, jitos: list[str]) -> list[Row]:
    env = {**os.environ, "JITOS_SWS_BACKEND": backend}
    ours, theirs, paths, _ = repository(base, n, backend)
    rng = kb.random.Random(f"jitos-commands-bench-{n}")
    picked = rng.sample(paths, 2 * CHANGED)
    in_ws, on_branch = sorted(picked[:CHANGED]), sorted(picked[CHANGED:])

    # -- snapshot: the same 10 files changed, recorded -----------------------------
    ws = json.loads(run([*jitos, "sws", "new", "--json"], ours, env))
    ws_path = Path(ws["path"])
    git_wt = theirs.parent / f"wt-{backend}"
    kb.git(theirs, "worktree", "add", "-q", "--detach", str(git_wt))
    time.sleep(1.1)  # nothing just written: no file shares the index's timestamp
    snap = Row(f"`jitos sws snapshot` of {CHANGED} files / `git add -A` + `git commit`", "command")

    def jitos_snapshot() -> None:
        out = json.loads(run([*jitos, "sws", "snapshot", ws["id"], "--json"], ours, env))
        assert len(out["changed"]) == CHANGED, out

    def git_snapshot() -> None:
        run(["git", "add", "-A"], git_wt)
        run(["git", "commit", "-q", "-m", f"{CHANGED} paths changed"], git_wt)

    for r in range(WARMUP + repeat):
        edit(ours, ws_path, backend, in_ws, r)
        kb.change(git_wt, in_ws, r)
        if r < WARMUP:
            jitos_snapshot()
            git_snapshot()
            continue
        for side in kb.rotate(["jitos", "git"], r):
            (snap.jitos if side == "jitos" else snap.git).append(
                timed(jitos_snapshot if side == "jitos" else git_snapshot))
    run([*jitos, "sws", "discard", ws["id"], "--force"], ours, env)
    kb.git(theirs, "worktree", "remove", "--force", str(git_wt))

    # -- collapse ----------------------------------------------------------------
    answer = Row("`jitos collapse --no-gate`, until it answers / git plumbing + checkout + worktree removal",
                 "command")
    done = Row("`jitos collapse --no-gate`, until its workspace is deleted / the same git", "command")
    for r in range(WARMUP + repeat):
        ws = json.loads(run([*jitos, "sws", "new", "--json"], ours, env))
        edit(ours, Path(ws["path"]), backend, in_ws, 100 + r)
        run([*jitos, "sws", "snapshot", ws["id"]], ours, env)
        kb.change(ours, on_branch, 100 + r)
        run(["git", "commit", "-qam", "the branch moves"], ours)

        wt = theirs.parent / f"cwt-{backend}-{r}"
        kb.git(theirs, "worktree", "add", "-q", "--detach", str(wt))
        kb.change(wt, in_ws, 100 + r)
        kb.git(wt, "commit", "-qam", "the workspace's change")
        head = kb.git(wt, "rev-parse", "HEAD").strip()
        kb.change(theirs, on_branch, 100 + r)
        kb.git(theirs, "commit", "-qam", "the branch moves")
        system = kb.git(theirs, "rev-parse", "HEAD").strip()
        time.sleep(1.1)
        trash = ours / ".git" / "jitos" / "trash"

        def jitos_collapse(ws_id: str = ws["id"], trash: Path = trash) -> float:
            start = time.perf_counter()
            run([*jitos, "collapse", ws_id, "--no-gate"], ours, env)
            answered = time.perf_counter() - start
            while trash.exists() and any(trash.iterdir()):
                time.sleep(0.005)
            return answered

        def git_collapse(wt: Path = wt, head: str = head, system: str = system) -> None:
            tree = run(["git", "merge-tree", "--write-tree", system, head], theirs).split()[0]
            commit = run(["git", "commit-tree", tree, "-p", system, "-m", "collapse"], theirs).strip()
            run(["git", "update-ref", "refs/heads/main", commit, system], theirs)
            run(["git", "read-tree", "-m", "-u", system, commit], theirs)
            run(["git", "worktree", "remove", "--force", str(wt)], theirs)

        if r < WARMUP:
            jitos_collapse()
            git_collapse()
            continue
        for side in kb.rotate(["jitos", "git"], r):
            if side == "jitos":
                os.sync()
                start = time.perf_counter()
                answer.jitos.append(jitos_collapse())
                done.jitos.append(time.perf_counter() - start)
            else:
                spent = timed(git_collapse)
                answer.git.append(spent)
                done.git.append(spent)
    assert kb.git(ours, "status", "--porcelain").strip() == "", "the collapse left the checkout dirty"
    return [snap, answer, done]


def edit(ours: Path, ws_path: Path, backend: str, paths: list[str], r: int) -> None:
    """Append to `paths` in the workspace as a program running in it would: on
    the overlay backend that is a copy-up into its upper layer (its folder shows
    files only inside a view)."""
    if backend == "worktree":
        kb.change(ws_path, paths, r)
        return
    upper = ours / ".git" / "jitos" / "layers" / ws_path.name / "upper"
    for rel in paths:
        target = upper / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ours / rel, target)
    kb.change(upper, paths, r)


# -- report ----------------------------------------------------------------------


fmt_time = kb.fmt_time


def cell(values: list[float], unit: str) -> str:
    med = statistics.median(values)
    spread = f" [{fmt_time(min(values))}–{fmt_time(max(values))}]" if len(values) > 1 else ""
    per_second = f" ({1 / med:,.0f}/s)" if unit == "event" else ""
    return fmt_time(med) + spread + per_second


def table(sections: list[tuple[str, list[Row]]]) -> str:
    lines = ["| measure | where | size | jitos | git (or baseline) | jitos ÷ git | jitos − git |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for size, rows in sections:
        for row in rows:
            ratio = statistics.median(j / g for j, g in zip(row.jitos, row.git, strict=True))
            diff = statistics.median(j - g for j, g in zip(row.jitos, row.git, strict=True))
            lines.append(f"| {row.what} | {row.where} | {size} | {cell(row.jitos, row.unit)} | "
                         f"{cell(row.git, row.unit)} | {ratio:.2f}× | {fmt_time(diff) if diff >= 0 else '−' + fmt_time(-diff)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="comma-separated file counts")
    parser.add_argument("--events", default="10,1000,10000", help="comma-separated history lengths")
    parser.add_argument("--backends", default="worktree,overlay", help="workspace backends to measure")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--repeat-large", type=int, default=5, help="repeats at 50,000 files or more")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--skip", default="", help="comma-separated: startup, files")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    events = [int(s) for s in args.events.split(",") if s]
    skip = set(args.skip.split(","))

    base = Path(tempfile.mkdtemp(prefix="jitos-commands-bench-", dir=args.dir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        kb.seal(base / "home")
        meta = {**kb.run_meta("commands_bench.py", argv, base), "jitos": kb.source_version(),
                "jitos command": " ".join(kb.jitos_argv())}
        jitos = kb.jitos_argv()
        load_before = os.getloadavg()[0]
        sections: list[tuple[str, list[Row]]] = []
        if "startup" not in skip:
            sections.append(("", startup(base, events, args.repeat, jitos)))
        if "files" not in skip:
            from kernel.base import sandbox

            for backend in args.backends.split(","):
                if backend == "overlay" and not sandbox.support().available:
                    kb.log(f"overlay backend unavailable here: {sandbox.support().reason}")
                    continue
                for n in sizes:
                    kb.log(f"[{n} files, {backend}] snapshot and collapse")
                    repeat = min(args.repeat, args.repeat_large) if n >= 50_000 else args.repeat
                    rows = snapshot_and_collapse(base, n, repeat, backend, jitos)
                    for row in rows:
                        row.where = f"command, {backend}"
                    sections.append((f"{n:,} files", rows))
        meta["load average (1 min) before / after"] = f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
        text = table(sections) + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in meta.items()) + "\n"
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
    finally:
        kb.log("removing the temporary repositories")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
