"""jitos kernel: everything that does work. Modules read in data-flow order:
errors → canonical → store → repo → refs → history → planner → trees → sws → views.

The kernel never prints or prompts; it returns frozen dataclasses and raises
`kernel.errors.JitosError` subclasses.
"""

__version__ = "0.1.0"
