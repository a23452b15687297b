"""Parsing HDDL domains and problems into the syntax tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.hddl.parse import Literal, Param, parse_domain, parse_problem

HDDL = Path(__file__).parent / "hddl"


def domain(body: str) -> str:
    return f"(define (domain d) {body})"


def method(body: str) -> str:
    return domain(f"(:task t :parameters (?x)) (:method m :parameters (?x) :task (t ?x) {body})")


def test_ordered_subtasks_are_chained_in_order() -> None:
    d = parse_domain((HDDL / "blocks.hddl").read_text())
    m = next(m for m in d.methods if m.name == "clear-both-and-move")
    assert [s.id for s in m.network.subtasks] == ["t1", "t2", "t3"]
    assert m.network.ordering == (("t1", "t2"), ("t2", "t3"))


def test_ordering_section_gives_the_listed_pairs() -> None:
    d = parse_domain((HDDL / "transport.hddl").read_text())
    m = next(m for m in d.methods if m.name == "m-deliver")
    assert m.network.ordering == (("t1", "t2"), ("t2", "t3"), ("t3", "t4"))


def test_unordered_subtasks_have_no_ordering() -> None:
    d = parse_domain(method(":subtasks (and (a (p ?x)) (b (q ?x)))"))
    assert d.methods[0].network.ordering == ()


def test_greater_than_ordering_is_reversed() -> None:
    d = parse_domain(method(":subtasks (and (a (p ?x)) (b (q ?x))) :ordering (> a b)"))
    assert d.methods[0].network.ordering == (("b", "a"),)


def test_a_type_after_several_variables_applies_to_all_of_them() -> None:
    d = parse_domain((HDDL / "transport.hddl").read_text())
    drive = next(a for a in d.actions if a.name == "drive")
    assert drive.params == (
        Param("?v", "vehicle"), Param("?l1", "location"), Param("?l2", "location")
    )


def test_an_untyped_parameter_is_an_object() -> None:
    d = parse_domain(method(":subtasks ()"))
    assert d.methods[0].params == (Param("?x", "object"),)


def test_type_declarations_keep_their_parent() -> None:
    d = parse_domain((HDDL / "hanoi.hddl").read_text())
    assert d.types == (("place", "object"), ("disc", "place"), ("peg", "place"))


def test_negated_precondition_is_a_negative_literal() -> None:
    d = parse_domain((HDDL / "blocks.hddl").read_text())
    m = next(m for m in d.methods if m.name == "clear-both-and-move")
    assert m.precondition == (Literal("on", ("?x", "?y"), positive=False),)


def test_action_effects_keep_adds_and_deletes() -> None:
    d = parse_domain((HDDL / "blocks.hddl").read_text())
    put_down = next(a for a in d.actions if a.name == "put-down")
    assert put_down.effect == (
        Literal("holding", ("?x",), False), Literal("clear", ("?x",)),
        Literal("handempty", ()), Literal("ontable", ("?x",)),
    )


def test_a_subtask_without_an_id_gets_one() -> None:
    d = parse_domain((HDDL / "hanoi.hddl").read_text())
    m = next(m for m in d.methods if m.name == "shift-disc")
    assert [(s.id, s.task) for s in m.network.subtasks] == [("task0", "move")]


def test_problem_reads_objects_network_and_facts() -> None:
    p = parse_problem((HDDL / "blocks-p1.hddl").read_text())
    assert p.objects == (Param("a", "block"), Param("b", "block"), Param("c", "block"))
    assert [(s.task, s.args) for s in p.htn.subtasks] == [
        ("place-on-table", ("c",)), ("place-on", ("b", "c")), ("place-on", ("a", "b"))
    ]
    assert ("on", "c", "a") in p.init and ("handempty",) in p.init


def test_names_are_case_insensitive_and_comments_ignored() -> None:
    d = parse_domain("(DEFINE (Domain D) ; a comment (\n (:TASK Go :parameters (?X)))")
    assert (d.name, d.tasks[0].name, d.tasks[0].params) == ("d", "go", (Param("?x", "object"),))


def test_unclosed_list_reports_file_line_and_column() -> None:
    with pytest.raises(BadInput, match=r"^dom\.hddl:2:3: unclosed '\('"):
        parse_domain("(define (domain d)\n  (:task t :parameters (?x)", "dom.hddl")


def test_stray_closing_parenthesis_is_located() -> None:
    with pytest.raises(BadInput, match=r"^dom\.hddl:1:20: unbalanced '\)'"):
        parse_domain("(define (domain d)))", "dom.hddl")


def test_disjunctive_precondition_is_refused_with_advice() -> None:
    with pytest.raises(BadInput, match=r":1:\d+: \(or …\) .* one method per disjunct"):
        parse_domain(method(":precondition (or (p ?x) (q ?x)) :subtasks ()"))


def test_conditional_effect_is_refused_with_advice() -> None:
    text = domain("(:action a :parameters (?x) :effect (when (p ?x) (q ?x)))")
    with pytest.raises(BadInput, match=r"\(when …\).*conditional effects: split the action"):
        parse_domain(text)


def test_method_constraints_are_read_as_inequalities() -> None:
    d = parse_domain(method(":subtasks (a (p ?x)) :constraints (and (not (= ?x ?y)))"))
    assert d.methods[0].network.constraints == (Literal("=", ("?x", "?y"), positive=False),)


def test_a_constraint_other_than_equality_is_refused_with_advice() -> None:
    with pytest.raises(BadInput, match=r"\(q …\) in the :constraints .* move it into the :precondition"):
        parse_domain(method(":subtasks (a (p ?x)) :constraints (q ?x)"))


def test_ordering_on_an_unknown_subtask_is_located() -> None:
    with pytest.raises(BadInput, match=r"<domain>:1:\d+: ordering names unknown subtask 'c'"):
        parse_domain(method(":subtasks (and (a (p ?x))) :ordering (< a c)"))


def test_numeric_fluents_are_refused() -> None:
    with pytest.raises(BadInput, match=r":functions \(numeric fluents\) are not supported"):
        parse_domain(domain("(:functions (cost))"))


def test_infix_ordering_as_written_by_ipc_2020_files() -> None:
    d = parse_domain(method(":subtasks (and (a (p ?x)) (b (q ?x))) :ordering (and (a < b))"))
    assert d.methods[0].network.ordering == (("a", "b"),)


def test_a_task_with_empty_precondition_and_effect_is_accepted() -> None:
    d = parse_domain(domain("(:task go :parameters (?x) :precondition () :effect ())"))
    assert d.tasks[0].name == "go"


def test_a_compound_task_precondition_is_refused_with_advice() -> None:
    with pytest.raises(BadInput, match="compound task 'go' .* move it into each of its methods"):
        parse_domain(domain("(:task go :parameters (?x) :precondition (p ?x))"))


def test_empty_constraints_are_accepted() -> None:
    d = parse_domain(method(":subtasks (a (p ?x)) :constraints ( )"))
    assert [s.id for s in d.methods[0].network.subtasks] == ["a"]


def test_a_problem_given_as_the_domain_says_which_file_comes_first() -> None:
    with pytest.raises(BadInput, match=r"p\.hddl:1:1: .* this file is a problem; give the domain file first"):
        parse_domain((HDDL / "blocks-p1.hddl").read_text().split("\n", 1)[1], "p.hddl")
