"""Nothing a worker or a person wrote in a workspace disappears unseen: a
nested repository's files are recorded, and what history cannot hold (ignored
files, a nested git dir, names git refuses) is kept aside when the workspace
ends. Every test runs on both backends."""

from pathlib import Path

import pytest

from kernel.base.repo import open_repo
from kernel.errors import BadInput
from kernel.land.collapse import collapse
from kernel.land.gate import GatePolicy
from kernel.record import history
from kernel.verify import verify
from kernel.workspace import leftovers, sws
from tests.conftest import git
from tests.edits import edit

pytestmark = pytest.mark.usefixtures("backend_kind")

NESTED = ("git init -q vendor/lib && echo lib > vendor/lib/a.txt && mkdir vendor/lib/src && "
          "echo deep > vendor/lib/src/b.txt && git -C vendor/lib add -A && "
          "git -C vendor/lib -c user.name=a -c user.email=a@b commit -qm lib")


@pytest.fixture
def jrepo(make_repo, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """An initialised repository that ignores `*.log`."""
    from kernel.record.initialise import init

    path = make_repo(files={"README.md": "hello\n", ".gitignore": "*.log\n"})
    monkeypatch.chdir(path)
    init(open_repo(path))
    return Path(path)


def kept_folder(repo: Path, sid: str) -> Path:
    return leftovers.folder(open_repo(repo), sid)


def test_a_nested_repository_is_recorded_as_files_and_its_git_dir_kept(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, NESTED)
    with pytest.raises(BadInput, match="unrecorded edits"):
        sws.discard(open_repo(jrepo), ws.id)  # its files count as edits
    assert "vendor/lib/a.txt" in sws.diff(open_repo(jrepo), ws.id).unrecorded
    snap = sws.snapshot(open_repo(jrepo), ws.id)
    assert set(snap.changed) == {"vendor/lib/a.txt", "vendor/lib/src/b.txt"}
    sws.discard(open_repo(jrepo), ws.id)
    kept = kept_folder(jrepo, ws.id)
    assert (kept / "vendor" / "lib" / ".git" / "HEAD").is_file()
    assert git(jrepo, "show", f"refs/jitos/sws/{ws.id}:vendor/lib/src/b.txt") == "deep"
    last = history.events(open_repo(jrepo))[-1].event
    assert last.kind == "sws-discard" and last.data["kept"] == {"count": 1, "paths": ["vendor/lib/.git"]}
    assert verify(open_repo(jrepo)).ok


def test_ignored_files_and_names_git_refuses_are_kept_when_a_workspace_is_discarded(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, "echo important > run.log && mkdir -p odd/.Git && echo x > odd/.Git/config && echo y > git~1")
    assert sws.snapshot(open_repo(jrepo), ws.id).event is None  # nothing git can store changed
    sws.discard(open_repo(jrepo), ws.id)
    kept = kept_folder(jrepo, ws.id)
    assert (kept / "run.log").read_text() == "important\n"
    assert (kept / "odd" / ".Git" / "config").read_text() == "x\n" and (kept / "git~1").read_text() == "y\n"


def test_ignored_files_of_a_collapsed_workspace_are_kept(jrepo: Path) -> None:
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, "echo landed > README.md && echo built > out.log")
    result = collapse(open_repo(jrepo), ws.id, GatePolicy.from_options(open_repo(jrepo), gate="true"))
    assert result.committed and result.kept == ("out.log",)
    assert (kept_folder(jrepo, ws.id) / "out.log").read_text() == "built\n"


def test_keeping_can_be_turned_off(jrepo: Path) -> None:
    (jrepo / ".git" / "jitos" / "config.toml").write_text("[sws]\nkeep_unrecorded = false\n")
    jr = open_repo(jrepo)
    ws = sws.new(jr)
    edit(ws, "echo scratch > run.log")
    sws.discard(open_repo(jrepo), ws.id)
    assert not kept_folder(jrepo, ws.id).exists()
    assert "kept" not in history.events(open_repo(jrepo))[-1].event.data


def test_keep_unrecorded_must_be_a_boolean(jrepo: Path) -> None:
    (jrepo / ".git" / "jitos" / "config.toml").write_text('[sws]\nkeep_unrecorded = "yes"\n')
    with pytest.raises(BadInput, match="keep_unrecorded must be true or false"):
        sws.new(open_repo(jrepo))
