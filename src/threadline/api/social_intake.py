"""Landing what a Meta or X delivery carried: every message through `receive()`, one by
one, and every delivery report through the outbox's `record_delivery_report()`.

Each message is its own transaction, so one the core refuses (an id it cannot take, a
text too long) is logged and the others still land. A failure to store (the database
away) is not caught: the provider gets a 5xx and delivers the batch again later, and
since `receive()` de-duplicates by (channel, external id) the messages that did land
before the failure land only once."""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from threadline.actions import Actor, Env, receive
from threadline.actions.outbox import record_delivery_report
from threadline.channels.batch import Batch, DeliveryReport
from threadline.errors import NotFound, ThreadlineError

log = logging.getLogger(__name__)


class Receipt(BaseModel):
    """What a delivery came to. Providers only look at the status; the counts are for
    whoever reads the provider's delivery log."""

    received: int = Field(description="Messages that landed on a case")
    duplicates: int = Field(description="Messages that had landed before (a retry)")
    reports: int = Field(description="Delivery reports about our messages, recorded")
    ignored: int = Field(
        description="Items passed over: our own echoes, events not handled, unreadable "
        "or refused items, reports about messages that are not ours"
    )


def land(db: Session, env: Env, batch: Batch, *, source: str) -> Receipt:
    """Hand every message and report of `batch` to its action; `source` names the
    webhook in the log."""
    for item in batch.ignored:
        if item.problem:
            log.warning("%s webhook: could not read an item: %s", source, item.reason)
        else:
            log.info("%s webhook: passed over %s", source, item.reason)
    received = duplicates = refused = 0
    for inbound in batch.messages:
        try:
            landed = receive(db, env, inbound)
        except ThreadlineError as exc:
            if exc.status >= 500:
                raise
            # Sending it again would be refused again: say so and carry on.
            log.warning(
                "%s webhook: %s message %s refused: %s",
                source,
                inbound.channel.value,
                inbound.external_id,
                exc.message,
            )
            refused += 1
            continue
        if landed.duplicate:
            duplicates += 1
        else:
            received += 1
    reports = sum(_record(db, env, report, source) for report in batch.reports)
    not_ours = len(batch.reports) - reports
    return Receipt(
        received=received,
        duplicates=duplicates,
        reports=reports,
        ignored=len(batch.ignored) + refused + not_ours,
    )


def _record(db: Session, env: Env, report: DeliveryReport, source: str) -> bool:
    try:
        record_delivery_report(
            db,
            env,
            provider_ref=report.provider_ref,
            status=report.delivery,
            error=report.error,
            actor=Actor.channel(report.channel.value),
        )
    except NotFound:
        # Sent by another system on the same page or number, or before Threadline.
        log.info(
            "%s webhook: %s for message %s, which is not ours",
            source,
            report.delivery.value,
            report.provider_ref,
        )
        return False
    return True
