"""Same method files + intent + facts ⇒ byte-identical JSON plans, whatever
Python's hash seed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.planner.helpers import DOMAINS, blocks_problem

CONFIG = """
[gate]
command = ["make", "check"]
[workers.agent]
command = ["agent", "--yes"]
"""


def _run(args: list[str], cwd: Path, seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(["jitos", *args], cwd=cwd, env=env, capture_output=True, check=True)
    return done.stdout


def test_shipped_intent_plans_are_byte_identical_across_hash_seeds(repo: Path) -> None:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text(CONFIG)
    args = ["plan", "--format", "json", "--all", "upgrade", "requests"]
    assert _run(args, repo, "1") == _run(args, repo, "2")


def test_blocks_world_candidates_are_byte_identical_across_hash_seeds(repo: Path) -> None:
    facts, goal = blocks_problem(15, seed=3)
    lines = ",\n".join(f'  {list(f)!r}'.replace("'", '"') for f in facts + goal)
    (repo / "facts.toml").write_text(f"facts = [\n{lines}\n]\n")
    args = ["plan", "--format", "json", "--max", "3", "--methods", str(DOMAINS / "blocks.toml"),
            "--facts", "facts.toml", "--task", "solve"]
    first = _run(args, repo, "0")
    assert first == _run(args, repo, "12345")
    assert b'"candidates"' in first
