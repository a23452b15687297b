"""`jitos demo`: a small real repository with a real bug, fixed end to end.

Builds the repository (a slug function that forgets to lowercase, a passing
test suite that does not notice, a scripted agent, and a `.jitos/config.toml`
naming the test command as the gate), then runs `jitos intent "fix the bug
…"` on it: the agent writes a reproducing test (red), fixes the code, the
tests pass (green), and the work collapses onto the branch. Offline; needs
only Python and git.

It builds only in a folder it was given empty (or makes its own), and never
prints: the command line shows the result.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kernel.base.repo import open_repo
from kernel.errors import EXIT_INTERNAL, EXIT_OK, BadInput
from kernel.record import history
from kernel.record.initialise import init
from kernel.tasks import intent, scheduler
from kernel.tasks import model as tasks

INTENT = "fix the bug: slug() keeps capital letters"

SLUGIFY = '''"""Turn titles into URL slugs."""

import re


def slug(title: str) -> str:
    """Words joined by dashes, in lower case: 'Hello, World!' -> 'hello-world'."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "-".join(words)
'''

TESTS = '''import unittest

from slugify import slug


class SlugTest(unittest.TestCase):
    def test_joins_words_with_dashes(self) -> None:
        self.assertEqual(slug("hello big world"), "hello-big-world")

    def test_drops_punctuation(self) -> None:
        self.assertEqual(slug("a, b; c!"), "a-b-c")
'''

AGENT = '''"""A scripted stand-in for a coding agent: it reads the instruction jitos
passes as its last argument and edits the workspace (its working folder)."""

import pathlib
import sys

instruction = sys.argv[-1]
here = pathlib.Path.cwd()
if "reproduces" in instruction:
    tests = here / "test_slugify.py"
    tests.write_text(tests.read_text() + """
    def test_lowercases_capital_letters(self) -> None:
        self.assertEqual(slug("Hello, World!"), "hello-world")
""")
    print("agent: added test_lowercases_capital_letters to test_slugify.py")
elif instruction.startswith("Fix"):
    code = here / "slugify.py"
    code.write_text(code.read_text().replace('return "-".join(words)', 'return "-".join(w.lower() for w in words)'))
    print("agent: slugify.py now lowercases each word")
else:
    print(f"agent: nothing to do for: {instruction}")
'''


@dataclass(frozen=True, slots=True)
class DemoResult:
    path: Path
    task: tasks.Task
    branch_log: tuple[str, ...]
    history_log: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """0 when the task ends done; anything else means the demo itself is broken (1)."""
        return EXIT_OK if self.task.state == tasks.DONE else EXIT_INTERNAL


def folder(where: Path | None = None) -> Path:
    """Where the demo repository goes: `where` (absolute), which must not exist
    or be an empty folder; by default a new temporary folder."""
    if where is None:
        return (Path(tempfile.mkdtemp(prefix="jitos-demo-")) / "slugify").resolve()
    root = where.resolve()
    _require_empty(root)
    return root


def _require_empty(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise BadInput(f"{root} is a file; pick a new folder for the demo")
    if root.exists() and any(root.iterdir()):
        raise BadInput(f"{root} is not empty; pick a new folder for the demo")


def build(root: Path) -> Path:
    """Create the demo repository at `root` (one commit on `main`)."""
    root.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    files = {
        "slugify.py": SLUGIFY,
        "test_slugify.py": TESTS,
        "tools/fix_agent.py": AGENT,
        ".gitignore": "__pycache__/\n",
        ".jitos/config.toml": (
            "[gate]\n"
            f"command = [{python!r}, \"-m\", \"unittest\", \"-q\"]\n\n"
            "[workers.agent]\n"
            f"command = [{python!r}, \"tools/fix_agent.py\"]\n"
        ).replace("'", '"'),
    }
    repo = pygit2.init_repository(str(root), initial_head="main")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index = repo.index
    index.add_all()
    index.write()
    sig = pygit2.Signature("Demo Author", "demo@example.com", 1700000000, 0)
    repo.create_commit("HEAD", sig, sig, "slugify: first version", index.write_tree(), [])
    return root


def _log(repo: pygit2.Repository, ref: str, trailers: bool) -> tuple[str, ...]:
    """Like `git log --format='%h %s'` (plus the Jitos trailers when asked)."""
    lines = []
    for commit in repo.walk(repo.references[ref].target):
        lines.append(f"{str(commit.id)[:12]} {commit.message.splitlines()[0]}")
        if trailers:
            lines += [f"             {line}" for line in commit.message.splitlines() if line.startswith("Jitos-")]
    return tuple(lines)


def run(root: Path, progress: scheduler.ProgressFn | None = None) -> DemoResult:
    """Build the demo repository at `root` (missing or empty), run the intent on
    it, and return the task with `git log` of the branch and of history."""
    _require_empty(root)
    build(root)
    repo = open_repo(root)
    init(repo)
    task = intent.declare(open_repo(root), INTENT, progress=progress)
    git = pygit2.Repository(str(root))
    return DemoResult(root, task, _log(git, "refs/heads/main", True), _log(git, history.HISTORY_REF, False))
