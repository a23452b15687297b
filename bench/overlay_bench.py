"""Overlay workspaces against git on the same generated repositories, in one run.

    python bench/overlay_bench.py [--sizes 1000,10000,50000] [--repeat N] [--repeat-large N]
                                  [--many N] [--out FILE] [--dir DIR]

Per size, on a generated repository (see kernel_bench.py) with `jitos init` and
`[sws] backend = "overlay"`, sides interleaved in a rotating order, whole commands:

  create      `jitos sws new --json` (the shared base of the tree already built by a
              first workspace) vs `git worktree add --detach`
  snapshot    10 changed files in the workspace: `jitos sws snapshot ID --json` vs
              `git status --porcelain` + `git add -A` + `git commit` in a worktree
  git status  `git status --porcelain` inside the workspace's view (`jitos sws run`'s
              launcher) vs the same in a plain worktree
  git status, again in the same view
              the second `git status --porcelain` of one view (timed inside it, with
              `date +%s%N`), as a gate, a shell or an agent step runs many: a new view
              starts with OverlayFS's lookups cold; vs the same in a plain worktree
  read all    every file read (`git ls-files -z | xargs -0 cat`), the I/O a test suite
              does, inside the view vs in a plain worktree

and once, at the largest size: `--many` workspaces made one after another (time and
disk), the disk one new workspace takes, and the first workspace on a tree (which
builds the shared base). Edits to an overlay workspace are written into its upper
layer, exactly where an editor inside a view writes them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kernel_bench import (
    Row,
    each_size,
    fmt_time,
    git,
    jitos_argv,
    log,
    make_repo,
    parse_common,
    rotate,
    run_cli,
    run_meta,
    seal,
    settle,
    source_version,
    table,
    timed,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def disk_usage(*paths: Path, shared: Path | None = None) -> int:
    """Bytes of disk blocks under `paths` (what `du` counts), each inode once,
    leaving out inodes that also live under `shared` (a workspace's index is a
    link to its base's until git rewrites it)."""
    def inodes(root: Path) -> dict[tuple[int, int], int]:
        found: dict[tuple[int, int], int] = {}
        for dirpath, dirs, files in os.walk(root):
            for name in dirs + files:
                try:
                    info = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                found[(info.st_dev, info.st_ino)] = info.st_blocks * 512
        return found

    seen: dict[tuple[int, int], int] = {}
    for path in paths:
        seen.update(inodes(path))
    excluded = inodes(shared) if shared is not None else {}
    return sum(size for key, size in seen.items() if key not in excluded)


def in_view(repo: Path, sid: str, argv: list[str]) -> list[str]:
    from kernel.base.repo import open_repo
    from kernel.workspace.backend import for_path

    r = open_repo(repo)
    path = r.workspaces_dir / sid
    return for_path(r, path).command(r, path, argv, network=True)


def edit_upper(r: Any, sid: str, plain: Path, changed: list[str], rep: int) -> None:
    """Append to `changed` files in the workspace, in its upper layer, where a view writes them."""
    from kernel.workspace import overlayfs

    upper = overlayfs.layer(r, r.workspaces_dir / sid) / "upper"
    for rel in changed:
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        (upper / rel).write_bytes((plain / rel).read_bytes() + f"edit {rep}\n".encode())


def bench_size(base: Path, n: int, repeat: int, many: int | None) -> tuple[list[Row], dict[str, Any]]:
    from kernel.base.repo import open_repo
    from kernel.workspace import overlayfs, sws

    work = base / f"n{n}"
    repo = work / "repo"
    log(f"[{n} files] generating repository")
    _, paths = make_repo(repo, n)
    (repo / ".git" / "jitos").mkdir(parents=True)
    (repo / ".git" / "jitos" / "config.toml").write_text('[sws]\nbackend = "overlay"\n')
    jitos = jitos_argv()
    run_cli([*jitos, "init"], repo)
    extra: dict[str, Any] = {"settle_s": settle()}
    os.environ["JITOS_SWS_BACKEND"] = "overlay"  # for the in-process rows
    started = time.perf_counter()
    first = json.loads(run_cli([*jitos, "sws", "new", "--json"], repo))["id"]
    extra["first_s"] = time.perf_counter() - started
    r = open_repo(repo)
    layers = overlayfs.layer(r, r.workspaces_dir / first)
    extra["one_disk"] = disk_usage(layers, overlayfs.admin(r, r.workspaces_dir / first), shared=r.jitos_dir / "bases")
    rows = {k: Row(k) for k in ("create", "create (in process)", "snapshot 10 files", "snapshot 10 files (in process)",
                                "git status", "git status, again in the same view", "read all files")}
    plain = work / "plain"
    git(repo, "worktree", "add", "-q", "--detach", str(plain), "main")
    changed = paths[:: max(1, len(paths) // 10)][:10]
    read_all = ["sh", "-c", "git ls-files -z | xargs -0 cat > /dev/null"]
    again = ["sh", "-c", ("git status --porcelain >/dev/null; s=$(date +%s%N); git status --porcelain >/dev/null; "
                          "e=$(date +%s%N); echo $((e - s))")]

    def ns_printed(argv: list[str], cwd: Path) -> float:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
        return int(done.stdout.strip().splitlines()[-1]) / 1e9
    def jitos_side(rep: int) -> None:
        made: dict[str, str] = {}
        rows["create"].jitos.append(timed(lambda: made.update(
            json.loads(run_cli([*jitos, "sws", "new", "--json"], repo)))))
        edit_upper(r, made["id"], plain, changed, rep)
        rows["snapshot 10 files"].jitos.append(timed(lambda: run_cli(
            [*jitos, "sws", "snapshot", made["id"], "--json"], repo)))
        inproc: list[Any] = []
        rows["create (in process)"].jitos.append(timed(lambda: inproc.append(sws.new(open_repo(repo)))))
        edit_upper(r, inproc[0].id, plain, changed, rep)
        rows["snapshot 10 files (in process)"].jitos.append(timed(lambda: sws.snapshot(open_repo(repo),
                                                                                        inproc[0].id)))
        view_status = in_view(repo, made["id"], ["git", "status", "--porcelain"])
        rows["git status"].jitos.append(timed(lambda: run_cli(view_status, repo)))
        rows["git status, again in the same view"].jitos.append(ns_printed(in_view(repo, made["id"], again), repo))
        view_read = in_view(repo, made["id"], read_all)
        rows["read all files"].jitos.append(timed(lambda: run_cli(view_read, repo)))

    def git_side(rep: int) -> None:
        target = work / f"wt{rep}"
        rows["create"].git.append(timed(lambda: git(repo, "worktree", "add", "-q", "--detach", str(target), "main")))
        rows["create (in process)"].git.append(rows["create"].git[-1])
        for rel in changed:
            with open(target / rel, "a", encoding="utf-8") as handle:
                handle.write(f"edit {rep}\n")
        rows["snapshot 10 files"].git.append(timed(lambda: (
            git(target, "status", "--porcelain"), git(target, "add", "-A"), git(target, "commit", "-qm", "edit"))))
        rows["snapshot 10 files (in process)"].git.append(rows["snapshot 10 files"].git[-1])
        rows["git status"].git.append(timed(lambda: git(target, "status", "--porcelain")))
        rows["git status, again in the same view"].git.append(ns_printed(again, target))
        rows["read all files"].git.append(timed(lambda: run_cli(read_all, target)))

    for rep in range(repeat):
        for side in rotate(["jitos", "git"], rep):
            (jitos_side if side == "jitos" else git_side)(rep)
    if many:
        log(f"[{n} files] {many} workspaces")
        for label, make in (("commands", lambda: run_cli([*jitos, "sws", "new", "--json"], repo)),
                            ("in process", lambda: sws.new(open_repo(repo)))):
            before = disk_usage(r.jitos_dir / "layers", r.common_dir / "worktrees", shared=r.jitos_dir / "bases")
            started = time.perf_counter()
            for _ in range(many):
                make()
            extra[f"many {label}"] = (many, time.perf_counter() - started,
                                      disk_usage(r.jitos_dir / "layers", r.common_dir / "worktrees",
                                                 shared=r.jitos_dir / "bases") - before)
    extra["base_disk"] = disk_usage(r.jitos_dir / "bases")
    return list(rows.values()), extra


def main(argv: list[str] | None = None) -> int:
    parser_args, sizes = parse_common(__doc__.split("\n\n")[0], argv)
    many = int(os.environ.get("JITOS_BENCH_MANY", "100"))
    base = Path(tempfile.mkdtemp(prefix="jitos-overlay-bench-", dir=parser_args.dir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        seal(base / "home")
        meta = {**run_meta("overlay_bench.py", argv, base), "jitos": source_version()}
        largest = max(sizes)
        measured = each_size(sizes, parser_args,
                             lambda n, repeat: bench_size(base, n, repeat, many if n == largest else None))
        results = dict(zip(sizes, measured, strict=True))
        lines = [table(results), ""]
        for n, (_, extra) in results.items():
            lines.append(f"- {n:,} files: first workspace on the tree (builds the shared base) "
                         f"{fmt_time(extra['first_s'])}; a new workspace takes {extra['one_disk'] / 1e3:.0f} kB; "
                         f"the shared base takes {extra['base_disk'] / 1e6:.0f} MB")
            for label in ("commands", "in process"):
                if f"many {label}" in extra:
                    count, seconds, used = extra[f"many {label}"]
                    lines.append(f"- {n:,} files: {count} more workspaces ({label}) in {seconds:.1f} s, "
                                 f"{used / 1e6:.1f} MB in total")
        lines += [f"- {key}: {value}" for key, value in meta.items()]
        text = "\n".join(lines) + "\n"
        print(text)
        if parser_args.out:
            parser_args.out.write_text(text, encoding="utf-8")
    finally:
        log("removing the temporary repositories")
        subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
