"""Guards for text and times that come from outside, shared by the actions."""

from __future__ import annotations

from datetime import UTC, datetime

from threadline.errors import InvalidInput

EARLIEST_YEAR = 1970
LATEST_YEAR = 9998


def clean(text: str) -> str:
    """Text as the databases can store it. PostgreSQL refuses NUL characters; a customer's
    message must never be lost for one, so each becomes U+FFFD (the replacement mark)."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean(text)


def checked_time(value: datetime | None, name: str = "occurred_at") -> datetime | None:
    """An aware time within the years a database stores, in UTC; InvalidInput otherwise."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone offset")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} is out of range") from None
    if not EARLIEST_YEAR <= utc.year <= LATEST_YEAR:
        raise InvalidInput(f"{name} must fall between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return utc
