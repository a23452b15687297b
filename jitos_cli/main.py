"""Entry point: run the typer app behind the one error handler that maps
`JitosError` to its documented exit code, Ctrl-C to 130, and anything
unexpected to 1 (with the traceback only under `--debug`)."""

from __future__ import annotations

import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    from kernel.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, JitosError

    try:
        from jitos_cli.app import app

        code = app(args=args, prog_name="jitos", standalone_mode=False)
        if isinstance(code, int):
            return code
    except JitosError as err:
        if debug:
            traceback.print_exc()
        print(f"jitos: error: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("jitos: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception as err:  # noqa: BLE001 - the one boundary that catches everything
        # typer may bundle its own copy of click, so match click's exceptions by name.
        lineage = {cls.__name__ for cls in type(err).__mro__}
        if "Abort" in lineage:
            print("jitos: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if "ClickException" in lineage:
            getattr(err, "show")()  # noqa: B009 - click's API, matched by name above
            return int(getattr(err, "exit_code", 2))
        if debug:
            traceback.print_exc()
        print(f"jitos: internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


def run() -> None:
    sys.exit(main())
