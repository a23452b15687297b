"""The HTN planner: method files → domain → deterministic search → plan DAG.

Pure logic: no git, no printing, no I/O beyond reading method, facts and config
files. See `kernel.planner.model` for the data model and the search entry point.
"""
