"""`jitos plan` and `jitos methods` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jitos_cli.main import main
from tests.planner.helpers import DOMAINS

CONFIG = """
[test]
command = ["pytest", "-q"]
[workers.agent]
command = ["agent"]
"""


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_plan_json_has_task_method_and_steps_with_ids_and_edges(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _json(capsys, "plan", "--format", "json", "fix the bug in slug()")
    assert (data["task"], data["method"], data["intent"]) == ("fix-bug", "fix-bug-reproduced", "fix-bug")
    ids = [s["id"] for s in data["steps"]]
    for step in data["steps"]:
        assert {"id", "name", "args", "worker", "after"} <= set(step)
        assert all(ids.index(dep) < ids.index(step["id"]) for dep in step["after"])


def test_json_output_is_canonical(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--json", "refactor the parser"]) == 0
    out = capsys.readouterr().out
    # The one --json form every command writes (docs/json.md): sorted keys, UTF-8, indented.
    assert out == json.dumps(json.loads(out), sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def test_explicit_task_takes_words_as_arguments(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "plan", "--json", "--task", "add-test", "the slug helper")
    assert (data["task"], data["args"], data["intent"]) == ("add-test", ["the slug helper"], None)


def test_text_matching_no_intent_exits_2_and_says_what_to_do(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "make me a sandwich"]) == 2
    assert "no intent matches 'make me a sandwich'" in capsys.readouterr().err


def test_no_plan_exits_2_naming_the_task_and_the_deepest_reason(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "facts.toml").write_text('facts = ["at d1 p2"]\n')
    args = ["plan", "--methods", str(DOMAINS / "hanoi.toml"), "--facts", "facts.toml",
            "--task", "move-tower", "d1", "p1", "p3", "p2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no plan for move-tower('d1', 'p1', 'p3', 'p2')" in err
    assert "could not decompose move-tower(d1, p1, p3, p2)" in err


def test_budget_exhaustion_says_to_raise_the_budget(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "facts.toml").write_text(
        'facts = ["smallest d1", "next d2 d1", "at d1 p1", "at d2 p1"]\n')
    args = ["plan", "--methods", str(DOMAINS / "hanoi.toml"), "--facts", "facts.toml",
            "--budget", "2", "--task", "move-tower", "d2", "p1", "p3", "p2"]
    assert main(args) == 2
    assert "budget of 2 nodes; raise --budget" in capsys.readouterr().err


def test_max_lists_candidates_in_order(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "plan", "--json", "--max", "2", "--task", "tests-pass")
    assert [c["method"] for c in data["candidates"]] == ["tests-pass-by-hand"]


def test_all_candidates_follow_method_preference(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".jitos").mkdir()
    (repo / ".jitos" / "config.toml").write_text(CONFIG + '[gate]\ncommand = ["make"]\n')
    data = _json(capsys, "plan", "--json", "--all", "--task", "tests-pass")
    assert [c["method"] for c in data["candidates"]] == [
        "tests-pass-by-test-command", "tests-pass-by-gate", "tests-pass-by-hand"]


def test_dot_format_draws_every_dependency(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--format", "dot", "refactor the parser"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph plan {")
    assert '"snapshot" -> "test.confirm";' in out


def test_mermaid_format_is_a_flowchart(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--format", "mermaid", "refactor the parser"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n") and "s0 --> s1" in out


def test_repo_methods_shadow_shipped_ones_in_plans(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".jitos" / "methods").mkdir(parents=True)
    (repo / ".jitos" / "methods" / "ours.toml").write_text(
        '[method.refactor-behind-tests]\ntask = "refactor"\nsubtasks = ["collapse"]\n')
    data = _json(capsys, "plan", "--json", "refactor the parser")
    assert [s["name"] for s in data["steps"]] == ["collapse"]


def test_methods_list_shows_origin_and_what_a_repo_method_shadows(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".jitos" / "methods").mkdir(parents=True)
    (repo / ".jitos" / "methods" / "ours.toml").write_text(
        '[method.refactor-behind-tests]\ntask = "refactor"\nsubtasks = ["collapse"]\n')
    assert main(["methods", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    mine = rows["refactor-behind-tests"]
    assert (mine["file"], mine["layer"], mine["shadows"]) == (
        ".jitos/methods/ours.toml", "repo", "methods/refactor.toml")
    assert rows["fix-bug-reproduced"]["file"] == "methods/fix-bug.toml"


def test_methods_list_text_marks_shadowing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / ".jitos" / "methods").mkdir(parents=True)
    (repo / ".jitos" / "methods" / "ours.toml").write_text('[task.refactor]\nparams = ["?change"]\n')
    assert main(["methods", "list"]) == 0
    assert "(shadows methods/refactor.toml)" in capsys.readouterr().out


def test_methods_check_accepts_a_good_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "mine.toml").write_text('[method.extra]\ntask = "refactor"\nsubtasks = ["collapse"]\n')
    assert main(["methods", "check", "mine.toml"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_methods_check_rejects_a_bad_file_with_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "mine.toml").write_text('[method.extra]\ntask = "refactr"\n')
    assert main(["methods", "check", "mine.toml"]) == 2
    assert "mine.toml [method.extra]: unknown task 'refactr'" in capsys.readouterr().err


def test_methods_check_reports_toml_syntax_as_file_line_col(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "mine.toml").write_text('[method.extra]\ntask = = "x"\n')
    assert main(["methods", "check", "mine.toml"]) == 2
    assert "mine.toml:2:8: " in capsys.readouterr().err


def test_methods_check_without_paths_checks_the_repository_library(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / ".jitos" / "methods").mkdir(parents=True)
    (repo / ".jitos" / "methods" / "bad.toml").write_text('[intent.x]\ntask = "nope"\nkeywords = ["x"]\n')
    assert main(["methods", "check"]) == 2
    assert ".jitos/methods/bad.toml [intent.x]: unknown task 'nope'" in capsys.readouterr().err


def test_all_and_max_together_are_rejected(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--all", "--max", "2", "refactor it"]) == 2


def test_text_output_names_missing_config_keys(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "m.toml").write_text(
        '[primitive.lint]\nparams = []\nworker = "shell"\nargv = ["{config.lint.command}"]\n')
    assert main(["plan", "--methods", "m.toml", "--task", "lint"]) == 0
    assert "missing config: lint.command (set in .jitos/config.toml)" in capsys.readouterr().out


def test_facts_file_with_bad_toml_is_reported_as_file_line_col(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "facts.toml").write_text('facts = ["a"\nb = 1\n')
    assert main(["plan", "--facts", "facts.toml", "--task", "collapse"]) == 2
    assert "facts.toml:2:" in capsys.readouterr().err


def test_text_output_shows_which_method_produced_each_step(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "refactor the parser"]) == 0
    out = capsys.readouterr().out
    assert "    (root): refactor(\"refactor the parser\") via refactor-behind-tests\n" in out
    assert "      baseline: tests-pass() via tests-pass-by-hand\n        baseline.confirm: confirm\n" in out


def test_methods_check_refuses_a_catastrophic_pattern_naming_file_and_pattern(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "mine.toml").write_text(
        "[intent.slow]\ntask = \"refactor\"\npatterns = ['^(a+)+$']\nargs = [\"{text}\"]\n")
    assert main(["methods", "check", "mine.toml"]) == 2
    err = capsys.readouterr().err
    assert "mine.toml [intent.slow]: pattern '^(a+)+$' can take exponential time" in err
    assert err.count("\n") == 1


def test_plan_refuses_an_intent_over_64_kib_in_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "refactor " + "x" * 128_000]) == 2
    err = capsys.readouterr().err
    assert "128009 bytes; the limit is 65536 bytes (64 KiB)" in err and err.count("\n") == 1
