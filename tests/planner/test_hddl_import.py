"""Importing HDDL files: the method and facts files written, and what they load as."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kernel.errors import BadInput
from kernel.planner.hddl import importer as hddl_import
from kernel.planner.hddl import parse as hddl
from kernel.planner.hddl import translate as hddl_translate
from kernel.planner.loader import load_domain, load_facts
from kernel.planner.model import Domain

HDDL = Path(__file__).parent / "hddl"


def imported(domain: str, problem: str | None = None) -> hddl_translate.Imported:
    d = hddl.parse_domain((HDDL / f"{domain}.hddl").read_text(), f"{domain}.hddl")
    p = None
    if problem is not None:
        p = hddl.parse_problem((HDDL / f"{problem}.hddl").read_text(), f"{problem}.hddl")
    return hddl_translate.translate(d, p)


def without_origins(domain: Domain) -> tuple[object, ...]:
    return (
        {k: replace(v, origin=None) for k, v in domain.tasks.items()},
        {k: replace(v, origin=None) for k, v in domain.operators.items()},
        {k: tuple(replace(m, origin=None) for m in ms) for k, ms in domain.methods.items()},
    )


@pytest.mark.parametrize(("domain", "problem"), [("transport", "transport-p1"), ("hanoi", "hanoi-p3")])
def test_written_method_files_load_as_the_translated_domain(
    tmp_path: Path, domain: str, problem: str
) -> None:
    result = hddl_import.import_hddl(HDDL / f"{domain}.hddl", HDDL / f"{problem}.hddl", tmp_path)
    loaded = load_domain(result.method_files)
    assert without_origins(loaded) == without_origins(hddl_translate.build(imported(domain, problem)))


def test_written_facts_file_holds_the_problem_facts(tmp_path: Path) -> None:
    result = hddl_import.import_hddl(HDDL / "blocks.hddl", HDDL / "blocks-p1.hddl", tmp_path)
    assert result.facts_file == tmp_path / "facts" / "blocks-p1.toml"
    assert set(load_facts(result.facts_file)) == set(imported("blocks", "blocks-p1").facts)


def test_an_unordered_method_is_written_unordered(tmp_path: Path) -> None:
    (tmp_path / "flags.hddl").write_text(
        "(define (domain flags) (:task both)"
        " (:method m :parameters () :task (both) :subtasks (and (a (x)) (b (y))))"
        " (:action x :parameters ()) (:action y :parameters ()))"
    )
    result = hddl_import.import_hddl(tmp_path / "flags.hddl", None, tmp_path / "out")
    assert load_domain(result.method_files).methods["both"][0].ordering == ()


def test_a_name_clashing_with_the_shipped_methods_is_refused_at_import(tmp_path: Path) -> None:
    (tmp_path / "d.hddl").write_text(
        "(define (domain d) (:task snapshot :parameters (?x))"
        " (:method m :parameters (?x) :task (snapshot ?x) :subtasks ()))"
    )
    with pytest.raises(BadInput, match=r"clash with the method library .*\[primitive\.snapshot\]"):
        hddl_import.import_hddl(tmp_path / "d.hddl", None, tmp_path / "out")


def test_a_partial_order_is_written_and_loads_back_unchanged(tmp_path: Path) -> None:
    (tmp_path / "join.hddl").write_text(
        "(define (domain join) (:task both)"
        " (:method m :parameters () :task (both)"
        "  :subtasks (and (a (x)) (b (y)) (c (z))) :ordering (and (< a c) (< b c)))"
        " (:action x :parameters ()) (:action y :parameters ()) (:action z :parameters ()))"
    )
    result = hddl_import.import_hddl(tmp_path / "join.hddl", None, tmp_path / "out")
    ordering = load_domain(result.method_files).methods["both"][0].ordering
    assert sorted(ordering) == [("a", "c"), ("b", "c")]
