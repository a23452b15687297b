"""From a workspace to the system: `merge` (where the two disagree), `adopt`
(commits made outside jitos), `gate` (the test command on the exact tree),
`collapse` (prepare → gate → land, fast-forward, in one ref transaction) and
`undo` (a new collapse restoring an earlier tree).

The only layer that moves the system ref and branch; conflicts and red gates
are returned as data, never printed.
"""
