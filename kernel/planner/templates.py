"""Templates in method files: `{name}` is the value of parameter `?name` (or an
intent's capture), `{config.section.key}` a configuration value, `{{`/`}}` are
literal braces. In an argv, an element that is exactly one list-valued
`{config…}` placeholder splices the list; anywhere else a list is shell-quoted
and joined. A missing config key leaves its placeholder text in place and is
reported, so a plan can always be shown.

This module never reads files.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from kernel.errors import BadInput

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_REF = re.compile(r"^(?:config(?:\.[A-Za-z0-9_\-]+)+|[A-Za-z_][A-Za-z0-9_\-]*)\Z")


def placeholders(template: str, where: str) -> list[str]:
    """The references in `template`; raises BadInput (naming `where`) if malformed."""
    refs: list[str] = []
    for m in _TOKEN.finditer(template):
        text = m.group(0)
        if text in ("{{", "}}"):
            continue
        ref = m.group(1)
        if ref is None or not _REF.match(ref):
            raise BadInput(
                f"{where}: template '{template}' has a malformed placeholder {text!r}; "
                "write {name}, {config.section.key}, or {{ and }} for braces"
            )
        refs.append(ref)
    return refs


def config_value(config: Mapping[str, object], dotted: str) -> object | None:
    """`config["a"]["b"]` for `"a.b"`, or None when any part is missing."""
    node: object = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return shlex.join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(
    template: str, values: Mapping[str, str], config: Mapping[str, object], missing: list[str]
) -> str:
    """Fill `template`; appends config keys it could not find to `missing`."""

    def fill(m: re.Match[str]) -> str:
        text = m.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        ref = m.group(1)
        if ref is None:
            return text
        if ref.startswith("config."):
            value = config_value(config, ref[len("config.") :])
            if value is None:
                missing.append(ref[len("config.") :])
                return text
            return _text(value)
        return values.get(ref, text)

    return _TOKEN.sub(fill, template)


def render_argv(
    argv: Sequence[str], values: Mapping[str, str], config: Mapping[str, object]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The filled argv and the config keys it lacked (sorted, unique)."""
    out: list[str] = []
    missing: list[str] = []
    for element in argv:
        m = _TOKEN.fullmatch(element)
        if m and m.group(1) and m.group(1).startswith("config."):
            value = config_value(config, m.group(1)[len("config.") :])
            if isinstance(value, list | tuple):
                out.extend(str(v) for v in value)
                continue
        out.append(render(element, values, config, missing))
    return tuple(out), tuple(sorted(set(missing)))
