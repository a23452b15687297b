"""The HTN planner: method files → domain → deterministic search → plan DAG.

Pure logic: no git, no printing, no I/O beyond reading method, facts and config
files. Modules, upstream first:

    model      the data model (domain, literals, plans)
    templates  `{param}` / `{config.key}` templates
    state      immutable fact sets
    match      precondition matching: the fast (compiled) form, the general fallback
    check      build a Domain and check it
    loader     TOML method files → Domain (layers, shadowing, errors)
    intents    intent text → task call
    compiled   methods prepared for the search (linear order, head unification)
    build      search trail → Plan (step ids, DAG, tree)
    search     the HTN search: `plan()`
    render     plans as canonical JSON, text, dot, mermaid
    request    where methods live, initial facts, `plan_request()`: what commands call
"""

from kernel.planner.check import build_domain
from kernel.planner.intents import IntentMatch, match_intent
from kernel.planner.loader import Layer, Library, load_domain, load_facts, load_library
from kernel.planner.model import (
    Decomposition,
    Domain,
    Execution,
    Fact,
    Failure,
    Intent,
    Literal,
    Method,
    Operator,
    Plan,
    PlanResult,
    SearchStats,
    Step,
    Subtask,
    TaskCall,
    TaskDef,
)
from kernel.planner.render import canonical_json, plan_dict, result_dict
from kernel.planner.request import NoPlan, Planned, library, plan_request, require_plan
from kernel.planner.search import plan

__all__ = [
    "Decomposition",
    "Domain",
    "Execution",
    "Fact",
    "Failure",
    "Intent",
    "IntentMatch",
    "Layer",
    "Library",
    "Literal",
    "Method",
    "NoPlan",
    "Operator",
    "Plan",
    "PlanResult",
    "Planned",
    "SearchStats",
    "Step",
    "Subtask",
    "TaskCall",
    "TaskDef",
    "build_domain",
    "canonical_json",
    "library",
    "load_domain",
    "load_facts",
    "load_library",
    "match_intent",
    "plan",
    "plan_dict",
    "plan_request",
    "require_plan",
    "result_dict",
]
