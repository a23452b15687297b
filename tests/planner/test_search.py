"""The HTN search: decomposition, backtracking, bounds and failure reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.loader import load_domain
from kernel.planner.model import TaskCall
from kernel.planner.search import plan
from tests.planner.helpers import DOMAINS, blocks_problem, domain_from, hanoi_facts, simulate

CHOICE = """
[task.go]
params = []
[primitive.visit]
params = ["?x"]
pre = ["room ?x", "not locked ?x"]
add = ["visited ?x"]
[method.go-anywhere]
task = "go"
pre = ["room ?r"]
subtasks = ["visit ?r"]
"""


def test_hanoi_of_twelve_discs_is_solved_in_4095_valid_moves() -> None:
    domain = load_domain([DOMAINS / "hanoi.toml"])
    facts = hanoi_facts(12)
    result = plan(domain, TaskCall("move-tower", ("d12", "p1", "p3", "p2")), facts)
    steps = result.plans[0].steps
    assert len(steps) == 4095
    final = simulate(domain, result.plans[0], facts)
    assert all(("at", f"d{i}", "p3") in final for i in range(1, 13))


def test_blocks_world_of_100_blocks_reaches_the_goal() -> None:
    domain = load_domain([DOMAINS / "blocks.toml"])
    facts, goal = blocks_problem(100)
    result = plan(domain, TaskCall("solve"), facts + goal)
    final = simulate(domain, result.plans[0], facts + goal)
    for fact in goal:
        want = ("on", fact[1], fact[2]) if fact[0] == "goal-on" else ("on", fact[1], "table")
        assert want in final


def test_backtracks_over_bindings_when_a_later_precondition_fails(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, CHOICE)
    result = plan(domain, TaskCall("go"), [("room", "a"), ("room", "b"), ("locked", "a")])
    assert [s.args for s in result.plans[0].steps] == [("b",)]


def test_bindings_are_tried_in_sorted_fact_order(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, CHOICE)
    result = plan(domain, TaskCall("go"), [("room", "c"), ("room", "b")], max_plans=0)
    assert [p.steps[0].args for p in result.plans] == [("b",), ("c",)]


def test_backtracks_over_methods_when_a_subtask_cannot_be_done(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.a]
params = []
pre = ["ready"]
[primitive.b]
params = []
[method.first]
task = "t"
preference = 5
subtasks = ["a"]
[method.second]
task = "t"
subtasks = ["b"]
""")
    result = plan(domain, TaskCall("t"), [])
    assert result.plans[0].method == "second"


def test_higher_preference_is_tried_first(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.a]
params = []
[primitive.b]
params = []
[method.low]
task = "t"
subtasks = ["a"]
[method.high]
task = "t"
preference = 1
subtasks = ["b"]
""")
    result = plan(domain, TaskCall("t"), [], max_plans=2)
    assert [p.method for p in result.plans] == ["high", "low"]


def test_equal_preference_keeps_declaration_order(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.a]
params = []
[method.zeta]
task = "t"
subtasks = ["a"]
[method.alpha]
task = "t"
subtasks = ["a"]
""")
    result = plan(domain, TaskCall("t"), [], max_plans=0)
    assert [p.method for p in result.plans] == ["zeta", "alpha"]


def test_left_recursive_method_terminates_and_falls_through(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.a]
params = []
[method.loop]
task = "t"
preference = 1
subtasks = ["t", "a"]
[method.base]
task = "t"
subtasks = ["a"]
""")
    result = plan(domain, TaskCall("t"), [])
    assert [s.name for s in result.plans[0].steps] == ["a"]
    assert result.plans[0].method == "base"


def test_only_cycles_means_no_plan_with_a_cycle_reason(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[method.loop]
task = "t"
subtasks = ["t"]
""")
    result = plan(domain, TaskCall("t"), [])
    assert result.plans == ()
    assert result.failure is not None and "cycle" in result.failure.reason


def test_depth_limit_stops_unbounded_recursion(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[method.forever]
task = "t"
subtasks = ["inc", "t"]
[task.inc]
params = []
[method.inc]
task = "inc"
pre = ["n ?x", "next ?x ?y"]
subtasks = ["step ?x ?y"]
[primitive.step]
params = ["?x", "?y"]
pre = ["n ?x"]
add = ["n ?y"]
del = ["n ?x"]
""")
    facts = [("n", "0")] + [("next", str(i), str(i + 1)) for i in range(100)]
    result = plan(domain, TaskCall("t"), facts, depth_limit=20)
    assert result.plans == ()
    assert result.failure is not None and "depth limit 20" in result.failure.reason


def test_node_budget_stops_the_search_and_says_so() -> None:
    domain = load_domain([DOMAINS / "hanoi.toml"])
    result = plan(domain, TaskCall("move-tower", ("d8", "p1", "p3", "p2")), hanoi_facts(8),
                  node_budget=50)
    assert result.plans == ()
    assert (result.stats.stopped, result.stats.nodes) == ("budget", 50)


def test_failure_names_the_deepest_task_and_unmet_precondition(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.a]
params = []
add = ["done-a"]
[primitive.b]
params = []
pre = ["done-a", "key"]
[method.m]
task = "t"
subtasks = ["a", "b"]
""")
    result = plan(domain, TaskCall("t"), [])
    assert result.failure is not None
    assert (result.failure.task, result.failure.steps_done) == ("b", 1)
    assert "precondition 'key' does not hold" in result.failure.reason


def test_unknown_root_task_is_bad_input(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, CHOICE)
    with pytest.raises(BadInput, match="unknown task 'nope'"):
        plan(domain, TaskCall("nope"), [])


def test_root_task_with_wrong_arity_is_bad_input(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, CHOICE)
    with pytest.raises(BadInput, match="takes 0 argument"):
        plan(domain, TaskCall("go", ("x",)), [])


def test_subtask_variables_unbound_by_the_method_are_bound_by_a_later_primitive(
    tmp_path: Path,
) -> None:
    domain = domain_from(tmp_path, """
[task.fetch]
params = []
[primitive.pick]
params = ["?x"]
pre = ["on-shelf ?x", "wanted ?x"]
add = ["held ?x"]
[primitive.label]
params = ["?x"]
pre = ["held ?x"]
[method.fetch]
task = "fetch"
subtasks = ["pick ?item", "label ?item"]
""")
    result = plan(domain, TaskCall("fetch"), [("on-shelf", "a"), ("on-shelf", "b"), ("wanted", "b")])
    assert [(s.name, s.args) for s in result.plans[0].steps] == [("pick", ("b",)), ("label", ("b",))]


def test_negation_with_a_free_variable_means_no_matching_fact(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.finish]
params = []
pre = ["not pending ?x"]
""")
    assert plan(domain, TaskCall("t"), []).plans == ()  # no methods: cannot decompose
    domain = domain_from(tmp_path, """
[primitive.finish]
params = []
pre = ["not pending ?x"]
""", "n.toml")
    assert plan(domain, TaskCall("finish"), [("pending", "a")]).plans == ()
    assert len(plan(domain, TaskCall("finish"), [("done", "a")]).plans) == 1


def test_states_passed_in_are_not_changed_by_planning(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, CHOICE)
    facts = [("room", "a")]
    plan(domain, TaskCall("go"), facts)
    assert facts == [("room", "a")]


def test_task_recurring_in_an_equal_state_after_steps_is_pruned(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.on]
params = []
add = ["lit"]
[primitive.off]
params = []
del = ["lit"]
[primitive.done]
params = []
[method.toggle-forever]
task = "t"
preference = 1
subtasks = ["on", "off", "t"]
[method.stop]
task = "t"
subtasks = ["done"]
""")
    result = plan(domain, TaskCall("t"), [], depth_limit=50)
    assert [s.name for s in result.plans[0].steps] == ["done"]
    assert result.stats.max_depth < 50


def test_equality_binds_a_free_variable_to_a_bound_one(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.use]
params = ["?v"]
[method.m]
task = "t"
pre = ["?copy = ?x", "item ?x"]
subtasks = ["use ?copy"]
""")
    result = plan(domain, TaskCall("t"), [("item", "k")])
    assert result.plans[0].steps[0].args == ("k",)


def test_inequality_filters_bindings(tmp_path: Path) -> None:
    domain = domain_from(tmp_path, """
[task.t]
params = []
[primitive.pair]
params = ["?a", "?b"]
[method.m]
task = "t"
pre = ["item ?a", "item ?b", "?a != ?b"]
subtasks = ["pair ?a ?b"]
""")
    result = plan(domain, TaskCall("t"), [("item", "x"), ("item", "y")], max_plans=0)
    assert [p.steps[0].args for p in result.plans] == [("x", "y"), ("y", "x")]
