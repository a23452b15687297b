"""Planning benchmark: jitos against GTPyhop on the same problems, in one run.

    python bench/planning.py [--repeat N] [--only blocks|hanoi]

Problems: blocks world with 10 / 50 / 100 blocks (seeded random initial and goal
configurations) and towers of Hanoi with 8 / 12 discs. jitos plans from the HDDL
domains in `tests/planner/hddl/`, imported into method files as
`jitos methods import-hddl` does and loaded as `jitos plan` loads them; GTPyhop plans with a domain written here that decomposes tasks
method-for-method the same way. Both plans are checked: jitos's with the plan
validator (its last step requires the problem's goal), GTPyhop's by replaying
its actions and checking the goal configuration. Times are the median wall time of
the planning call only (domain loading and import excluded for both).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GTPYHOP_QUIET", "true")
sys.setrecursionlimit(100_000)
# Run as a script, this directory comes first on sys.path, where other benchmarks'
# modules could shadow the `kernel` package; plan against the repository's.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import gtpyhop
import gtpyhop.main as gtpyhop_main

ROOT = _HERE.parent
HDDL = ROOT / "tests" / "planner" / "hddl"

Towers = list[list[str]]  # each tower bottom → top

# ---------------------------------------------------------------------------
# problem generators


def random_towers(blocks: Sequence[str], rng: random.Random) -> Towers:
    """Stack `blocks` into random towers (each block starts a new tower with p=0.3)."""
    order = list(blocks)
    rng.shuffle(order)
    towers: Towers = []
    for b in order:
        if not towers or rng.random() < 0.3:
            towers.append([b])
        else:
            towers[-1].append(b)
    return towers


@dataclass(frozen=True)
class BlocksProblem:
    n: int
    initial: Towers
    goal: Towers


def blocks_problem(n: int, seed: int = 0) -> BlocksProblem:
    rng = random.Random(f"blocks-{n}-{seed}")
    names = [f"b{i}" for i in range(1, n + 1)]
    return BlocksProblem(n, random_towers(names, rng), random_towers(names, rng))


def blocks_facts(towers: Towers) -> list[str]:
    facts = ["(handempty)"]
    for tower in towers:
        facts.append(f"(ontable {tower[0]})")
        facts.extend(f"(on {top} {below})" for below, top in itertools.pairwise(tower))
        facts.append(f"(clear {tower[-1]})")
    return facts


def blocks_htn(goal: Towers) -> list[tuple[str, ...]]:
    """The ordered tasks that build each goal tower bottom-up."""
    tasks: list[tuple[str, ...]] = []
    for tower in goal:
        tasks.append(("place-on-table", tower[0]))
        tasks.extend(("place-on", top, below) for below, top in itertools.pairwise(tower))
    return tasks


def blocks_hddl(p: BlocksProblem) -> str:
    names = sorted({b for t in p.initial for b in t}, key=lambda b: int(b[1:]))
    subtasks = "\n".join(
        f"      (t{i} ({' '.join(t)}))" for i, t in enumerate(blocks_htn(p.goal))
    )
    goal = " ".join(
        f"(on {top} {below})" for t in p.goal for below, top in itertools.pairwise(t)
    ) + " " + " ".join(f"(ontable {t[0]})" for t in p.goal)
    return (
        f"(define (problem blocks-{p.n})\n  (:domain blocks)\n"
        f"  (:objects {' '.join(names)} - block)\n"
        f"  (:htn :ordered-subtasks (and\n{subtasks}))\n"
        f"  (:init {' '.join(blocks_facts(p.initial))})\n"
        f"  (:goal (and {goal})))\n"
    )


def hanoi_hddl(n: int) -> str:
    discs = [f"d{i}" for i in range(1, n + 1)]
    pegs = ["p1", "p2", "p3"]
    facts = [f"(on d{n} p1)"] + [f"(on d{i} d{i + 1})" for i in range(1, n)]
    facts += ["(top d1 p1)", "(top p2 p2)", "(top p3 p3)", "(smallest d1)"]
    facts += [f"(next-smaller d{i + 1} d{i})" for i in range(1, n)]
    facts += [f"(smaller d{i} d{j})" for i in range(1, n + 1) for j in range(i + 1, n + 1)]
    facts += [f"(smaller {d} {p})" for d in discs for p in pegs]
    goal = [f"(on d{n} p3)"] + [f"(on d{i} d{i + 1})" for i in range(1, n)]
    return (
        f"(define (problem hanoi-{n})\n  (:domain hanoi)\n"
        f"  (:objects {' '.join(discs)} - disc {' '.join(pegs)} - peg)\n"
        f"  (:htn :ordered-subtasks (hanoi d{n} p1 p3 p2))\n"
        f"  (:init {' '.join(facts)})\n"
        f"  (:goal (and {' '.join(goal)})))\n"
    )


# ---------------------------------------------------------------------------
# GTPyhop: the same decompositions, written the way GTPyhop domains are written


def _clear(s: Any, x: str) -> bool:
    return bool(s.above[x] is None and s.holding != x)


def pick_up(s: Any, x: str) -> Any:
    if s.pos[x] == "table" and _clear(s, x) and s.holding is None:
        s.pos[x] = "hand"
        s.holding = x
        return s
    return False


def put_down(s: Any, x: str) -> Any:
    if s.holding == x:
        s.pos[x] = "table"
        s.holding = None
        return s
    return False


def stack(s: Any, x: str, y: str) -> Any:
    if s.holding == x and _clear(s, y):
        s.pos[x] = y
        s.above[y] = x
        s.holding = None
        return s
    return False


def unstack(s: Any, x: str, y: str) -> Any:
    if s.pos[x] == y and _clear(s, x) and s.holding is None:
        s.pos[x] = "hand"
        s.above[y] = None
        s.holding = x
        return s
    return False


def already_on(s: Any, x: str, y: str) -> Any:
    return [] if s.pos[x] == y else False


def clear_both_and_move(s: Any, x: str, y: str) -> Any:
    return [("make-clear", y), ("make-clear", x), ("move", x, y)] if s.pos[x] != y else False


def already_on_table(s: Any, x: str) -> Any:
    return [] if s.pos[x] == "table" else False


def unstack_to_table(s: Any, x: str) -> Any:
    z = s.pos[x]
    if z in ("table", "hand"):
        return False
    return [("make-clear", x), ("unstack", x, z), ("put-down", x)]


def already_clear(s: Any, x: str) -> Any:
    return [] if _clear(s, x) else False


def clear_above(s: Any, x: str) -> Any:
    y = s.above[x]
    return False if y is None else [("make-clear", y), ("unstack", y, x), ("put-down", y)]


def move_from_table(s: Any, x: str, y: str) -> Any:
    return [("pick-up", x), ("stack", x, y)] if s.pos[x] == "table" else False


def move_from_block(s: Any, x: str, y: str) -> Any:
    z = s.pos[x]
    return False if z in ("table", "hand") else [("unstack", x, z), ("stack", x, y)]


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    fn.__name__ = name
    return fn


def gtpyhop_blocks_domain() -> Any:
    domain = gtpyhop.Domain("bench-blocks")
    gtpyhop.declare_actions(
        _named(pick_up, "pick-up"), _named(put_down, "put-down"), stack, unstack
    )
    gtpyhop.declare_task_methods("place-on", already_on, clear_both_and_move)
    gtpyhop.declare_task_methods("place-on-table", already_on_table, unstack_to_table)
    gtpyhop.declare_task_methods("make-clear", already_clear, clear_above)
    gtpyhop.declare_task_methods("move", move_from_table, move_from_block)
    return domain


def gtpyhop_blocks_state(p: BlocksProblem) -> Any:
    s = gtpyhop.State("blocks")
    s.pos, s.above, s.holding = {}, {}, None
    for tower in p.initial:
        for i, b in enumerate(tower):
            s.pos[b] = tower[i - 1] if i else "table"
            s.above[b] = tower[i + 1] if i + 1 < len(tower) else None
    return s


def blocks_goal_reached(s: Any, p: BlocksProblem) -> bool:
    return all(
        s.pos[b] == (t[i - 1] if i else "table") for t in p.goal for i, b in enumerate(t)
    )


def _disc_size(x: str) -> int:
    return int(x[1:]) if x.startswith("d") else 1_000_000


def hanoi_move(s: Any, d: str, below: str, onto: str, frm: str, to: str) -> Any:
    if (
        s.top[frm] == d and s.on[d] == below and s.top[to] == onto
        and _disc_size(d) < _disc_size(onto)
    ):
        s.top[frm], s.on[d], s.top[to] = below, onto, d
        return s
    return False


def hanoi_one(s: Any, d: str, frm: str, to: str, via: str) -> Any:
    return [("shift", d, frm, to)] if d == "d1" else False


def hanoi_many(s: Any, d: str, frm: str, to: str, via: str) -> Any:
    if d == "d1":
        return False
    e = f"d{int(d[1:]) - 1}"
    return [("hanoi", e, frm, via, to), ("shift", d, frm, to), ("hanoi", e, via, to, frm)]


def shift_disc(s: Any, d: str, frm: str, to: str) -> Any:
    return [("move", d, s.on[d], s.top[to], frm, to)]


def gtpyhop_hanoi_domain() -> Any:
    domain = gtpyhop.Domain("bench-hanoi")
    gtpyhop.declare_actions(_named(hanoi_move, "move"))
    gtpyhop.declare_task_methods("hanoi", hanoi_one, hanoi_many)
    gtpyhop.declare_task_methods("shift", shift_disc)
    return domain


def gtpyhop_hanoi_state(n: int) -> Any:
    s = gtpyhop.State("hanoi")
    s.on = {f"d{i}": (f"d{i + 1}" if i < n else "p1") for i in range(1, n + 1)}
    s.top = {"p1": "d1", "p2": "p2", "p3": "p3"}
    return s


def hanoi_goal_reached(s: Any, n: int) -> bool:
    return all(s.on[f"d{i}"] == (f"d{i + 1}" if i < n else "p3") for i in range(1, n + 1))


def gtpyhop_logging(enabled: bool) -> None:
    """GTPyhop 2 records every search step in a global structured log; switch it off
    to measure the search alone (the 'GTPyhop, no log' column)."""
    gtpyhop_main._STRUCTURED_LOGGING_AVAILABLE = enabled
    if gtpyhop_main._global_logger is not None:
        gtpyhop_main._global_logger.clear_logs()
    if not enabled:
        gtpyhop_main._global_logger = None


def gtpyhop_plan(domain: Any, state: Any, todo: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    gtpyhop.set_current_domain(domain)
    gtpyhop_main.verbose = 0
    gtpyhop.set_recursive_planning("iterative_dfs_backtracking")
    plan = gtpyhop.find_plan(state, todo)
    if plan is False or plan is None:
        raise SystemExit("GTPyhop found no plan")
    return list(plan)


def gtpyhop_expansions(domain: Any, state: Any, todo: list[tuple[str, ...]]) -> int:
    """Tasks and actions GTPyhop takes off its to-do list for this problem (its own
    expansion count, which it does not report), counted in an untimed run."""
    count = 0
    originals = {
        name: getattr(gtpyhop_main, name)
        for name in ("_apply_action_and_continue_iterative", "_refine_task_and_continue_iterative_bt")
    }

    def counting(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            nonlocal count
            count += 1
            return fn(*args)
        return wrapper

    try:
        for name, fn in originals.items():
            setattr(gtpyhop_main, name, counting(fn))
        gtpyhop_plan(domain, state, todo)
    finally:
        for name, fn in originals.items():
            setattr(gtpyhop_main, name, fn)
    return count


def gtpyhop_replay(domain: Any, state: Any, plan: list[tuple[str, ...]]) -> Any:
    """Apply each action of `plan` in turn; fail loudly on the first inapplicable one."""
    s = state.copy()
    for i, step in enumerate(plan):
        s = domain._action_dict[step[0]](s.copy(), *step[1:])
        if s is False:
            raise SystemExit(f"GTPyhop plan step {i} {step} is not applicable")
    return s


# ---------------------------------------------------------------------------
# jitos


@dataclass(frozen=True)
class Case:
    name: str
    domain_file: str
    problem_text: str
    gt_domain: Any
    gt_state: Callable[[], Any]
    gt_todo: list[tuple[str, ...]]
    gt_goal: Callable[[Any], bool]


@dataclass(frozen=True)
class Row:
    case: str
    jitos_len: int
    gt_len: int
    nodes: int
    gt_nodes: int
    jitos_s: float
    gt_s: float
    gt_log_s: float


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def run_case(case: Case, repeat: int) -> Row:
    """Import the HDDL into method files, load them as `jitos plan` would, plan
    (timed), validate; then GTPyhop on the same problem (timed), replay."""
    from kernel.planner.hddl.importer import import_hddl
    from kernel.planner.loader import load_domain, load_facts
    from kernel.planner.model import TaskCall
    from kernel.planner.search import plan
    from kernel.planner.validate import validate

    with tempfile.TemporaryDirectory() as tmp:
        problem_file = Path(tmp) / f"{case.name}.hddl"
        problem_file.write_text(case.problem_text)
        written = import_hddl(HDDL / case.domain_file, problem_file, Path(tmp) / "methods")
        assert written.facts_file is not None and written.task is not None
        domain = load_domain(written.method_files)
        facts = load_facts(written.facts_file)
    root = TaskCall(written.task)
    # The planners take turns, run by run, so that both see the same machine load.
    runs: dict[str, list[float]] = {"jitos": [], "gt": [], "gt-log": []}
    result: Any = None
    gt_plan: list[tuple[str, ...]] = []
    for _ in range(repeat):
        t, result = timed(lambda: plan(domain, root, facts))
        runs["jitos"].append(t)
        for key, logging_on in (("gt", False), ("gt-log", True)):
            gtpyhop_logging(logging_on)
            state = case.gt_state()
            t, gt_plan = timed(lambda s=state: gtpyhop_plan(case.gt_domain, s, list(case.gt_todo)))
            runs[key].append(t)
    gtpyhop_logging(True)
    if not result.plans:
        raise SystemExit(f"{case.name}: jitos found no plan: {result.failure}")
    verdict = validate(domain, facts, result.plans[0])
    if not verdict.ok:
        raise SystemExit(f"{case.name}: jitos plan invalid: {verdict.problems[:3]}")
    end = gtpyhop_replay(case.gt_domain, case.gt_state(), gt_plan)
    if not case.gt_goal(end):
        raise SystemExit(f"{case.name}: GTPyhop plan does not reach the goal")
    # jitos's plan ends with the goal check, a bookkeeping step GTPyhop has no counterpart for
    jitos_len = sum(1 for s in result.plans[0].steps if not s.name.startswith("goal-"))
    med = {k: statistics.median(v) for k, v in runs.items()}
    gt_nodes = gtpyhop_expansions(case.gt_domain, case.gt_state(), list(case.gt_todo))
    return Row(case.name, jitos_len, len(gt_plan), result.stats.nodes, gt_nodes, med["jitos"],
               med["gt"], med["gt-log"])


def cases(only: str) -> list[Case]:
    out: list[Case] = []
    if only in ("", "blocks"):
        gd = gtpyhop_blocks_domain()
        for n in (10, 50, 100):
            p = blocks_problem(n)
            out.append(Case(
                f"blocks-{n}", "blocks.hddl", blocks_hddl(p), gd,
                lambda p=p: gtpyhop_blocks_state(p), blocks_htn(p.goal),
                lambda s, p=p: blocks_goal_reached(s, p),
            ))
    if only in ("", "hanoi"):
        hd = gtpyhop_hanoi_domain()
        for n in (8, 12):
            out.append(Case(
                f"hanoi-{n}", "hanoi.hddl", hanoi_hddl(n), hd,
                lambda n=n: gtpyhop_hanoi_state(n), [("hanoi", f"d{n}", "p1", "p3", "p2")],
                lambda s, n=n: hanoi_goal_reached(s, n),
            ))
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} vCPUs, Python {sys.version.split()[0]}, "
            f"GTPyhop {gtpyhop.__version__}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per planner and problem (median)")
    ap.add_argument("--only", choices=("blocks", "hanoi"), default="")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}; median of {args.repeat} runs")
    print()
    print("| problem | plan length (jitos / GTPyhop) | nodes (jitos / GTPyhop) | jitos | GTPyhop | "
          "ratio | GTPyhop as shipped (logging) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for case in cases(args.only):
        r = run_case(case, args.repeat)
        print(
            f"| {r.case} | {r.jitos_len} / {r.gt_len} | {r.nodes} / {r.gt_nodes} | "
            f"{r.jitos_s * 1000:.1f} ms | "
            f"{r.gt_s * 1000:.1f} ms | {r.jitos_s / r.gt_s:.2f}× | {r.gt_log_s * 1000:.1f} ms | "
            f"{r.jitos_s / r.gt_log_s:.2f}× |",
            flush=True,
        )
    print()
    print("Both planners' plans were checked: jitos's by the plan validator (and its goal),")
    print("GTPyhop's by replaying its actions and checking the goal configuration.")


if __name__ == "__main__":
    main()
