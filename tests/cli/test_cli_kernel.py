"""The command line around the kernel, through the real `jitos` entry point:
exit codes, one-line errors, --json shapes and --debug. Tests assert what a
user sees (exit code, stderr, parsed JSON), never how the kernel does it; the
one stand-in is a kernel function made to fail, to show how a bug is reported."""

import json
from pathlib import Path

import pytest

from tests import edits
from tests.conftest import git, jitos


def test_init_then_again_says_so(repo: Path) -> None:
    assert "initialised" in jitos("init").stdout
    second = jitos("init")
    assert "already initialised" in second.stdout


def test_commands_before_init_exit_2(repo: Path) -> None:
    done = jitos("status", check=2, process=True)  # the installed entry point, in a real process
    assert "jitos init" in done.stderr


def test_outside_a_repository_exits_2(tmp_path: Path) -> None:
    done = jitos("init", cwd=tmp_path, check=2)
    assert done.stderr.startswith("jitos: error:") and len(done.stderr.strip().splitlines()) == 1


def test_sws_new_json_shape(repo: Path) -> None:
    jitos("init")
    data = json.loads(jitos("sws", "new", "--name", "fix", "--json").stdout)
    assert set(data) >= {"id", "path", "base"} and data["id"] == "s1"
    listed = json.loads(jitos("sws", "list", "--json").stdout)
    assert set(listed[0]) >= {"id", "name", "path", "base", "head", "state"}


def test_sws_new_bad_name_exits_2_with_one_line(repo: Path) -> None:
    jitos("init")
    done = jitos("sws", "new", "--name", "a..b", check=2)
    assert "invalid workspace name 'a..b'" in done.stderr
    assert len(json.loads(jitos("log", "--json").stdout)) == 1


def test_sws_new_from_option_like_value_exits_2(repo: Path) -> None:
    jitos("init")
    done = jitos("sws", "new", "--from=-x", check=2)
    assert "not a revision" in done.stderr


def test_unknown_id_exits_2(repo: Path) -> None:
    jitos("init")
    assert "no workspace 's9'" in jitos("sws", "path", "s9", check=2).stderr


def test_sws_run_passes_exit_code_and_records_it(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    done = jitos("sws", "run", "s1", "--", "sh", "-c", "echo hi; exit 7", check=7)
    assert done.stdout == "hi\n"
    entry = json.loads(jitos("log", "-n", "1", "--json").stdout)[0]
    assert entry["kind"] == "run" and entry["data"]["exit"] == 7


def test_status_and_log_json_shapes(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    status = json.loads(jitos("status", "--json").stdout)
    assert set(status) >= {"system", "tasks", "sws"} and status["sws"][0]["id"] == "s1"
    log = json.loads(jitos("log", "--json").stdout)
    assert [e["kind"] for e in log] == ["sws-new", "init"]
    assert set(log[0]) >= {"id", "kind", "summary"}


def test_verify_json_ok_and_failure_exit_1(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    assert json.loads(jitos("verify", "--json").stdout) == {"ok": True, "events": 2, "objects": 1, "problems": []}
    git(repo, "update-ref", "refs/jitos/system", "HEAD~0")
    git(repo, "commit", "--allow-empty", "-qm", "x")
    git(repo, "update-ref", "refs/jitos/system", "HEAD")
    done = jitos("verify", check=1)
    assert "refs/jitos/system is at" in done.stderr


def test_discard_dirty_workspace_needs_force(repo: Path) -> None:
    jitos("init")
    path = Path(json.loads(jitos("sws", "new", "--json").stdout)["path"])
    edits.write(path, "README.md", "edit\n")
    assert "--force" in jitos("sws", "discard", "s1", check=2).stderr
    jitos("sws", "discard", "s1", "--force", "--reason", "abandon")
    assert not path.exists()


def test_bad_team_config_names_file_line_and_column(repo: Path) -> None:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text("[sws]\ninclude = [\n")
    done = jitos("init", check=2)
    assert ".jitos/config.toml:2:12: " in done.stderr and "fix the TOML syntax" in done.stderr
    (repo / ".jitos" / "config.toml").write_text("[sws]\ninclude = [1 2]\n")
    assert ".jitos/config.toml:2:" in jitos("init", check=2).stderr


def test_usage_errors_exit_2(repo: Path) -> None:
    assert "No such command" in jitos("nosuch", check=2).stderr
    jitos("init")
    jitos("collapse", check=2)
    jitos("log", "-n", "0", check=2)


def test_sws_run_takes_options_before_the_separator(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    data = json.loads(jitos("sws", "run", "s1", "--json", "--", "echo", "--json").stdout)
    assert data["argv"] == ["echo", "--json"] and data["exit"] == 0


def test_sws_run_killed_by_a_signal_exits_128_plus_signal(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    jitos("sws", "run", "s1", "--", "sh", "-c", "kill -TERM $$", check=143, process=True)


def test_path_of_a_discarded_workspace_exits_2(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    jitos("sws", "discard", "s1")
    assert "refs/jitos/sws/s1" in jitos("sws", "path", "s1", check=2).stderr


def test_log_filters_by_workspace_name_and_refuses_unknown(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new", "--name", "fix")
    entries = json.loads(jitos("log", "--sws", "fix", "--json").stdout)
    assert [e["kind"] for e in entries] == ["sws-new"]
    jitos("log", "--sws", "nosuch", check=2)
    jitos("log", "--task", "t9", check=2)


def test_init_follows_the_configured_system_branch(repo: Path) -> None:
    git(repo, "branch", "release")
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text('[system]\nbranch = "release"\n')
    assert json.loads(jitos("init", "--json").stdout)["branch"] == "release"
    assert "changing the system branch" in jitos("init", "--system-branch", "main", check=2).stderr


def test_non_numeric_timeout_is_bad_input_naming_the_file(repo: Path) -> None:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text('[gate]\ntimeout = "60"\n')
    assert "config.toml: [gate] timeout" in jitos("init", check=2).stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_bad_input(repo: Path, value: str) -> None:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text(f'[workers.shell]\ntimeout = {value}\n')
    assert "config.toml: [workers.shell] timeout must be a positive number" in jitos("init", check=2).stderr


def test_plan_inside_a_workspace_reads_the_local_config(repo: Path) -> None:
    jitos("init")
    (repo / ".git" / "jitos" / "config.toml").write_text('[test]\ncommand = ["local-tests", "-x"]\n')
    path = Path(json.loads(jitos("sws", "new", "--json").stdout)["path"])
    plan = json.loads(jitos("plan", "fix the bug", "--format", "json", cwd=path).stdout)
    argvs = [s["argv"] for s in plan["steps"] if s["worker"] == "shell"]
    assert ["local-tests", "-x"] in argvs


def test_debug_after_the_separator_goes_to_the_command(repo: Path) -> None:
    jitos("init")
    jitos("sws", "new")
    done = jitos("sws", "run", "s1", "--", "python3", "-c", "import sys; print(sys.argv)", "--debug")
    assert done.stdout == "['-c', '--debug']\n"


def test_debug_before_the_command_prints_the_traceback_of_an_internal_error(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jitos("init")
    monkeypatch.setattr("kernel.views.status", _a_bug)
    done = jitos("--debug", "status", check=1)
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("jitos: internal error: RuntimeError: a bug "
                                         "(rerun as `jitos --debug …` for the traceback)")


def test_an_internal_error_without_debug_is_one_line(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jitos("init")
    monkeypatch.setattr("kernel.views.status", _a_bug)
    done = jitos("status", check=1)
    assert done.stderr.startswith("jitos: internal error: RuntimeError: a bug")
    assert len(done.stderr.strip().splitlines()) == 1


def _a_bug(*args: object, **kwargs: object) -> None:
    raise RuntimeError("a bug")


def test_status_tells_no_conflict_from_ready_and_says_what_to_run_next(jrepo: Path) -> None:
    from kernel.workspace.sws import Workspace
    from tests import edits

    def state_of(sid: str) -> dict[str, object]:
        shown = json.loads(jitos("status", "--json", cwd=jrepo).stdout)
        return next(w["collapse"] for w in shown["sws"] if w["id"] == sid)

    made = json.loads(jitos("sws", "new", "--json", cwd=jrepo).stdout)
    sid = made["id"]
    assert state_of(sid)["state"] == "empty" and "snapshot" in str(state_of(sid)["next"])
    edits.write(Workspace(sid, None, Path(made["path"]), made["base"], made["base"], "active"), "x.txt", "x\n")
    jitos("sws", "snapshot", sid, cwd=jrepo)
    ready = state_of(sid)
    assert ready["state"] == "no-conflict" and ready["clean"] and ready["next"] == f"`jitos collapse {sid}` (runs the gate)"
    jitos("collapse", sid, "--gate", "false", cwd=jrepo, check=4)
    failed = state_of(sid)
    assert failed["state"] == "gate-failed" and failed["clean"]
    assert "the gate failed on this tree" in jitos("status", cwd=jrepo).stdout
