"""The task fold is saved and checked like the state fold (tests/record/test_folds.py)."""

from collections.abc import Callable
from pathlib import Path

from kernel.base.repo import open_repo
from kernel.record import history
from kernel.tasks import model
from kernel.tasks.intent import declare
from kernel.verify import verify
from tests.record.test_folds import _later_process, _rewrite


def test_the_task_fold_round_trips_and_is_checked_too(buggy_repo: Callable[..., Path]) -> None:
    repo = buggy_repo()
    task = declare(open_repo(repo), "fix the bug", plan_only=True)
    _later_process()
    r = open_repo(repo)
    scratch = model.fold(history.events(r))
    assert model.tasks_of(r) == scratch  # folded from scratch and saved
    _later_process()
    assert model.tasks_of(open_repo(repo)) == scratch  # read back from the checkpoint
    assert (r.jitos_dir / "cache" / "fold-tasks.json").is_file()
    _rewrite(r.jitos_dir / "cache" / "fold-tasks.json", lambda rows: rows[0].__setitem__(1, "another intent"))
    _later_process()
    assert model.tasks_of(open_repo(repo))[task.id].intent == "another intent"
    assert any("saved fold of tasks" in p for p in verify(open_repo(repo)).problems)
