"""Which case a customer's new contact belongs to: the rule, as a pure function, so that
it can be reasoned about and property-tested apart from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from threadline.vocabulary import CaseStatus


@dataclass(frozen=True)
class CaseFacts:
    id: int
    customer_id: int
    status: CaseStatus
    resolved_at: datetime | None


@dataclass(frozen=True)
class Continue:
    case_id: int


@dataclass(frozen=True)
class Reopen:
    case_id: int


@dataclass(frozen=True)
class OpenNew:
    previous_case_id: int | None


Decision = Continue | Reopen | OpenNew


def _recently_resolved(case: CaseFacts, now: datetime, window_seconds: float) -> bool:
    return (
        case.status is CaseStatus.RESOLVED
        and case.resolved_at is not None
        and (now - case.resolved_at).total_seconds() <= window_seconds
    )


def choose_case(
    customer_id: int,
    *,
    referenced: CaseFacts | None,
    open_case: CaseFacts | None,
    last_resolved: CaseFacts | None,
    now: datetime,
    reopen_window_seconds: float,
) -> Decision:
    """Explicit reference first, else the customer's open case, else a recently resolved
    case reopened, else a new case.

    A reference only counts when it names a case of this same customer: a forwarded mail
    or a stranger quoting a case ref must never land on someone else's case. A reference
    to a case that is closed, or resolved too long ago, starts a follow-up case linked to
    it rather than joining an unrelated open one."""
    if referenced is not None and referenced.customer_id == customer_id:
        if referenced.status.is_open:
            return Continue(referenced.id)
        if _recently_resolved(referenced, now, reopen_window_seconds):
            return Reopen(referenced.id)
        return OpenNew(previous_case_id=referenced.id)
    if open_case is not None and open_case.customer_id == customer_id and open_case.status.is_open:
        return Continue(open_case.id)
    if last_resolved is not None and last_resolved.customer_id == customer_id:
        if _recently_resolved(last_resolved, now, reopen_window_seconds):
            return Reopen(last_resolved.id)
        return OpenNew(previous_case_id=last_resolved.id)
    return OpenNew(previous_case_id=None)
