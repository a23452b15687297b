"""Entry point: run the typer app behind the one error handler that maps
`JitosError` to its documented exit code, Ctrl-C to 130, and anything
unexpected to 1 (with the traceback only under `jitos --debug`).

A command's exit code is what its function returns (an `int`, or `None` for
0) or the code of the error it raises. Nothing else here may decide an exit
code, and no command may call `sys.exit` or raise `typer.Exit`.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

from jitos_cli import __version__
from kernel.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, JitosError

VERSION_FLAGS = ("--version", "-V")


def main(argv: list[str] | None = None) -> int:
    """Run `jitos ARGV…` (default: this process's arguments) and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Started with Ctrl-C ignored (`cmd &` in a script, many harnesses):
        # Python keeps it ignored, so nothing could stop a step or a gate.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    at = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
    if any(a in VERSION_FLAGS for a in args[:at]):  # answered before the command line is even built
        print(f"jitos {__version__}")
        return EXIT_OK
    _load_git_on_first_use()
    # Each command imports what it uses, when it runs.
    from jitos_cli.app import command_line, options

    options.debug = False  # set by the app's callback when `--debug` comes before the command
    try:
        completing = "_JITOS_COMPLETE" in os.environ  # the shell asks for completions: every command
        wanted = args[at] if at < len(args) and "-h" not in args[:at] and "--help" not in args[:at] else None
        app = command_line(None if completing else wanted)
        code = app(args=args, prog_name="jitos", standalone_mode=False)
    except JitosError as err:
        _traceback_under_debug()
        print(f"jitos: error: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (EXIT_OK if exit_.code is None else EXIT_INTERNAL)
    except Exception as err:  # noqa: BLE001 - the one boundary that catches everything
        return _unexpected(err)
    return code if isinstance(code, int) else EXIT_OK


def _load_git_on_first_use() -> None:
    """Make `import pygit2` cheap until something uses it: importing it costs
    ~55 ms, more than most commands' own work. Until then `pygit2` is a
    stand-in module that imports the real one at its first attribute read and
    takes on its contents (as Mercurial's demandimport does for its start-up);
    `import pygit2` statements only look at its `__spec__`. A command that
    reads only jitos's files (`jitos status` from saved folds) never loads it."""
    if "pygit2" in sys.modules:
        return
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("pygit2")
    if spec is None:
        return  # the first import fails with its own message
    stand_in = types.ModuleType("pygit2")
    stand_in.__spec__ = spec

    def load(name: str) -> object:
        if sys.modules.get("pygit2") is stand_in:
            del sys.modules["pygit2"]
            real = importlib.import_module("pygit2")
            stand_in.__dict__.update({k: v for k, v in real.__dict__.items() if k != "__getattr__"})
        return stand_in.__dict__[name] if name in stand_in.__dict__ else getattr(sys.modules["pygit2"], name)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules["pygit2"] = stand_in


def _unexpected(err: Exception) -> int:
    """Click's own exceptions (usage errors, an abort at a prompt) keep their
    meaning; anything else is a bug: one line, the traceback under --debug."""
    # typer may bundle its own copy of click, so match click's exceptions by name.
    lineage = {cls.__name__ for cls in type(err).__mro__}
    if "Abort" in lineage:
        return _interrupted()
    if "ClickException" in lineage:
        getattr(err, "show")()  # noqa: B009 - click's API, matched by name above
        return int(getattr(err, "exit_code", 2))
    _traceback_under_debug()
    print(f"jitos: internal error: {type(err).__name__}: {err} (rerun as `jitos --debug …` for the traceback)",
          file=sys.stderr)
    return EXIT_INTERNAL


def _interrupted() -> int:
    print("jitos: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _traceback_under_debug() -> None:
    from jitos_cli.app import options

    if options.debug:
        traceback.print_exc()


def run() -> None:
    sys.exit(main())
