"""What the guard around a process step costs, against `git status` on the same repository.

    python bench/guard_bench.py [--files 10000] [--others 3] [--repeat 5] [--dir DIR]

On a generated repository (`--files` files in folders of 100, one commit) with
`jitos init` and 1 + `--others` workspaces, for each backend: `guard.take` then
`guard.check` for a step of the first workspace (in-process; the overlay
backend scans no other workspace, the worktree backend scans each before and
after), beside a whole `git status --porcelain` in the checkout. Sides in
turn, one warm-up, minimum of `--repeat`. Byte-compile first
(`python -m compileall -q kernel`), as an installed package would be.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def generate(root: Path, files: int) -> None:
    git(root, "init", "-q", "-b", "main")
    for i in range(files):
        folder = root / f"d{i // 100}"
        folder.mkdir(exist_ok=True)
        (folder / f"f{i}.txt").write_text(f"{i}\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "generated")


def measure(backend: str, files: int, others: int, repeat: int, where: str) -> tuple[float, float]:
    from kernel.base.repo import open_repo
    from kernel.record.initialise import init
    from kernel.tasks import guard
    from kernel.workspace import sws

    root = Path(tempfile.mkdtemp(prefix=f"guard-{backend}-", dir=where))
    generate(root, files)
    os.chdir(root)
    os.environ["JITOS_SWS_BACKEND"] = backend
    init(open_repo(root))
    own = sws.new(open_repo(root))
    for _ in range(others):
        sws.new(open_repo(root))
    repo = open_repo(root)
    jitos_times, git_times = [], []
    for i in range(repeat + 1):  # the first round warms up
        began = time.perf_counter()
        guard.check(repo, guard.take(repo, own.id), "t1", "bench")
        took = time.perf_counter() - began
        began = time.perf_counter()
        git(root, "status", "--porcelain")
        if i:
            jitos_times.append(took)
            git_times.append(time.perf_counter() - began)
    return min(jitos_times), min(git_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--others", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    print(f"| backend | guard take + check | git status | ratio |  ({args.files} files, {args.others} other workspaces)")
    print("|---|---|---|---|")
    for backend in ("overlay", "worktree"):
        ours, theirs = measure(backend, args.files, args.others, args.repeat, args.dir)
        print(f"| {backend} | {ours * 1000:.0f} ms | {theirs * 1000:.0f} ms | {ours / theirs:.1f}× |")


if __name__ == "__main__":
    main()
