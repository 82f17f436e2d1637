"""Cursor pagination, written once: lists answer `{"items": [...], "next_cursor": ...}`
and take `limit` (at most 200) and the opaque `cursor` of the previous page. A cursor
carries the sort key of the last item, so pages stay stable while rows are added."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from threadline.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most 200 items a page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the last page")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*key: Any) -> str:
    """An opaque cursor for the sort key of the last item of a page (JSON values)."""
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The sort key a cursor carries, or InvalidInput for one we did not issue."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput("cursor is not one this API gave out") from None
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput("cursor is not one this API gave out")
    return key
