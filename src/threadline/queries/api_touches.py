"""Touches as the JSON API answers them: one case's, or every case's of one customer,
oldest first, a page at a time, in three queries a page (touches with their authors,
their attachments, and the existence check of the case or customer).

`private` says whether the caller may read internal notes and system events
(Permission.READ_PRIVATE); without it only customer-facing touches are listed."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import Case, Customer, Touch
from threadline.queries.api_cases import Key, Slice, after_key
from threadline.queries.cases import customer_facing
from threadline.queries.touches import TouchRow, touch_rows, touch_select


def case_touches(
    db: Session, case_id: int, *, private: bool, after: Key | None, limit: int
) -> Slice[TouchRow]:
    """A case's touches, oldest first: three queries."""
    if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFound(f"case {case_id} does not exist")
    return _touches(db, Touch.case_id == case_id, private=private, after=after, limit=limit)


def customer_touches(
    db: Session, customer_id: int, *, private: bool, after: Key | None, limit: int
) -> Slice[TouchRow]:
    """Every touch of every case of one customer, all channels, oldest first."""
    if db.scalar(select(Customer.id).where(Customer.id == customer_id)) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return _touches(db, Case.customer_id == customer_id, private=private, after=after, limit=limit)


def _touches(
    db: Session,
    scope: ColumnElement[bool],
    *,
    private: bool,
    after: Key | None,
    limit: int,
) -> Slice[TouchRow]:
    query = touch_select(scope)
    if not private:
        query = query.where(*customer_facing())
    if after is not None:
        query = query.where(after_key(Touch.occurred_at, Touch.id, after, ascending=True))
    rows = db.execute(query.order_by(Touch.occurred_at, Touch.id).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    items = tuple(touch_rows(db, page))
    next_key = (items[-1].occurred_at, items[-1].id) if more and items else None
    return Slice(items, next_key)
