"""The search's default limits, apart so the command line can show them
without importing the planner."""

DEFAULT_DEPTH_LIMIT = 10_000
DEFAULT_NODE_BUDGET = 1_000_000
