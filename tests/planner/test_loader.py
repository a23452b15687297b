"""Method files: the format's features and the errors bad files get."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.loader import Layer, load_domain, load_facts, load_library
from kernel.planner.patterns import pattern_problem
from kernel.planner.request import shipped_methods_dir
from tests.planner.helpers import domain_from

BASE = """
[task.t]
params = ["?x"]
[primitive.p]
params = ["?x"]
"""


def _bad(tmp_path: Path, text: str) -> str:
    with pytest.raises(BadInput) as info:
        domain_from(tmp_path, text)
    return info.value.message


def test_toml_syntax_error_is_reported_as_file_line_col(tmp_path: Path) -> None:
    message = _bad(tmp_path, '[task.t]\nparams = ["?x"]\ndoc = \n')
    assert message.startswith(f"{tmp_path / 'm.toml'}:3:7: ")


def test_toml_error_at_end_of_file_points_at_the_end(tmp_path: Path) -> None:
    message = _bad(tmp_path, '[task.t]\nparams = ["?x"')
    assert message.startswith(f"{tmp_path / 'm.toml'}:2:")


def test_unknown_key_names_file_table_and_key(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + '[method.m]\ntask = "t"\nsubtask = []\n')
    assert "m.toml [method.m]: unknown key 'subtask'" in message


def test_unknown_top_level_table_is_an_error(tmp_path: Path) -> None:
    assert "unknown table [methods]" in _bad(tmp_path, '[methods.m]\ntask = "t"\n')


def test_method_for_an_unknown_task_names_the_task(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + '[method.m]\ntask = "nope"\n')
    assert "[method.m]: unknown task 'nope'" in message


def test_subtask_with_wrong_arity_is_an_error(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + '[method.m]\ntask = "t"\nsubtasks = ["p ?x ?x"]\n')
    assert "subtask 'p' calls 'p' with 2 argument(s); it takes 1" in message


def test_predicate_used_with_two_arities_is_an_error(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + '[primitive.q]\nparams = ["?x"]\npre = ["on ?x"]\nadd = ["on ?x ?x"]\n')
    assert "predicate 'on' takes 1 argument(s)" in message


def test_unbound_variable_in_an_effect_is_an_error(tmp_path: Path) -> None:
    message = _bad(tmp_path, '[primitive.q]\nparams = []\nadd = ["held ?y"]\n')
    assert "[primitive.q]: effect 'held ?y' uses unbound variable ?y" in message


def test_duplicate_name_in_one_layer_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(BASE)
    (tmp_path / "b.toml").write_text(BASE)
    with pytest.raises(BadInput, match=r"b.toml \[task.t\]: task 't' is already defined in .*a.toml"):
        load_domain([tmp_path])


def test_task_and_primitive_share_one_namespace(tmp_path: Path) -> None:
    assert "has the name of a compound task" in _bad(tmp_path, BASE + "[primitive.t]\nparams = []\n")


def test_ordering_cycle_is_an_error(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + """
[method.m]
task = "t"
ordered = false
subtasks = [{ id = "a", task = "p ?x" }, { id = "b", task = "p ?x" }]
order = [["a", "b"], ["b", "a"]]
""")
    assert "[method.m]: ordering has a cycle: a < b < a" in message


def test_ordering_naming_an_unknown_subtask_is_an_error(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + """
[method.m]
task = "t"
ordered = false
subtasks = [{ id = "a", task = "p ?x" }]
order = [["a", "z"]]
""")
    assert "ordering names unknown subtask id 'z'" in message


def test_unknown_worker_kind_is_an_error(tmp_path: Path) -> None:
    assert "worker 'robot' is not one of" in _bad(tmp_path, '[primitive.q]\nworker = "robot"\n')


def test_template_naming_an_unknown_parameter_is_an_error(tmp_path: Path) -> None:
    message = _bad(tmp_path, '[primitive.q]\nworker = "shell"\nargv = ["echo", "{who}"]\n')
    assert "refers to {who}" in message


def test_intent_args_must_match_the_task_arity(tmp_path: Path) -> None:
    message = _bad(tmp_path, BASE + '[intent.i]\ntask = "t"\nkeywords = ["t"]\n')
    assert "[intent.i]: task 't' takes 1 argument(s), 'args' gives 0" in message


def test_method_head_defaults_to_the_task_parameters(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, BASE + '[method.m]\ntask = "t"\nsubtasks = ["p ?x"]\n')
    assert domain.methods["t"][0].args == ("?x",)


def test_subtask_ids_default_to_task_names_numbered_when_repeated(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, BASE + '[method.m]\ntask = "t"\nsubtasks = ["p ?x", "t ?x", "p ?x"]\n')
    assert [s.id for s in domain.methods["t"][0].subtasks] == ["p-1", "t", "p-2"]


def test_literals_accept_negation_inequality_and_list_form(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[primitive.q]
params = ["?x", "?y"]
pre = ["not on ?x ?y", "?x != ?y", ["named", "?x", "two words"]]
""")
    assert [str(lit) for lit in domain.operators["q"].pre] == [
        "not on ?x ?y", "?x != ?y", "named ?x two words"]


def test_a_later_layer_shadows_an_earlier_definition_of_the_same_name(tmp_path: Path) -> None:
    shipped, repo = tmp_path / "shipped.toml", tmp_path / "repo.toml"
    shipped.write_text(BASE + '[method.m]\ntask = "t"\nsubtasks = ["p ?x"]\n')
    repo.write_text('[method.m]\ntask = "t"\nsubtasks = []\n')
    lib = load_library([Layer("shipped", (shipped,)), Layer("repo", (repo,))])
    assert lib.domain.methods["t"][0].subtasks == ()
    entry = next(e for e in lib.entries if e.name == "m")
    assert entry.origin.layer == "repo" and entry.shadows is not None
    assert entry.shadows.file.endswith("shipped.toml")


def test_facts_file_gives_ground_facts(tmp_path: Path) -> None:
    path = tmp_path / "facts.toml"
    path.write_text('facts = ["on a b", ["clear", "a"]]\n')
    assert load_facts(path) == (("on", "a", "b"), ("clear", "a"))


def test_facts_file_with_a_variable_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "facts.toml"
    path.write_text('facts = ["on ?x b"]\n')
    with pytest.raises(BadInput, match="must be a plain fact"):
        load_facts(path)


def _intent(patterns: list[str]) -> str:
    listed = ", ".join(f"'{p}'" for p in patterns)
    return BASE + f'[intent.i]\ntask = "t"\npatterns = [{listed}]\nargs = ["{{text}}"]\n'


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(a*)*b", "(a|aa)*c", "(\\w+\\s?)*$"])
def test_a_pattern_that_can_backtrack_exponentially_is_refused_naming_it(
    tmp_path: Path, pattern: str
) -> None:
    message = _bad(tmp_path, _intent(["\\bfix\\b", pattern]))
    assert message.startswith(f"{tmp_path / 'm.toml'} [intent.i]: pattern {pattern!r} can take "
                              "exponential time")
    assert "\n" not in message


def test_a_pattern_with_repeats_in_a_row_over_the_same_text_is_refused(tmp_path: Path) -> None:
    message = _bad(tmp_path, _intent(["\\w+\\s*\\w+!"]))
    assert "pattern '\\\\w+\\\\s*\\\\w+!' can take cubic time or worse" in message


def test_a_pattern_over_the_length_limit_is_refused_with_its_length(tmp_path: Path) -> None:
    pattern = "\\b(?:" + "|".join(f"word{i}" for i in range(200)) + ")\\b"
    message = _bad(tmp_path, _intent([pattern]))
    assert f"is {len(pattern)} characters long; the limit is 1000" in message
    assert len(message) < 300


def test_an_invalid_pattern_is_refused_naming_it(tmp_path: Path) -> None:
    assert "pattern '(fix' is not a valid regex" in _bad(tmp_path, _intent(["(fix"]))


def test_every_shipped_method_file_loads_with_its_intent_patterns(tmp_path: Path) -> None:
    shipped = shipped_methods_dir()
    domain = load_domain([shipped])
    patterns = [p for i in domain.intents for p in i.patterns]
    assert {i.name for i in domain.intents} >= {"fix-bug", "add-test", "upgrade-dependency"}
    assert patterns and all(pattern_problem(p) is None for p in patterns)
