"""History, the source of every truth: `refs` moves refs (nowhere else does),
`history` appends canonical event commits to `refs/jitos/history`, `state`
folds them into the current state and records through the ledger, `locks`
says which task a live process runs, `initialise` starts a history.

Knows nothing of work trees, plans or gates: later layers pass in what must
happen under the lock (see `state.ledger(recover=…)`).
"""
