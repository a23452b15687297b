"""What carrying store objects in git costs an event (`kernel.record.carry`).

    python bench/carry.py [--events N] [--repeat N] [--dir DIR]

In a fresh repository (`jitos init`), appends events through
`kernel.record.state.ledger` that each name new store objects, as a step's
result or a snapshot does, and times them two ways, in turn:

  carried   as jitos records now: the objects go into the event's own commit
            tree as blobs named by their digest (event format 2);
  before    the same appends with carrying switched off (nothing named,
            nothing filed): what an append cost before objects were carried.

Two kinds of event: `log` names one new 1 KB object (a step's output);
`snapshot` names a new overlay manifest listing 10 new file contents (11
objects, the 10 contents already in git as a snapshot's blobs). Each kind is measured in one ledger session for all events and one
session per event (lock + fold + append). Writing the store objects
themselves (`store.put`, just before each event, as a command does) is outside
the timed part on both sides: it is the same either way. Reports the median time per event and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fresh(base: Path, name: str) -> Any:
    from kernel.base.repo import open_repo
    from kernel.record.initialise import init

    path = base / name
    path.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "root"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    repo = open_repo(path)
    init(repo)
    return repo


def payload(repo: Any, kind: str, salt: str) -> dict[str, str]:
    """Event data naming new store objects, written just before the event
    records them as a command does (untimed)."""
    from kernel.base import canonical

    if kind == "log":
        return {"log": repo.store.put(f"{salt} ".encode() * 64)}
    texts = [f"{salt} {j}\n".encode() * 40 for j in range(10)]  # in git already, as a snapshot's blobs
    entries = {f"src/f{j}.py": {"digest": repo.store.put(text), "mode": 0o100644,
                                "blob": str(repo.git.create_blob(text))} for j, text in enumerate(texts)}
    return {"overlay": repo.store.put(canonical.dumps({"base": "0" * 40, "entries": entries}))}


def append(repo: Any, kind: str, count: int, salt: str, per_event: bool) -> float:
    """The mean time of one append; the store writes before each are not timed."""
    from kernel.record import state

    spent = 0.0
    if per_event:
        for i in range(count):
            item = payload(repo, kind, f"{salt} {i}")
            start = time.perf_counter()
            with state.ledger(repo) as ledger:
                ledger.record("note", "bench", data=item)
            spent += time.perf_counter() - start
    else:
        with state.ledger(repo) as ledger:
            for i in range(count):
                item = payload(repo, kind, f"{salt} {i}")
                start = time.perf_counter()
                ledger.record("note", "bench", data=item)
                spent += time.perf_counter() - start
    return spent / count


def carrying(on: bool) -> Callable[[], None]:
    """Switch carrying off (nothing named, nothing filed): the append as it was before."""
    from kernel.record.state import Ledger

    wanted = Ledger._to_carry
    if not on:
        Ledger._to_carry = lambda self, data, links: {}  # type: ignore[method-assign]

    def restore() -> None:
        Ledger._to_carry = wanted  # type: ignore[method-assign]
    return restore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="jitos-carry-bench-", dir=args.dir))
    os.environ.setdefault("HOME", str(base))
    repos = {side: fresh(base, side) for side in ("carried", "before")}
    rows = []
    for kind in ("log", "snapshot"):
        for per_event in (False, True):
            count = args.events // (5 if per_event else 1)
            times: dict[str, list[float]] = {"carried": [], "before": []}
            for r in range(args.repeat + 1):  # the first round warms up
                for side in (["carried", "before"] if r % 2 == 0 else ["before", "carried"]):
                    restore = carrying(side == "carried")
                    try:
                        os.sync()
                        spent = append(repos[side], kind, count, f"{kind}-{per_event}-{r}-{side}", per_event)
                    finally:
                        restore()
                    if r:
                        times[side].append(spent)
            c, b = statistics.median(times["carried"]), statistics.median(times["before"])
            label = f"{kind} ({'11 objects' if kind == 'snapshot' else '1 object'}), " + \
                    ("a ledger session per event" if per_event else "one ledger session")
            rows.append(f"| {label} | {c * 1e3:.2f} ms | {b * 1e3:.2f} ms | {c / b:.2f}× |")
    print("| event | carried | before | carried ÷ before |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\n{args.events} events per run (a fifth of that with a session each), {args.repeat} runs after a "
          f"warm-up, sides in turn; {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
