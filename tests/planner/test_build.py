"""Plans as DAGs: step ids, dependency edges, execution data, the tree."""

from __future__ import annotations

from functools import reduce
from pathlib import Path

from kernel.planner.build import child_id
from kernel.planner.loader import load_domain
from kernel.planner.model import TaskCall
from kernel.planner.search import plan
from tests.planner.helpers import DOMAINS, domain_from, hanoi_facts

PARTIAL = """
[task.t]
params = []
[primitive.a]
params = []
[primitive.b]
params = []
[primitive.c]
params = []
[method.m]
task = "t"
ordered = false
subtasks = ["c", "b", "a"]
order = [["a", "c"], ["b", "c"]]
"""


def test_path_ids_write_repeated_segments_as_runs() -> None:
    assert reduce(child_id, ["a", "rest", "rest", "rest", "b"], "") == "a.rest*3.b"


def test_step_ids_follow_the_decomposition_path() -> None:
    domain = load_domain([DOMAINS / "hanoi.toml"])
    result = plan(domain, TaskCall("move-tower", ("d3", "p1", "p3", "p2")), hanoi_facts(3))
    assert [s.id for s in result.plans[0].steps] == [
        "above*2.move", "above.move", "above.back.move", "move", "back.above.move",
        "back.move", "back*2.move"]


def test_partial_order_is_linearised_with_declaration_order_on_ties(tmp_path: Path) -> None:
    result = plan(domain_from(tmp_path, PARTIAL), TaskCall("t"), [])
    assert [s.name for s in result.plans[0].steps] == ["b", "a", "c"]


def test_unordered_independent_steps_have_no_edge_between_them(tmp_path: Path) -> None:
    steps = plan(domain_from(tmp_path, PARTIAL), TaskCall("t"), []).plans[0].steps
    assert {s.id: s.after for s in steps} == {"b": (), "a": (), "c": ("b", "a")}


def test_unordered_steps_touching_the_same_fact_are_ordered(tmp_path: Path) -> None:
    text = PARTIAL.replace('[primitive.b]\nparams = []', '[primitive.b]\nparams = []\nadd = ["x"]')
    text = text.replace('[primitive.a]\nparams = []', '[primitive.a]\nparams = []\npre = ["x"]')
    steps = plan(domain_from(tmp_path, text), TaskCall("t"), []).plans[0].steps
    assert {s.id: s.after for s in steps} == {"b": (), "a": ("b",), "c": ("a",)}


def test_dependencies_are_transitively_reduced() -> None:
    domain = load_domain([DOMAINS / "hanoi.toml"])
    steps = plan(domain, TaskCall("move-tower", ("d4", "p1", "p3", "p2")),
                 hanoi_facts(4)).plans[0].steps
    assert all(len(s.after) == 1 for s in steps[1:])
    assert [s.after[0] for s in steps[1:]] == [s.id for s in steps[:-1]]


def test_order_through_an_empty_subtask_is_kept(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[task.nothing]
params = []
[method.nothing]
task = "nothing"
subtasks = []
[primitive.a]
params = []
[primitive.b]
params = []
[method.m]
task = "t"
subtasks = ["a", "nothing", "b"]
""")
    steps = plan(domain, TaskCall("t"), []).plans[0].steps
    assert steps[1].after == ("a",)


def test_tree_records_which_method_produced_each_node() -> None:
    domain = load_domain([DOMAINS / "hanoi.toml"])
    tree = plan(domain, TaskCall("move-tower", ("d2", "p1", "p3", "p2")),
                hanoi_facts(2)).plans[0].tree
    assert [(d.id, d.method, d.parent, d.children) for d in tree] == [
        ("", "tower-recursive", None, ("above", "move", "back")),
        ("above", "tower-of-one", "", ("above.move",)),
        ("back", "tower-of-one", "", ("back.move",)),
    ]


def test_step_records_its_method_and_parent_node() -> None:
    domain = load_domain([DOMAINS / "hanoi.toml"])
    step = plan(domain, TaskCall("move-tower", ("d2", "p1", "p3", "p2")),
                hanoi_facts(2)).plans[0].steps[0]
    assert (step.method, step.parent) == ("tower-of-one", "above")


def test_argv_templates_fill_parameters_and_splice_list_config(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[primitive.run]
params = ["?what"]
worker = "shell"
argv = ["{config.test.command}", "-k", "{what}"]
""")
    step = plan(domain, TaskCall("run", ("slug",)), [],
                config={"test": {"command": ["pytest", "-q"]}}).plans[0].steps[0]
    assert step.execution.argv == ("pytest", "-q", "-k", "slug")
    assert step.missing == ()


def test_missing_config_leaves_the_placeholder_and_is_reported(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[primitive.run]
params = []
worker = "shell"
argv = ["{config.test.command}"]
""")
    step = plan(domain, TaskCall("run"), []).plans[0].steps[0]
    assert step.execution.argv == ("{config.test.command}",)
    assert step.missing == ("test.command",)


def test_subtask_argument_templates_are_filled_from_method_bindings(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = ["?bug"]
[primitive.say]
params = ["?text"]
[method.m]
task = "t"
subtasks = [["say", "Fix {bug} now"]]
""")
    step = plan(domain, TaskCall("t", ("slug",)), []).plans[0].steps[0]
    assert step.args == ("Fix slug now",)
