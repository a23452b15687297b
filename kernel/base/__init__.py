"""What every stage stands on: canonical serialisation and the event clock,
the blake3 store, atomic files and process locks, captured subprocesses, the
opened repository with typed object lookups, its configuration, and the
policy for what a worker may inherit and start.

Knows nothing of events, workspaces or tasks; never moves a ref.
"""
