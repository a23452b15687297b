import json
from pathlib import Path

from tests import edits
from tests.conftest import commit_files, git, jitos


def workspace_with(repo: Path, files: dict[str, str]) -> str:
    data = json.loads(jitos("sws", "new", "--json").stdout)
    for rel, content in files.items():
        edits.write(Path(data["path"]), rel, content)
    return str(data["id"])


def test_collapse_json_shape_on_success(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "x\n"})
    data = json.loads(jitos("collapse", sid, "--gate", "true", "--json").stdout)
    assert set(data) >= {"sws", "committed", "system", "conflicts", "gate"}
    assert data["committed"] is True and data["system"] == git(repo, "rev-parse", "main")
    assert set(data["gate"]) >= {"command", "passed", "cached", "log"} and data["gate"]["command"] == ["true"]


def test_red_gate_exits_4_and_shows_the_log(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "x\n"})
    done = jitos("collapse", sid, "--gate", "sh -c 'echo boom-123; exit 1'", check=4)
    assert "boom-123" in done.stderr and "nothing applied" in done.stderr


def test_conflict_exits_3_naming_paths(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "mine\n"})
    commit_files(repo, {"README.md": "theirs\n"}, "outside")
    done = jitos("collapse", sid, "--gate", "true", "--json", check=3)
    data = json.loads(done.stdout)
    assert data["committed"] is False and data["conflicts"] == ["README.md"]


def test_dirty_checkout_exits_3(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "ws\n"})
    (repo / "README.md").write_text("local\n")
    assert "README.md" in jitos("collapse", sid, "--gate", "true", check=3).stderr
    assert (repo / "README.md").read_text() == "local\n"


def test_gate_and_no_gate_together_exit_2(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "x\n"})
    assert "contradict" in jitos("collapse", sid, "--gate", "true", "--no-gate", check=2).stderr


def test_gate_with_unbalanced_quotes_exits_2(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "x\n"})
    assert "quotes" in jitos("collapse", sid, "--gate", "sh -c 'oops", check=2).stderr


def test_gate_string_is_never_run_by_a_shell(repo: Path, tmp_path: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "x\n"})
    marker = tmp_path / "pwned"
    jitos("collapse", sid, "--gate", f"echo ok; touch {marker}", "--json")
    assert not marker.exists()


def test_undo_cli_restores_previous_content(repo: Path) -> None:
    jitos("init")
    sid = workspace_with(repo, {"README.md": "changed\n"})
    jitos("collapse", sid, "--no-gate", "--reason", "test")
    data = json.loads(jitos("undo", "--no-gate", "--reason", "revert", "--json").stdout)
    assert data["committed"] is True
    assert (repo / "README.md").read_text() == "hello\n"


def test_undo_with_nothing_to_undo_exits_2(repo: Path) -> None:
    jitos("init")
    assert "nothing to undo" in jitos("undo", "--no-gate", check=2).stderr
