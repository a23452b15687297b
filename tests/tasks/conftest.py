"""Repositories with a real bug, a real test command and a scripted agent."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BUGGY = "def slug(title):\n    return '-'.join(title.split())\n"
TESTS = (
    "import unittest\nfrom slugify import slug\n\n"
    "class T(unittest.TestCase):\n"
    "    def test_lower(self):\n        self.assertEqual(slug('Hello World'), 'hello-world')\n"
)
FIXING_AGENT = (
    "import pathlib, sys\n"
    "if sys.argv[-1].startswith('Fix'):\n"
    "    p = pathlib.Path('slugify.py')\n"
    "    p.write_text(p.read_text().replace(\"title.split()\", \"title.lower().split()\"))\n"
    "print('agent saw:', sys.argv[-1])\n"
)


def config(agent: list[str] | None = None, extra: str = "") -> str:
    gate = f'[gate]\ncommand = ["{sys.executable}", "-m", "unittest", "-q"]\n'
    agent_cmd = agent if agent is not None else [sys.executable, "agent.py"]
    agent_toml = "[workers.agent]\ncommand = [" + ", ".join(f'"{a}"' for a in agent_cmd) + "]\n"
    return gate + agent_toml + extra


@pytest.fixture
def buggy_repo(make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A repository whose tests fail, with jitos initialised; its cwd."""

    def make(agent_source: str = FIXING_AGENT, agent: list[str] | None = None, extra: str = "",
             name: str = "buggy", methods: dict[str, str] | None = None) -> Path:
        files = {"slugify.py": BUGGY, "test_slugify.py": TESTS, "agent.py": agent_source,
                 ".gitignore": "__pycache__/\n", ".jitos/config.toml": config(agent, extra)}
        for rel, text in (methods or {}).items():
            files[f".jitos/methods/{rel}"] = text
        path = make_repo(files=files, name=name)
        monkeypatch.chdir(path)
        from kernel.base.repo import open_repo
        from kernel.record.initialise import init

        init(open_repo(path))
        return path

    return make


