"""Canonical serialisation and the event clock.

Every record jitos hashes or commits goes through `dumps`: sorted keys, UTF-8,
compact separators, one trailing newline, and no floats (their text form is
not canonical across platforms). The clock is an explicit input: the value of
`SOURCE_DATE_EPOCH` when set, else the wall clock read once by the caller and
recorded in the event it stamps.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def _reject_floats(value: Any, where: str = "$") -> None:
    if isinstance(value, float):
        raise TypeError(f"canonical records hold no floats (found {value!r} at {where})")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical records have string keys (found {key!r} at {where})")
            _reject_floats(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _reject_floats(item, f"{where}[{index}]")


def dumps(value: Any, *, loaded: bool = False) -> bytes:
    """The one canonical byte form of a JSON-shaped value. `loaded`: the value
    is made only of what `loads` returned (string keys, no floats), so the
    check that walks it is skipped (it costs more than the encoding)."""
    if not loaded:
        _reject_floats(value)
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def _no_floats(text: str) -> Any:
    raise ValueError(f"canonical records hold no floats (found {text})")  # NaN and Infinity included


_DECODER = json.JSONDecoder(parse_float=_no_floats, parse_constant=_no_floats)


def loads(data: bytes) -> Any:
    """A canonical record's value; a float in it is a ValueError."""
    return _DECODER.decode(data.decode("utf-8"))


def now() -> int:
    """Seconds since the epoch for a new event: SOURCE_DATE_EPOCH when set."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if pinned:
        from kernel.errors import BadInput

        try:
            value = int(pinned)
        except ValueError:
            raise BadInput(
                f"SOURCE_DATE_EPOCH={pinned!r} is not a whole number of seconds; unset it or fix it"
            ) from None
        if not 0 <= value < 2**32:  # what a git commit header can carry and read back
            raise BadInput(
                f"SOURCE_DATE_EPOCH={pinned!r} is out of range (seconds since 1970, below 2^32; "
                "milliseconds by mistake?); fix or unset it"
            )
        return value
    return int(time.time())
