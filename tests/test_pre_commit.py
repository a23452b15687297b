"""The shipped `.pre-commit-hooks.yaml`, run by the real pre-commit tool (which
installs jitos into an environment of its own: about ten seconds, so this runs
with `-m tools`): it passes on a clean repository and fails, saying why, once
history is tampered with."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.tools


def _pre_commit(jrepo: Path, home: Path, hook: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
    if tool is None:
        pytest.fail("pre-commit is a test dependency: pip install -e '.[test]'")
    return subprocess.run([tool, "try-repo", str(ROOT), hook, "--all-files"], cwd=jrepo, capture_output=True,
                          text=True, env={**os.environ, "PRE_COMMIT_HOME": str(home)}, check=False)


def test_the_shipped_hooks_pass_on_a_clean_repository_and_fail_naming_why_after_tampering(
        jrepo: Path, tmp_path: Path) -> None:
    home = tmp_path / "pre-commit-home"
    for hook in ("jitos-verify", "jitos-guard"):
        done = _pre_commit(jrepo, home, hook)
        assert done.returncode == 0 and "Passed" in done.stdout, done.stdout + done.stderr
    head = git(jrepo, "rev-parse", "refs/jitos/history")
    forged = git(jrepo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "forged")
    git(jrepo, "update-ref", "refs/jitos/history", forged)
    failed = _pre_commit(jrepo, home, "jitos-verify")
    assert failed.returncode != 0 and "Failed" in failed.stdout
    assert "does not reproduce" in failed.stdout + failed.stderr
