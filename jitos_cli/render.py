"""How the command line writes: the one `--json` writer, colour, and the
stdout/stderr split. Every command's JSON goes through `emit_json`, so every
`--json` has the same format (docs/json.md): keys sorted, UTF-8 (not
ASCII-escaped), indented by two spaces, one trailing newline.

Writes only what it is handed: never calls the kernel, never decides what a
result means or which exit code it gets.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def emit_json(value: Any) -> None:
    """Print one JSON value on stdout in the format every `--json` shares."""
    sys.stdout.write(json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2) + "\n")


def use_colour(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def style(text: str, colour: str, stream: Any = None) -> str:
    codes = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}
    if not use_colour(stream):
        return text
    return f"\x1b[{codes[colour]}m{text}\x1b[0m"


def out(text: str = "") -> None:
    """A line of the result, on stdout."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    """A line of progress, a note or a problem, on stderr."""
    sys.stderr.write(text + "\n")


def write_junit(path: Any, suite: str, cases: list[tuple[str, str, str | None]]) -> None:
    """A JUnit XML file CI systems show: one test case per (class, name,
    failure message or None: passed), in one suite."""
    from pathlib import Path
    from xml.etree import ElementTree as ET

    failures = sum(1 for _, _, failure in cases if failure is not None)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    for classname, name, failure in cases:
        case = ET.SubElement(node, "testcase", classname=classname, name=name)
        if failure is not None:
            ET.SubElement(case, "failure", message=failure.splitlines()[0][:500]).text = failure
    from kernel.errors import BadInput

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
    except OSError as error:
        raise BadInput(f"cannot write the JUnit report {target}: {error.strerror or error}; "
                       "give a path in a folder you can write") from None
