"""Service-level clocks as the API shows them, for one case or a page of cases."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.models import Clock
from threadline.service_levels.clocks import is_breached
from threadline.vocabulary import Channel, ClockKind


@dataclass(frozen=True)
class ServiceLevelView:
    kind: ClockKind
    channel: Channel
    target_seconds: int
    started_at: datetime
    due_at: datetime | None
    warns_at: datetime | None
    paused: bool
    breached: bool
    met_at: datetime | None
    stopped_at: datetime | None


def service_levels(
    db: Session, case_ids: Sequence[int], now: datetime, *, live_only: bool = False
) -> dict[int, tuple[ServiceLevelView, ...]]:
    """The clocks of these cases, oldest first; with `live_only` only those not stopped
    (what the inbox shows). `breached` is live: a running clock past its due time is
    breached now, before the sweep has recorded it."""
    if not case_ids:
        return {}
    query = select(Clock).where(Clock.case_id.in_(case_ids)).order_by(Clock.case_id, Clock.id)
    if live_only:
        query = query.where(Clock.stopped_at.is_(None))
    found: dict[int, list[ServiceLevelView]] = defaultdict(list)
    for clock in db.scalars(query):
        running = clock.stopped_at is None and clock.paused_at is None
        breached = is_breached(
            running=running, due_at=clock.due_at, breached_at=clock.breached_at, now=now
        )
        found[clock.case_id].append(
            ServiceLevelView(
                kind=clock.kind,
                channel=clock.channel,
                target_seconds=clock.target_seconds,
                started_at=clock.started_at,
                due_at=clock.due_at,
                warns_at=clock.warns_at if running else None,
                paused=clock.stopped_at is None and clock.paused_at is not None,
                breached=breached,
                met_at=clock.met_at,
                stopped_at=clock.stopped_at,
            )
        )
    return {case_id: tuple(views) for case_id, views in found.items()}


def next_breach(views: Iterable[ServiceLevelView]) -> datetime | None:
    """When the first of these clocks that is running and not yet breached falls due:
    the moment a view showing them turns wrong by the clock alone."""
    return min(
        (
            view.due_at
            for view in views
            if view.due_at is not None
            and view.stopped_at is None
            and not view.paused
            and not view.breached
        ),
        default=None,
    )
