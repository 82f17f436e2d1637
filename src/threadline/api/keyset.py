"""Pages of lists ordered by id alone (customers, agents): the cursor carries the id of
the last item. Built on pagination.py, which stays the one cursor format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from threadline.api.pagination import decode_cursor, encode_cursor
from threadline.errors import InvalidInput

MAX_ID = 2**63 - 1  # the largest key PostgreSQL's bigint holds


class HasId(Protocol):
    @property
    def id(self) -> int: ...


def after_id(cursor: str | None) -> int | None:
    """The id a cursor carries, or InvalidInput for one this API did not give out."""
    if not cursor:  # `?cursor=` with nothing after it: the first page
        return None
    key = decode_cursor(cursor, 1)
    if key is None:
        return None
    # bool is an int to Python, but never an id.
    if type(key[0]) is not int or not 0 <= key[0] <= MAX_ID:
        raise InvalidInput("cursor is not one this API gave out")
    return key[0]


def next_cursor(items: Sequence[HasId], more: bool) -> str | None:
    """The cursor of the page after `items`, or None when they were the last."""
    return encode_cursor(items[-1].id) if more and items else None
