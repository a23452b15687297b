"""A scripted session through the `jitos` command line that touches every event
kind: workspaces by hand, snapshots, runs, gated collapses, a conflict, an
adopted outside commit with a re-base, an undo, a discard and an intent that
fixes a bug with an agent. With `SOURCE_DATE_EPOCH` pinned (the hermetic test
fixture pins it) the session is deterministic, so the ids of `refs/jitos/*`
after it are a fingerprint of what jitos records: a change that moves one of
them changes history bytes.

`python -m tests.golden DIR` runs the session in DIR and prints the refs as
JSON (how `tests/data/golden-refs.json` was made, with the environment
`tests/conftest.py`'s `hermetic_seal` sets: HOME, GIT_*_NAME/EMAIL/DATE and
SOURCE_DATE_EPOCH); `tests/test_golden.py` compares against it. Change the
file only on purpose: a shipped method whose plan changed (capabilities, say)
moves `refs/jitos/history` alone; any other moved ref is a change in what
jitos records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import edits
from tests.clirun import run_cli

AGENT = (
    "import pathlib, sys\n"
    "instruction = sys.argv[-1]\n"
    "here = pathlib.Path.cwd()\n"
    "if 'reproduces' in instruction:\n"
    "    t = here / 'check.sh'\n"
    "    t.write_text(t.read_text() + 'grep -q lower slug.txt\\n')\n"
    "elif instruction.startswith('Fix'):\n"
    "    (here / 'slug.txt').write_text('lower\\n')\n"
    "print('agent did:', instruction.split(':')[0])\n"
)

CONFIG = (
    '[gate]\ncommand = ["sh", "check.sh"]\n\n'
    '[workers.agent]\ncommand = ["python3", "agent.py"]\n'
)

FILES = {
    "README.md": "hello\n",
    "src/app.py": "print('hi')\n",
    "slug.txt": "UPPER\n",
    "check.sh": "echo checking\n",
    "agent.py": AGENT,
    ".jitos/config.toml": CONFIG,
}


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _jitos(root: Path, *args: str, expect: int = 0) -> str:
    """Run the `jitos` command line in-process in `root`; return its stdout."""
    done = run_cli(list(args), root)
    if done.returncode != expect:
        raise AssertionError(f"jitos {' '.join(args)} → {done.returncode} (wanted {expect})\n{done.stdout}{done.stderr}")
    return done.stdout


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def run_session(root: Path) -> dict[str, str]:
    """Run the session in a new repository at `root`; return `refs/jitos/*` → id."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    for rel, text in FILES.items():
        _write(root / rel, text)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "initial")

    _jitos(root, "init")
    a = json.loads(_jitos(root, "sws", "new", "--name", "docs", "--json"))
    edits.write(Path(a["path"]), "README.md", "hello, world\n")
    edits.write(Path(a["path"]), "docs/guide.md", "# guide\n")
    _jitos(root, "sws", "snapshot", "docs", "-m", "write a guide")
    _jitos(root, "sws", "run", "docs", "--", "sh", "-c", "echo made > docs/made.txt; echo ran")
    _jitos(root, "collapse", "docs")

    b = json.loads(_jitos(root, "sws", "new", "--json"))
    c = json.loads(_jitos(root, "sws", "new", "--json"))
    edits.write(Path(b["path"]), "src/app.py", "print('from b')\n")
    edits.write(Path(c["path"]), "src/app.py", "print('from c')\n")
    _jitos(root, "collapse", b["id"], "--gate", "true")
    _jitos(root, "collapse", c["id"], "--gate", "true", expect=3)
    _jitos(root, "sws", "discard", c["id"], "--force", "--reason", "lost the race")

    d = json.loads(_jitos(root, "sws", "new", "--json"))
    edits.write(Path(d["path"]), "notes.txt", "from d\n")
    _jitos(root, "sws", "snapshot", d["id"])
    _write(root / "outside.txt", "made outside jitos\n")
    _git(root, "add", "outside.txt")
    _git(root, "commit", "-q", "-m", "outside")
    _jitos(root, "collapse", d["id"], "--no-gate", "--reason", "notes only")
    _jitos(root, "undo", "--gate", "true")

    e = json.loads(_jitos(root, "sws", "new", "--name", "red", "--json"))
    edits.write(Path(e["path"]), "check.sh", "echo failing; exit 1\n")
    _jitos(root, "collapse", "red", expect=4)
    _jitos(root, "sws", "discard", "red", "--force")

    _jitos(root, "intent", "fix the bug: slug.txt is not lower case")
    _jitos(root, "verify")
    names = _git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/jitos/")
    return dict(line.split(" ", 1) for line in names.splitlines())


if __name__ == "__main__":
    # Pin what the hermetic test fixture pins, so the fingerprint matches the test's.
    os.environ.update({"SOURCE_DATE_EPOCH": "1700000000", "GIT_AUTHOR_NAME": "Test Author",
                       "GIT_AUTHOR_EMAIL": "author@example.com", "GIT_COMMITTER_NAME": "Test Committer",
                       "GIT_COMMITTER_EMAIL": "committer@example.com", "GIT_AUTHOR_DATE": "1700000000 +0000",
                       "GIT_COMMITTER_DATE": "1700000000 +0000", "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1"})
    print(json.dumps(run_session(Path(sys.argv[1]).resolve()), indent=2, sort_keys=True))
