"""jitos kernel: everything that does work, in layers that follow the data.

    errors      the error hierarchy: a one-line message and an exit code each
    base/       what every stage stands on: canonical JSON and the clock, the
                blake3 store, atomic files and locks, captured processes, the
                repository, its configuration, what workers may inherit
    record/     history: refs (the only place refs move), the event chain,
                the fold into state and the ledger that appends, task locks, init
    planner/    intent text and method files → a plan DAG (pure: no git, no I/O
                but reading method files); hddl/ imports published HTN domains
    workspace/  speculative workspaces: tree arithmetic, the backend seam, the
                one writer of work trees, overlay manifests, snapshots
    land/       from a workspace to the system: merge check, adopt, the gate,
                collapse (prepare → gate → land), undo
    tasks/      intent → plan → steps: the task model, workers, the scheduler
    views       status / log / why, verify and audit: folds over history (this
                clone's and those fetched from others), read-only
    demo        the built-in example, end to end

A module imports only its own package and the layers above it in this list
(`tests/test_layers.py` checks it). The kernel never prints or prompts: it
returns frozen dataclasses and raises `kernel.errors.JitosError` subclasses;
`jitos_cli` renders them. docs/architecture.md says which module owns what.
"""

__version__ = "0.1.0"
