"""The plan validator: a plan the search returns passes; each kind of broken
plan is reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kernel.errors import IntegrityError
from kernel.planner.hddl import importer as hddl_import
from kernel.planner.hddl import parse as hddl
from kernel.planner.hddl import translate as hddl_translate
from kernel.planner.match import holds
from kernel.planner.model import Domain, Fact, Plan
from kernel.planner.request import plan_request, require_valid, verify_request
from kernel.planner.search import plan as search
from kernel.planner.state import State
from kernel.planner.validate import validate

HDDL = Path(__file__).parent / "hddl"


def solved(domain: str, problem: str) -> tuple[Domain, tuple[Fact, ...], Plan, hddl_translate.Imported]:
    imported = hddl_translate.translate(
        hddl.parse_domain((HDDL / f"{domain}.hddl").read_text()),
        hddl.parse_problem((HDDL / f"{problem}.hddl").read_text()),
    )
    assert imported.root is not None
    dom = hddl_translate.build(imported)
    result = search(dom, imported.root, imported.facts)
    return dom, imported.facts, result.plans[0], imported


def test_the_search_s_plan_is_valid() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    assert validate(dom, facts, plan).problems == ()


def test_steps_out_of_order_break_a_precondition() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    s = plan.steps
    swapped = replace(plan, steps=(s[1], s[0], *s[2:]))
    problems = validate(dom, facts, swapped).problems
    assert any("put-down(c): precondition does not hold: holding c" in p for p in problems)


def test_a_step_left_out_is_reported() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    dropped = plan.steps[1]
    steps = tuple(
        replace(s, after=tuple(a for a in s.after if a != dropped.id))
        for s in plan.steps if s is not dropped
    )
    problems = validate(dom, facts, replace(plan, steps=steps)).problems
    assert any(f"child {dropped.id} is neither a step nor a node" in p for p in problems)


def test_a_node_decomposed_by_a_method_that_does_not_fit_is_reported() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    tree = tuple(
        replace(d, method="already-on-table") if d.method == "unstack-to-table" else d
        for d in plan.tree
    )
    problems = validate(dom, facts, replace(plan, tree=tree)).problems
    assert any("already-on-table has 0 subtask(s), the tree 3" in p for p in problems)


def test_a_child_that_breaks_the_method_binding_is_reported() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    steps = tuple(
        replace(s, args=("b", "a")) if s.name == "unstack" and s.args == ("c", "a") else s
        for s in plan.steps
    )
    problems = validate(dom, facts, replace(plan, steps=steps)).problems
    assert any("unstack(b, a) does not match unstack(?x, ?z) under the method's binding" in p
               for p in problems)


def test_a_method_precondition_that_never_held_is_reported() -> None:
    dom, facts, plan, _ = solved("hanoi", "hanoi-p3")
    without = tuple(f for f in facts if f != ("smallest", "d1"))
    problems = validate(dom, without, plan).problems
    assert problems and all("the preconditions of hanoi-one hold at no point" in p for p in problems)


def test_a_missing_ordering_edge_is_reported() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    steps = tuple(replace(s, after=()) if s.name == "put-down" else s for s in plan.steps)
    problems = validate(dom, facts, replace(plan, steps=steps)).problems
    assert any("does not come after every step under t2" in p for p in problems)


def test_a_step_naming_the_wrong_parent_is_reported() -> None:
    dom, facts, plan, _ = solved("blocks", "blocks-p1")
    steps = (replace(plan.steps[0], parent="t2"), *plan.steps[1:])
    problems = validate(dom, facts, replace(plan, steps=steps)).problems
    assert f"step {plan.steps[0].id} names parent 't2', the tree 't1'" in problems


UNORDERED = """
(define (domain flags)
  (:predicates (up) (seen))
  (:task raise-and-look)
  (:method both :parameters () :task (raise-and-look)
    :subtasks (and (a (hoist)) (b (look))))
  (:action hoist :parameters () :effect (up))
  (:action look :parameters () :precondition (up) :effect (seen)))
"""


def test_unordered_steps_touching_one_fact_are_reported() -> None:
    imported = hddl_translate.translate(
        hddl.parse_domain(UNORDERED),
        hddl.parse_problem("(define (problem p) (:domain flags) (:htn :subtasks (raise-and-look)))"),
    )
    assert imported.root is not None
    dom = hddl_translate.build(imported)
    plan = search(dom, imported.root, imported.facts).plans[0]
    assert validate(dom, imported.facts, plan).ok
    loose = replace(plan, steps=tuple(replace(s, after=()) for s in plan.steps))
    problems = validate(dom, imported.facts, loose).problems
    message = (
        "steps task0.a and task0.b both touch fact (up), one writing it, "
        "but the plan does not order them"
    )
    assert problems == (message,)


def test_goal_literals_not_reached_are_named() -> None:
    dom, facts, plan, imported = solved("blocks", "blocks-p1")
    early = replace(plan, steps=plan.steps[:2], tree=())
    final = State.of(validate(dom, facts, early).final)
    assert [str(lit) for lit in imported.goal if not holds((lit,), final, {})] == [
        "on b c", "on a b"
    ]


def test_verify_request_rereads_the_library_and_facts_a_plan_used(tmp_path: Path) -> None:
    written = hddl_import.import_hddl(HDDL / "hanoi.hddl", HDDL / "hanoi-p3.hddl", tmp_path)
    _, _, plan, _ = solved("hanoi", "hanoi-p3")
    verdicts = verify_request(
        [plan], facts_file=written.facts_file, methods=[tmp_path], cwd=tmp_path
    )
    assert [(v.ok, v.steps) for v in verdicts] == [(True, 8)]


def test_verify_request_reports_facts_the_plan_does_not_fit(tmp_path: Path) -> None:
    written = hddl_import.import_hddl(HDDL / "hanoi.hddl", HDDL / "hanoi-p3.hddl", tmp_path)
    _, _, plan, _ = solved("hanoi", "hanoi-p3")
    assert written.facts_file is not None
    other = tmp_path / "facts" / "other.toml"
    other.write_text(written.facts_file.read_text().replace('"on d1 d2",', '"on d1 p2",'))
    verdicts = verify_request([plan], facts_file=other, methods=[tmp_path], cwd=tmp_path)
    assert not verdicts[0].ok


def test_a_plan_that_fails_verification_stops_jitos_plan_naming_the_problem() -> None:
    dom, facts, plan, _ = solved("hanoi", "hanoi-p3")
    broken = replace(plan, steps=plan.steps[1:])
    verdicts = (validate(dom, facts, plan), validate(dom, facts, broken))
    with pytest.raises(IntegrityError, match=r"^plan 2 fails verification: step 1 \("):
        require_valid(verdicts)


def test_plans_from_the_shipped_methods_verify(repo: Path) -> None:
    planned = plan_request("fix the bug in slug()", cwd=repo)
    verdicts = verify_request(planned.result.plans, cwd=repo)
    assert [v.problems for v in verdicts] == [()]


def test_a_subtask_template_filled_with_other_text_is_reported(repo: Path) -> None:
    planned = plan_request("fix the bug in slug()", cwd=repo)
    plan = planned.result.plans[0]
    edits = [d for d in plan.tree if d.task == "edit"]
    tree = tuple(replace(d, args=("something else",)) if d is edits[0] else d for d in plan.tree)
    steps = tuple(
        replace(s, args=("something else",)) if s.parent == edits[0].id else s for s in plan.steps
    )
    problems = verify_request([replace(plan, tree=tree, steps=steps)], cwd=repo)[0].problems
    assert any("does not fill the template" in p for p in problems)


def test_a_plan_more_levels_deep_than_python_recursion_allows_is_validated() -> None:
    n = 1500  # deeper than Python's default recursion limit
    facts = "".join(f"(next n{i} n{i - 1})" for i in range(1, n + 1))
    problem = (f"(define (problem p) (:domain countdown) (:htn :subtasks (count n{n}))"
               f" (:init (zero n0) {facts}))")
    imported = hddl_translate.translate(
        hddl.parse_domain((HDDL / "countdown.hddl").read_text()), hddl.parse_problem(problem)
    )
    assert imported.root is not None
    dom = hddl_translate.build(imported)
    plan = search(dom, imported.root, imported.facts).plans[0]
    verdict = validate(dom, imported.facts, plan)
    assert (verdict.ok, verdict.steps) == (True, n)
