"""The HTN planner: method files → domain → deterministic search → plan DAG.

Pure: no git, no printing, no writes; it reads method and facts files (and
HDDL files, when importing them) and nothing else. The configuration is passed
in by callers. It imports only `kernel.errors`, `kernel.base` and itself.

Modules, in data-flow order (each imports only modules above it):

    model      the data model: domain, literals, plans (frozen dataclasses)
    templates  `{param}` / `{config.key}` templates in method files
    patterns   which intent patterns may be used: length, no bad backtracking
    check      definitions → a checked Domain (names, arities, orderings, workers)
    loader     TOML method files → Domain (layers, shadowing, errors); facts files
    intents    intent text → task call
    state      immutable fact sets with canonical-order lookups
    match      precondition matching: the fast (compiled) form, the general fallback
    compiled   methods prepared for the search (linear order, head unification)
    build      search trail → Plan (step ids, dependency DAG, tree)
    search     the HTN search: `plan()`
    validate   a plan checked against its domain, independently of the search
    render     plans as canonical JSON, text, dot, mermaid
    request    the front door: where inputs live, `plan_request()`, `plan_candidates()`
    hddl/      the HDDL importer: HDDL files → method files and a facts file

Import from the modules themselves; this package re-exports nothing.
"""
