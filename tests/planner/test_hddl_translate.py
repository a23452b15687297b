"""Translating HDDL into jitos definitions, and planning with the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.hddl import parse as hddl
from kernel.planner.hddl import translate as hddl_translate
from kernel.planner.match import holds
from kernel.planner.model import Literal, Subtask
from kernel.planner.search import plan as search
from kernel.planner.state import State
from kernel.planner.validate import validate

HDDL = Path(__file__).parent / "hddl"


def imported(domain: str, problem: str | None = None) -> hddl_translate.Imported:
    d = hddl.parse_domain((HDDL / f"{domain}.hddl").read_text(), f"{domain}.hddl")
    p = None
    if problem is not None:
        p = hddl.parse_problem((HDDL / f"{problem}.hddl").read_text(), f"{problem}.hddl")
    return hddl_translate.translate(d, p)


def test_objects_get_a_fact_for_their_type_and_every_supertype() -> None:
    facts = imported("hanoi", "hanoi-p3").facts
    assert {("disc", "d1"), ("place", "d1"), ("object", "d1"), ("peg", "p2")} <= set(facts)


def test_a_variable_bound_by_nothing_else_is_bound_by_its_type() -> None:
    m = next(m for m in imported("transport").methods if m.name == "m-deliver")
    assert m.pre == (Literal("at", ("?p", "?l1")), Literal("vehicle", ("?v",)))


def test_a_parameter_every_caller_passes_typed_is_not_checked_again() -> None:
    op = next(o for o in imported("blocks").operators if o.name == "pick-up")
    assert op.pre == (
        Literal("clear", ("?x",)), Literal("ontable", ("?x",)), Literal("handempty", ())
    )


def test_a_method_narrowing_its_task_s_parameter_type_checks_it() -> None:
    d = hddl.parse_domain(
        "(define (domain d) (:types truck - object) (:task go :parameters (?x))"
        " (:method by-truck :parameters (?x - truck) :task (go ?x) :subtasks ()))"
    )
    m = hddl_translate.translate(d).methods[0]
    assert m.pre == (Literal("truck", ("?x",)),)


def test_negative_effects_become_deletes() -> None:
    op = next(o for o in imported("blocks").operators if o.name == "put-down")
    assert (op.add, op.delete) == (
        (Literal("clear", ("?x",)), Literal("handempty", ()), Literal("ontable", ("?x",))),
        (Literal("holding", ("?x",)),),
    )


def test_the_problem_network_becomes_one_method_of_the_root_task() -> None:
    imp = imported("blocks", "blocks-p1")
    root = next(m for m in imp.methods if m.task == "solve-blocks-p1")
    assert [s.task for s in root.subtasks] == ["place-on-table", "place-on", "place-on", "goal-blocks-p1"]
    assert ("t1", "t2") in root.ordering and ("t2", "t3") in root.ordering


def test_the_goal_becomes_a_last_step_that_requires_it() -> None:
    imp = imported("blocks", "blocks-p1")
    root = next(m for m in imp.methods if m.task == "solve-blocks-p1")
    goal = next(o for o in imp.operators if o.name == "goal-blocks-p1")
    assert root.subtasks[-1] == Subtask("goal", "goal-blocks-p1", ())
    assert root.ordering == (("t1", "t2"), ("t2", "t3"), ("t3", "goal"))
    assert goal.pre == (
        Literal("ontable", ("c",)), Literal("on", ("b", "c")), Literal("on", ("a", "b"))
    )


def test_a_problem_naming_another_domain_is_imported_with_a_note() -> None:
    d = hddl.parse_domain((HDDL / "blocks.hddl").read_text(), "blocks.hddl")
    text = (HDDL / "blocks-p1.hddl").read_text().replace("(:domain blocks)", "(:domain bw)")
    imp = hddl_translate.translate(d, hddl.parse_problem(text, "p1.hddl"))
    assert imp.notes == ("p1.hddl names domain 'bw', blocks.hddl defines 'blocks'; imported anyway",)


def test_a_problem_for_another_domain_fails_on_its_tasks() -> None:
    d = hddl.parse_domain((HDDL / "blocks.hddl").read_text(), "blocks.hddl")
    p = hddl.parse_problem((HDDL / "hanoi-p3.hddl").read_text(), "hanoi-p3.hddl")
    with pytest.raises(BadInput, match="hanoi-p3.hddl:5:27: unknown task 'hanoi'"):
        hddl_translate.translate(d, p)


def test_an_undeclared_type_is_refused() -> None:
    d = hddl.parse_domain("(define (domain d) (:task go :parameters (?x - lorry)))", "d.hddl")
    with pytest.raises(BadInput, match="d.hddl: unknown type 'lorry'; declare it under :types"):
        hddl_translate.translate(d)


def test_a_type_named_like_a_predicate_of_other_arity_is_refused() -> None:
    d = hddl.parse_domain("(define (domain d) (:types road - object) (:predicates (road ?a ?b)))")
    with pytest.raises(BadInput, match="type 'road' and predicate 'road'"):
        hddl_translate.translate(d)


@pytest.mark.parametrize(
    ("domain", "problem", "length"),
    [("blocks", "blocks-p1", 7), ("hanoi", "hanoi-p3", 8), ("transport", "transport-p1", 5)],
)
def test_imported_problems_are_solved_with_valid_plans(domain: str, problem: str, length: int) -> None:
    imp = imported(domain, problem)
    assert imp.root is not None
    dom = hddl_translate.build(imp)
    result = search(dom, imp.root, imp.facts)
    verdict = validate(dom, imp.facts, result.plans[0])
    assert (len(result.plans[0].steps), verdict.problems) == (length, ())
    final = State.of(verdict.final)
    assert all(holds((lit,), final, {}) for lit in imp.goal)


def test_left_recursive_driving_finds_a_two_road_route() -> None:
    imp = imported("transport", "transport-p1")
    assert imp.root is not None
    steps = search(hddl_translate.build(imp), imp.root, imp.facts).plans[0].steps
    assert [s.args[1:] for s in steps if s.name == "drive"] == [
        ("city-1", "city-2"), ("city-2", "city-3"), ("city-3", "city-4")
    ]


def test_method_constraints_become_preconditions() -> None:
    d = hddl.parse_domain(
        "(define (domain d) (:task go :parameters (?x ?y))"
        " (:method m :parameters (?x ?y) :task (go ?x ?y) :subtasks ()"
        "  :constraints (and (not (= ?x ?y)))))"
    )
    assert hddl_translate.translate(d).methods[0].pre == (Literal("=", ("?x", "?y"), negated=True),)


def test_a_parameter_used_nowhere_is_not_enumerated() -> None:
    d = hddl.parse_domain(
        "(define (domain d) (:types truck - object) (:task go)"
        " (:method m :parameters (?spare - truck) :task (go) :subtasks ()))"
    )
    assert hddl_translate.translate(d).methods[0].pre == ()
