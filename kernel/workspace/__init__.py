"""Speculative workspaces: `trees` (index-free tree arithmetic), `checkout` (the
one writer of work trees, and the ledger every later layer records through),
`backend` (the seam between a workspace and how its folder is stored),
`overlay` (the manifest of a workspace's delta), `sws` (create, scan,
snapshot, diff, run, discard).

Never moves the system ref or branch, and never writes into your checkout
except on behalf of a collapse (`checkout.write_paths`).
"""
