"""`jitos hooks install | uninstall | status` with real git commits and pushes:
your hooks keep running after jitos's part and come back untouched; the
guard, adopt and verify parts do what they say."""

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import commit_files, git, jitos

MARKER_HOOK = '#!/bin/sh\necho "$0 ran" >> "$(git rev-parse --git-dir)/marker"\n'


def _hook(folder: Path, name: str, text: str = MARKER_HOOK) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def _commit(repo: Path, rel: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    (repo / rel).write_text(f"{rel}\n")
    git(repo, "add", rel)
    return subprocess.run(["git", "commit", "-q", "-m", f"add {rel}"], cwd=repo, capture_output=True, text=True,
                          check=check)


def test_your_pre_commit_hook_still_runs_and_uninstall_leaves_it_byte_identical(jrepo: Path) -> None:
    mine = _hook(jrepo / ".git" / "hooks", "pre-commit")
    before = (mine.read_bytes(), stat.S_IMODE(mine.stat().st_mode))
    done = json.loads(jitos("hooks", "install", "--json", cwd=jrepo).stdout)
    assert done["installed"] and done["chained_to"] == str((jrepo / ".git" / "hooks").resolve())
    assert json.loads(jitos("hooks", "install", "--json", cwd=jrepo).stdout) == done  # idempotent
    git(jrepo, "checkout", "-q", "-b", "topic")  # not the system branch: the guard says nothing
    made = _commit(jrepo, "a.txt")
    assert "pre-commit ran" in (jrepo / ".git" / "marker").read_text() and made.stderr == ""
    jitos("hooks", "uninstall", cwd=jrepo)
    assert (mine.read_bytes(), stat.S_IMODE(mine.stat().st_mode)) == before
    assert subprocess.run(["git", "config", "--local", "--get", "core.hooksPath"], cwd=jrepo,
                          capture_output=True, check=False).returncode == 1
    assert not (jrepo / ".git" / "jitos" / "hooks").exists()
    assert "not installed" in jitos("hooks", "status", cwd=jrepo).stdout


def test_an_existing_core_hooks_path_is_chained_and_put_back(jrepo: Path) -> None:
    shared = jrepo.parent / "team-hooks"
    _hook(shared, "pre-commit")
    git(jrepo, "config", "core.hooksPath", str(shared))
    jitos("hooks", "install", cwd=jrepo)
    git(jrepo, "checkout", "-q", "-b", "topic")
    _commit(jrepo, "a.txt")
    assert "pre-commit ran" in (jrepo / ".git" / "marker").read_text()
    jitos("hooks", "uninstall", cwd=jrepo)
    assert git(jrepo, "config", "--local", "--get", "core.hooksPath") == str(shared)


def test_the_guard_warns_on_a_commit_to_the_system_branch_and_refuses_it_when_strict(jrepo: Path) -> None:
    jitos("hooks", "install", cwd=jrepo)
    warned = _commit(jrepo, "a.txt")
    assert "straight onto main" in warned.stderr and "jitos sws new" in warned.stderr
    # post-commit adopted it at once: history records the outside commit
    log = json.loads(jitos("log", "--json", cwd=jrepo).stdout)
    assert log[0]["kind"] == "adopt" and git(jrepo, "rev-parse", "HEAD") in log[0]["data"]["commits"]
    (jrepo / ".git" / "jitos" / "config.toml").write_text("[policy]\nstrict = true\n")
    refused = _commit(jrepo, "b.txt", check=False)
    assert refused.returncode != 0 and "refused" in refused.stderr and "[policy] strict" in refused.stderr
    assert git(jrepo, "log", "-1", "--format=%s") == "add a.txt"


def test_pre_push_refuses_a_history_that_does_not_verify(jrepo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(jrepo, "remote", "add", "origin", str(bare))
    jitos("hooks", "install", cwd=jrepo)
    git(jrepo, "push", "-q", "origin", "main")
    head = git(jrepo, "rev-parse", "refs/jitos/history")
    forged = git(jrepo, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "forged")
    git(jrepo, "update-ref", "refs/jitos/history", forged)
    commit_files(jrepo, {"c.txt": "c\n"}, "another")
    pushed = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=jrepo, capture_output=True, text=True,
                            env={**os.environ}, check=False)
    assert pushed.returncode != 0 and "history does not verify" in pushed.stderr


@pytest.mark.parametrize("config", ["[policy]\nstrict = \"yes\"\n"])
def test_a_bad_policy_value_is_bad_input(jrepo: Path, config: str) -> None:
    (jrepo / ".git" / "jitos" / "config.toml").write_text(config)
    assert "[policy] strict must be true or false" in jitos("status", cwd=jrepo, check=2).stderr
