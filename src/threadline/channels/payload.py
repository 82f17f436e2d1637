"""Reading a provider's JSON defensively. A webhook body is outside input: any field may
be missing, null or of another type than documented, and one odd item must never stop
the others from landing. These readers turn every surprise into InvalidInput, which the
parsers catch item by item."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from threadline.errors import InvalidInput

JsonObject = Mapping[str, object]

# 1970 to 9998 in seconds: a timestamp outside is not one a provider sent for a message.
_LATEST_EPOCH_SECONDS = 253_370_764_800


def json_object(value: object, where: str) -> JsonObject:
    """`value` as a JSON object, or InvalidInput naming `where` it should have been."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} is not an object")
    return value


def json_array(value: object, where: str) -> list[object]:
    """`value` as a JSON array; a missing or null field is an empty one. The elements are
    left unchecked, so that each is read (and may fail) on its own."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{where} is not an array")
    return value


def optional_text(value: object) -> str | None:
    """A string field, trimmed; a number is taken as written (providers send ids and
    timestamps either way, coordinates as fractions). Anything else, or blank, is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value.strip() or None
    return None


def required_text(value: object, where: str) -> str:
    text = optional_text(value)
    if text is None:
        raise InvalidInput(f"{where} is missing")
    return text


def field(value: object, *path: str) -> object:
    """The value at `path` inside nested objects, or None where any step is missing or
    is not an object."""
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def epoch_time(value: object, *, milliseconds: bool) -> datetime | None:
    """A Unix time in seconds or milliseconds (a number or its digits) as an aware UTC
    time; None when absent or not a plausible time."""
    text = optional_text(value)
    # ASCII digits only (isdigit() also takes "²"), and few enough for int() to read.
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 20:
        return None
    seconds = int(text) / 1000 if milliseconds else int(text)
    if not 0 < seconds < _LATEST_EPOCH_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, UTC)
