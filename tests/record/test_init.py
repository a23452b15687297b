from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.errors import BadInput, NotFound
from kernel.record import history, refs
from kernel.record.initialise import init
from tests.conftest import git


def test_init_points_system_at_current_commit_and_records_event(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    result = init(open_repo(repo))
    assert result.created and result.system == head and result.branch == "main"
    jr = open_repo(repo)
    assert refs.read(jr, history.SYSTEM_REF) == head
    assert [r.event.kind for r in history.walk(jr)] == ["init"]
    assert (jr.jitos_dir / "store").is_dir()


def test_second_init_records_nothing(repo: Path) -> None:
    init(open_repo(repo))
    before = history.head(open_repo(repo))
    again = init(open_repo(repo))
    assert not again.created
    assert history.head(open_repo(repo)) == before


def test_init_writes_nothing_into_the_work_tree(repo: Path) -> None:
    init(open_repo(repo))
    assert git(repo, "status", "--porcelain", "--ignored") == ""


def test_init_refuses_a_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(BadInput, match="no commits"):
        init(open_repo(tmp_path))


def test_init_refuses_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not inside a git repository"):
        open_repo(tmp_path)


def test_init_refuses_a_bare_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "b.git")
    with pytest.raises(BadInput, match="bare"):
        open_repo(tmp_path / "b.git")


def test_detached_head_needs_system_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(BadInput, match="--system-branch"):
        init(open_repo(repo))
    assert init(open_repo(repo), system_branch="main").branch == "main"


def test_unknown_system_branch_is_named(repo: Path) -> None:
    with pytest.raises(NotFound, match="no branch 'nope'"):
        init(open_repo(repo), system_branch="nope")
    assert history.head(open_repo(repo)) is None


def test_init_config_writes_commented_team_config(repo: Path) -> None:
    result = init(open_repo(repo), write_config=True)
    assert result.config_written == repo / ".jitos" / "config.toml"
    assert "[gate]" in result.config_written.read_text()
