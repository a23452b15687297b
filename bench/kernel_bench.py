"""Kernel benchmark: jitos against git on the same generated repositories, in one run.

    python bench/kernel_bench.py [--sizes 1000,10000,50000] [--repeat N] [--repeat-large N]
                           [--out FILE] [--dir DIR]

For each size, a deterministic repository is generated in a temporary folder under
DIR (default: the system temp folder): nested folders of 20-50 small text files
each, one commit, a checked-out work tree, `jitos init`; workspaces use the
worktree backend (edited in place, as git's side is). Then, interleaving the
jitos and git sides in a rotating order so that neither is favoured:

  create    `kernel.workspace.sws.new` in process and `jitos sws new` (CLI)
            vs `git worktree add --detach`
  snapshot  10 changed files: `kernel.workspace.sws.snapshot` and `jitos sws snapshot`
            vs `git add -A` + `git commit` in a plain worktree with the same 10 changes
  append    history events through `kernel.record.state.ledger`: many appends in one
            ledger session, and one ledger session per append (lock + fold
            history + append), vs `git commit-tree` + `git update-ref` in a loop
            (and, as a floor, pygit2 writing the same three objects + a ref)
  verify    `kernel.verify.verify` on a history of 1,000 events, vs reading the
            same history objects with `git rev-list --objects | git cat-file --batch`

Every figure is the median of the repeats (`--repeat`, capped by
`--repeat-large` for sizes of 50,000 files or more), with the range in
brackets; the disk is synced before each timed call so that one side's
write-back does not land on the other's clock, and allowed to go idle before
each size. Ratios are jitos time / git time (below 1: jitos is faster), the
median of the per-repeat ratios (both sides of a repeat run back to back).
Nothing is deleted until every size has been measured: a disk can be much
slower at creating files right after a mass deletion.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the jitos checkout this benchmark measures
EPOCH = 1700000000
NOTES_PER_SESSION_RUN = 100  # separate-session appends per repeat
NOTES_PER_BATCH_RUN = 1000  # single-session appends per repeat
GIT_LOOP_RUN = 100  # commit-tree + update-ref iterations per repeat
VERIFY_EVENTS = 1000

WORDS = (
    "alpha", "beta", "gamma", "delta", "kernel", "parser", "render", "store", "cache", "index",
    "event", "ledger", "worker", "plan", "query", "model", "view", "route", "table", "graph",
    "token", "stream", "buffer", "config", "client", "server", "handler", "filter", "mapper",
    "reader", "writer", "loader", "schema", "codec", "proto", "signal", "timer", "queue",
    "frame", "layout", "widget", "theme", "asset", "image", "audio", "video", "input", "output",
    "socket", "thread", "memory", "vector", "matrix", "tensor", "sample", "metric", "report",
    "audit", "policy", "session",
)
EXTS = (".py", ".py", ".py", ".md", ".txt", ".json", ".js", ".cfg")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# environment


def seal(home: Path) -> None:
    """A hermetic, fresh-machine environment for this process and every child:
    no user or system git config, fixed identities and dates."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("")
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Bench Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Bench Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_AUTHOR_DATE": f"{EPOCH} +0000",
        "GIT_COMMITTER_DATE": f"{EPOCH} +0000",
        "SOURCE_DATE_EPOCH": str(EPOCH),
        "GIT_EDITOR": "false",
        "NO_COLOR": "1",
        "LC_ALL": "C",
    }
    os.environ.update(env)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL", "GIT_COMMON_DIR"):
        os.environ.pop(var, None)


def git(cwd: Path, *args: str, input_: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=input_, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def jitos_argv() -> list[str]:
    """The installed `jitos` script next to this interpreter (no version-manager shim)."""
    script = Path(sys.executable).parent / "jitos"
    if script.is_file():
        return [str(script)]
    found = shutil.which("jitos")
    if found is None:
        raise SystemExit("the `jitos` command is not installed; run `pip install -e .` first")
    return [found]


def filesystem(path: Path) -> str:
    done = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if len(lines) < 2:
        return "unknown"
    cols = lines[-1].split()
    return f"{cols[1]} on {cols[0]} (mounted at {cols[-1]})"


def source_version() -> str:
    """The commit of the jitos source being measured, and whether the kernel differs from it."""
    def out(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = out("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    dirty = out("status", "--porcelain", "--", "kernel", "jitos_cli")
    return f"commit {commit}" + (" with uncommitted changes in kernel/ or jitos_cli/" if dirty else "")


# ---------------------------------------------------------------------------
# repository generation


def layout(n: int) -> dict[str, bytes]:
    """`n` small text files in nested folders of 20-50 files each (deterministic)."""
    rng = random.Random(f"jitos-kernel-bench-{n}")
    counts: list[int] = []
    while sum(counts) < n:
        counts.append(min(rng.randint(20, 50), n - sum(counts)))
    depth = 1
    while 8**depth < len(counts):
        depth += 1
    files: dict[str, bytes] = {}
    for i, count in enumerate(counts):
        digits = [(i // 8**k) % 8 for k in reversed(range(depth))]
        folder = "/".join(f"{WORDS[(level * 8 + d) % len(WORDS)]}{d}" for level, d in enumerate(digits))
        for j in range(count):
            name = f"{folder}/{rng.choice(WORDS)}_{j}{rng.choice(EXTS)}"
            lines = [" ".join(rng.choices(WORDS, k=rng.randint(3, 10))) for _ in range(rng.randint(5, 40))]
            files[name] = ("\n".join(lines) + "\n").encode()
    return files


def make_repo(path: Path, n: int) -> tuple[str, list[str]]:
    """Generate the repository at `path` (one commit on main, checked out);
    return its commit id and its file paths."""
    files = layout(n)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    stream = bytearray()
    msg = f"generated repository: {n} files\n".encode()
    stream += b"commit refs/heads/main\n"
    stream += f"author Bench Author <author@example.com> {EPOCH} +0000\n".encode()
    stream += f"committer Bench Committer <committer@example.com> {EPOCH} +0000\n".encode()
    stream += b"data %d\n%s\n" % (len(msg), msg)
    for name, data in files.items():
        stream += b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data)
    git(path, "fast-import", "--quiet", input_=bytes(stream))
    git(path, "reset", "-q", "--hard", "main")
    return git(path, "rev-parse", "main").strip(), sorted(files)


def change(root: Path, paths: list[str], r: int) -> None:
    for rel in paths:
        with open(root / rel, "a", encoding="utf-8") as handle:
            handle.write(f"edit {r}: changed by the benchmark\n")


# ---------------------------------------------------------------------------
# measurement


@dataclass
class Row:
    what: str
    jitos: list[float] = field(default_factory=list)  # seconds per unit
    git: list[float] = field(default_factory=list)
    unit: str = "op"  # "op": seconds per operation; "event": seconds per event
    note: str = ""


def timed(fn: Callable[[], Any]) -> float:
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _disk_counters() -> tuple[int, ...]:
    try:
        with open("/proc/diskstats", encoding="ascii") as handle:
            rows = [line.split() for line in handle]
    except OSError:
        return ()
    # reads, writes and (where reported) discards completed, for every device
    return tuple(int(row[i]) for row in rows for i in (3, 7, 14) if len(row) > i)


def settle(limit: float = 60.0) -> float:
    """Flush the disk and wait (at most `limit` seconds) until it has been idle
    for two seconds, so one size does not pay for the previous one's writes."""
    start = time.perf_counter()
    os.sync()
    quiet, last = 0, _disk_counters()
    while quiet < 4 and time.perf_counter() - start < limit:
        time.sleep(0.5)
        now = _disk_counters()
        quiet = quiet + 1 if now == last else 0
        last = now
    return time.perf_counter() - start


def rotate(items: list[str], r: int) -> list[str]:
    k = r % len(items)
    return items[k:] + items[:k]


def run_cli(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr}")
    return done.stdout


def bench_size(base: Path, n: int, repeat: int) -> tuple[list[Row], dict[str, Any]]:
    from kernel import verify
    from kernel.base.repo import open_repo
    from kernel.record import history, initialise, state
    from kernel.workspace import sws

    work = base / f"n{n}"
    extra: dict[str, Any] = {}
    log(f"[{n} files] generating repository")
    start = time.perf_counter()
    commit, paths = make_repo(work / "repo", n)
    root = work / "repo"
    extra["generate_s"] = time.perf_counter() - start
    repo = open_repo(root)
    initialise.init(repo)
    extra["settle_s"] = settle()
    jitos = jitos_argv()
    worktrees = work / "wt"
    worktrees.mkdir()

    # -- create ---------------------------------------------------------------
    log(f"[{n} files] create x{repeat}")
    create_k = Row("create, in process")
    create_c = Row("create, CLI")
    git_create: list[float] = []
    made: dict[str, list[str]] = {"kernel": [], "cli": [], "git": []}
    for r in range(repeat):
        for side in rotate(["kernel", "cli", "git"], r):
            if side == "kernel":
                create_k.jitos.append(timed(lambda: made["kernel"].append(sws.new(repo).id)))
            elif side == "cli":
                out: list[str] = []
                create_c.jitos.append(timed(lambda out=out: out.append(run_cli([*jitos, "sws", "new", "--json"], root))))
                made["cli"].append(json.loads(out[0])["id"])
            else:
                target = worktrees / f"g{r}"
                git_create.append(timed(lambda t=target: git(root, "worktree", "add", "--detach", "--quiet", str(t), commit)))
                made["git"].append(str(target))
    create_k.git = create_c.git = git_create

    # -- snapshot of 10 changed files -----------------------------------------
    log(f"[{n} files] snapshot x{repeat}")
    time.sleep(1.1)  # nothing just written: no file shares the index's timestamp
    rng = random.Random(f"jitos-kernel-bench-changes-{n}")
    changed = sorted(rng.sample(paths, 10))
    snap_k = Row("snapshot 10 files, in process")
    snap_c = Row("snapshot 10 files, CLI")
    git_snap: list[float] = []
    kernel_id, cli_id, git_wt = made["kernel"][0], made["cli"][0], Path(made["git"][0])

    def git_commit() -> None:  # what a user runs to record the changes: nothing more
        git(git_wt, "add", "-A")
        git(git_wt, "commit", "-q", "-m", "10 paths changed")

    def kernel_snapshot() -> None:
        snap = sws.snapshot(repo, kernel_id)
        assert len(snap.changed) == 10, snap.changed

    for r in range(repeat):
        for side in rotate(["kernel", "cli", "git"], r):
            if side == "kernel":
                change(sws.workspace_path(repo, kernel_id), changed, r)
                snap_k.jitos.append(timed(kernel_snapshot))
            elif side == "cli":
                change(sws.workspace_path(repo, cli_id), changed, r)
                snap_c.jitos.append(timed(lambda: run_cli([*jitos, "sws", "snapshot", cli_id, "--json"], root)))
            else:
                change(git_wt, changed, r)
                git_snap.append(timed(git_commit))
                assert len(git(git_wt, "show", "--name-only", "--format=", "HEAD").split()) == 10
    snap_k.git = snap_c.git = git_snap

    # -- verify on ~1,000 events ----------------------------------------------
    def note(ledger: state.Ledger, i: int) -> None:
        ledger.record("note", f"sws {kernel_id}: bench note {i}", data={"i": i, "text": "a small note"},
                      links={"sws": kernel_id})

    with state.ledger(repo) as ledger:
        for i in range(VERIFY_EVENTS - ledger.state.seq):
            note(ledger, i)
    log(f"[{n} files] verify x{repeat} on {VERIFY_EVENTS} events")
    ver = Row(f"verify {VERIFY_EVENTS:,} events", unit="event")

    def jitos_verify() -> None:
        result = verify.verify(repo)
        assert result.ok and result.events == VERIFY_EVENTS, result

    def git_read_history() -> None:
        lister = subprocess.Popen(["git", "rev-list", "--objects", "--no-object-names", history.HISTORY_REF],
                                  cwd=root, stdout=subprocess.PIPE)
        subprocess.run(["git", "cat-file", "--batch"], cwd=root, stdin=lister.stdout,
                       stdout=subprocess.DEVNULL, check=True)
        assert lister.stdout is not None
        lister.stdout.close()
        if lister.wait() != 0:
            raise RuntimeError("git rev-list failed")

    for r in range(repeat):
        for side in rotate(["jitos", "git"], r):
            if side == "jitos":
                ver.jitos.append(timed(jitos_verify) / VERIFY_EVENTS)
            else:
                ver.git.append(timed(git_read_history) / VERIFY_EVENTS)

    # -- append ---------------------------------------------------------------
    log(f"[{n} files] append x{repeat}")
    git_loop: list[float] = []
    floor: list[float] = []
    sessions = Row("append, a ledger session per event", unit="event")
    batch = Row("append, one ledger session", unit="event")
    pygit2_floor = Row("append, one ledger session, vs the pygit2 floor", unit="event")
    counter = [0]

    def one_per_session(k: int) -> None:
        for _ in range(k):
            with state.ledger(repo) as ledger:
                counter[0] += 1
                note(ledger, counter[0])

    def all_in_one_session(k: int) -> None:
        with state.ledger(repo) as ledger:
            for _ in range(k):
                counter[0] += 1
                note(ledger, counter[0])

    tree = git(root, "rev-parse", f"{history.HISTORY_REF}^{{tree}}").strip()
    git(root, "update-ref", "refs/bench/chain", commit)

    def git_chain(k: int) -> None:
        parent = git(root, "rev-parse", "refs/bench/chain").strip()
        for i in range(k):
            new = git(root, "commit-tree", tree, "-p", parent, "-m", f"bench note {i}").strip()
            git(root, "update-ref", "-m", "bench note", "refs/bench/chain", new, parent)
            parent = new

    def raw_pygit2(k: int) -> None:
        import pygit2

        from kernel.base import canonical

        g = repo.git
        parent = g.references["refs/bench/raw"].target if "refs/bench/raw" in g.references else None
        sig = pygit2.Signature("jitos", "jitos@localhost", EPOCH, 0)
        for i in range(k):
            blob = g.create_blob(canonical.dumps({"i": i, "kind": "note", "text": "a small note"}))
            builder = g.TreeBuilder()
            builder.insert("event.json", blob, pygit2.enums.FileMode.BLOB)
            oid = g.create_commit(None, sig, sig, f"bench note {i}\n", builder.write(), [parent] if parent else [])
            g.references.create("refs/bench/raw", oid, force=True)
            parent = oid

    seqs: list[int] = []
    for r in range(repeat):
        for side in rotate(["sessions", "git"], r):
            if side == "sessions":
                seqs.append(state.load(repo).seq)
                sessions.jitos.append(timed(lambda: one_per_session(NOTES_PER_SESSION_RUN)) / NOTES_PER_SESSION_RUN)
            else:
                git_loop.append(timed(lambda: git_chain(GIT_LOOP_RUN)) / GIT_LOOP_RUN)
    sessions.note = f"history of {min(seqs):,}–{max(seqs) + NOTES_PER_SESSION_RUN:,} events"
    for r in range(repeat):
        for side in rotate(["batch", "floor"], r):
            if side == "batch":
                batch.jitos.append(timed(lambda: all_in_one_session(NOTES_PER_BATCH_RUN)) / NOTES_PER_BATCH_RUN)
            else:
                floor.append(timed(lambda: raw_pygit2(NOTES_PER_BATCH_RUN)) / NOTES_PER_BATCH_RUN)
    sessions.git = batch.git = git_loop
    pygit2_floor.jitos, pygit2_floor.git = batch.jitos, floor

    # How the per-session cost grows with history: folding all of it, cold (as a
    # command with no saved chain or fold would: every event read from git).
    length = state.load(repo).seq

    def cold_fold() -> None:
        from kernel.record import folds

        cache = repo.jitos_dir / "cache"
        for saved in [*cache.glob("fold-*.json"), cache / "events.jsonl"]:
            saved.unlink(missing_ok=True)
        folds._memo.clear()
        history._seen.clear()
        history._saved_cache.clear()
        state.load(repo)

    fold_s = statistics.median(timed(cold_fold) for _ in range(3))
    extra["fold"] = (length, fold_s)
    return [create_k, create_c, snap_k, snap_c, sessions, batch, pygit2_floor, ver], extra


# ---------------------------------------------------------------------------
# report


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_cell(values: list[float], unit: str) -> str:
    med = statistics.median(values)
    if unit == "event":
        spread = f" [{1 / max(values):,.0f}–{1 / min(values):,.0f}]" if len(values) > 1 else ""
        return f"{1 / med:,.0f} ev/s{spread} ({fmt_time(med)})"
    spread = f" [{fmt_time(min(values))}–{fmt_time(max(values))}]" if len(values) > 1 else ""
    return fmt_time(med) + spread


LEGEND = """\
What each row runs (jitos side / git side, both on the same generated repository):

- create: `kernel.workspace.sws.new(repo)` in process, or `jitos sws new --json` as a command /
  `git worktree add --detach DIR COMMIT`.
- snapshot 10 files: the same 10 files appended to in a workspace, then
  `kernel.workspace.sws.snapshot(repo, id)` in process, or `jitos sws snapshot ID --json` /
  `git add -A` + `git commit` in a worktree with the same 10 changes.
- append, a ledger session per event: `with kernel.record.state.ledger(repo) as l: l.record("note", …)`
  once per event (each takes the lock and folds what was recorded since its last fold) /
  `git commit-tree` + `git update-ref NEW OLD` per event (two git processes per event, so this
  ratio flatters jitos: `bench/commands_bench.py` compares the same append against pygit2).
- append, one ledger session: many `l.record("note", …)` in one session / the same git loop.
- append, one ledger session, vs the pygit2 floor: the same jitos figure / pygit2 writing the
  same three objects (blob, tree, commit) and setting a ref, with no lock, journal or reflog.
- verify: `kernel.verify.verify(repo)` on a history of 1,000 events /
  `git rev-list --objects refs/jitos/history | git cat-file --batch` (reading the same objects).

Times are per operation; appends and verify are in events per second (time per event in
brackets after the range). jitos ÷ git is a ratio of times: below 1, jitos is faster.
"""


def table(results: dict[int, tuple[list[Row], dict[str, Any]]]) -> str:
    lines = [
        "| measure | files | jitos: median [range] | git: median [range] | jitos ÷ git |",
        "|---|---:|---:|---:|---:|",
    ]
    order = [row.what for row in next(iter(results.values()))[0]]
    for what in order:
        for n, (rows, _) in results.items():
            row = next(r for r in rows if r.what == what)
            # Each repeat ran both sides back to back: the median of per-repeat
            # ratios is robust to the disk's speed drifting during the run.
            ratio = statistics.median(j / g for j, g in zip(row.jitos, row.git, strict=True))
            label = row.what + (f" ({row.note})" if row.note else "")
            lines.append(f"| {label} | {n:,} | {fmt_cell(row.jitos, row.unit)} | "
                         f"{fmt_cell(row.git, row.unit)} | {ratio:.2f}× |")
    return "\n".join(lines)


def report(results: dict[int, tuple[list[Row], dict[str, Any]]], meta: dict[str, str]) -> str:
    out = [table(results), "", LEGEND]
    out += [f"- {key}: {value}" for key, value in meta.items()]
    for n, (_, extra) in results.items():
        length, fold_s = extra["fold"]
        out.append(f"- {n:,} files: generated in {extra['generate_s']:.1f} s, disk settled in "
                   f"{extra['settle_s']:.1f} s; folding a history of {length:,} events "
                   f"(`state.load`, cold: no saved chain or fold) takes {fmt_time(fold_s)} ({length / fold_s:,.0f} events/s)")
    return "\n".join(out) + "\n"


def parse_common(description: str, argv: list[str] | None) -> tuple[argparse.Namespace, list[int]]:
    """The options every repository benchmark takes, and the sizes asked for."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default="1000,10000,50000", help="comma-separated file counts")
    parser.add_argument("--repeat", type=int, default=5, help="repeats per measurement (median reported)")
    parser.add_argument("--repeat-large", type=int, default=3,
                        help="repeats for sizes of 50,000 files or more (at most --repeat)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where to create the temporary repositories (its filesystem is reported)")
    args = parser.parse_args(argv)
    return args, [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]


def run_meta(script: str, argv: list[str] | None, base: Path) -> dict[str, str]:
    """What every report says about the run: command, date, machine, filesystem."""
    import pygit2

    git_version = subprocess.run(["git", "--version"], check=False, capture_output=True, text=True).stdout.strip()
    return {
        "command": f"python bench/{script} " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} vCPU, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}, {git_version}, "
                   f"pygit2 {pygit2.__version__} / libgit2 {pygit2.LIBGIT2_VERSION}",
        "filesystem": filesystem(base),
    }


def each_size(sizes: list[int], args: argparse.Namespace, measure: Any) -> list[Any]:
    """`measure(n, repeat)` for every size, fewer repeats for the large ones."""
    results = []
    for n in sizes:
        repeat = min(args.repeat, args.repeat_large) if n >= 50_000 else args.repeat
        started = time.perf_counter()
        results.append(measure(n, max(1, repeat)))
        log(f"[{n} files] done in {time.perf_counter() - started:.0f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    args, sizes = parse_common(__doc__.split("\n\n")[0], argv)

    base = Path(tempfile.mkdtemp(prefix="jitos-kernel-bench-", dir=args.dir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up when stopped, too
    # Workspaces here are git worktrees, edited in place; the overlay backend's
    # figures come from bench/overlay_bench.py and bench/commands_bench.py.
    os.environ["JITOS_SWS_BACKEND"] = "worktree"
    try:
        seal(base / "home")
        meta = {**run_meta("kernel_bench.py", argv, base), "jitos": source_version()}
        load_before = os.getloadavg()[0]
        measured = each_size(sizes, args, lambda n, repeat: bench_size(base, n, repeat))
        results: dict[int, tuple[list[Row], dict[str, Any]]] = dict(zip(sizes, measured, strict=True))
        meta["load average (1 min) before / after"] = f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
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
