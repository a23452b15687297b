"""Intent → plan → execution: `model` (tasks as history knows them), `workers`
(run a step's process and judge it), `scheduler` (run a plan's steps in its
workspace, recording dispatch and result), `intent` (declare, resume, cancel).

Records through the ledger like everyone else; lands only through `land`.
"""
