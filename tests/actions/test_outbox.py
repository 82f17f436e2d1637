"""The outbox's actions: what reply() queues for email, claims (exactly once across
concurrent claimers, on both databases), and what a provider's answer makes of a
message: sent, tried again with back-off, held, or failed with a note on the case that
brings it back to its owner. Nothing is ever dropped silently."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from tests.factories import agent, inbound, receive_email
from tests.mail_support import CUSTOMER_MAIL_ID, drain, email_case
from threadline.actions import Actor, Env, ReplyResult, add_identity, receive, reply, set_status
from threadline.actions.outbox import (
    RetryPolicy,
    claim_outbox,
    hold_outbox,
    record_delivery,
    record_delivery_report,
    release_held,
)
from threadline.channels.base import DeliveryResult
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import AuditEntry, Case, OutboxMessage, ThreadKey, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    OutboxState,
    TouchKind,
)

SENT = DeliveryResult(status=Delivery.SENT, external_id="<m1@threadline.localhost>")
RELAY_DOWN = DeliveryResult(status=Delivery.FAILED, error="451 4.3.0 relay down", retry=True)
NO_SUCH_USER = DeliveryResult(status=Delivery.FAILED, error="550 5.1.1 no such user")


def email_reply(db: Session, env: Env, text: str = "It ships today.") -> ReplyResult:
    amy = agent(db, env)
    case = email_case(db, env)
    return reply(db, env, Actor.agent(amy.id), case.case_id, text)


def outbox(db: Session, outbox_id: int) -> OutboxMessage:
    db.expire_all()
    row = db.get(OutboxMessage, outbox_id)
    assert row is not None
    return row


def touch(db: Session, touch_id: int) -> Touch:
    db.expire_all()
    row = db.get(Touch, touch_id)
    assert row is not None
    return row


def notes(db: Session, case_id: int) -> list[Touch]:
    db.expire_all()
    return list(
        db.scalars(
            select(Touch)
            .where(Touch.case_id == case_id, Touch.kind == TouchKind.NOTE)
            .order_by(Touch.id)
        )
    )


def audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# What reply() queues for email


def test_an_email_reply_is_queued_with_its_threading_fixed(db: Session, env: Env) -> None:
    result = email_reply(db, env)
    payload = outbox(db, result.outbox_id).payload
    message_id = payload["message_id"]
    assert message_id.startswith("<") and message_id.endswith("@threadline.localhost>")
    assert len(message_id.strip("<>").split("@")[0]) == 32  # a uuid4 in hex
    # The customer's mail is answered: its References, then the mail itself.
    assert payload["in_reply_to"] == f"<{CUSTOMER_MAIL_ID}>"
    assert payload["references"] == ["<root-1@example.com>", "<cust-1@example.com>"]
    assert payload["from"] == "help@shop.example"
    assert payload["subject"] == "Where is order 1001?"
    assert payload["case_ref"] == f"TL-{result.case_id + 1000}"
    assert payload["to"] == {"kind": "email", "value": "ann@example.com"}
    # Our Message-ID is a thread key at once, tied to the reply's touch.
    key = db.scalars(select(ThreadKey).where(ThreadKey.touch_id == result.touch_id)).one()
    assert key.key == f"email:{message_id.strip('<>')}"
    assert key.case_id == result.case_id
    assert touch(db, result.touch_id).meta["message_id"] == message_id


def test_the_customers_answer_threads_before_the_reply_was_even_sent(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    result = email_reply(db, env)  # queued, not sent
    ours = outbox(db, result.outbox_id).payload["message_id"].strip("<>")
    set_status(db, env, Actor.system(), result.case_id, CaseStatus.RESOLVED)
    clock.advance(timedelta(days=5))
    other = receive_email(db, env, "ann@example.com", "A new matter")
    assert other.case_id != result.case_id
    # An answer to our reply follows its case (as a follow-up, it was resolved long
    # ago), not the customer's newer open case.
    answer = receive_email(db, env, "ann@example.com", "Thanks!", references=(f"email:{ours}",))
    follow_up = db.get(Case, answer.case_id)
    assert follow_up is not None and answer.case_id != other.case_id
    assert follow_up.previous_case_id == result.case_id


def test_an_email_reply_without_a_customer_mail_to_answer(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "hi"))
    add_identity(db, env, Actor.system(), first.customer_id, "email", "bob@example.com")
    result = reply(db, env, Actor.agent(amy.id), first.case_id, "Details by mail.", channel="email")
    payload = outbox(db, result.outbox_id).payload
    assert payload["in_reply_to"] is None and payload["references"] == []
    assert "from" not in payload
    assert payload["message_id"].endswith("@threadline.localhost>")
    # A second mail threads onto our first one.
    again = reply(db, env, Actor.agent(amy.id), first.case_id, "And a receipt.", channel="email")
    second = outbox(db, again.outbox_id).payload
    assert second["in_reply_to"] == payload["message_id"]
    assert second["references"] == []


def test_a_customer_mail_with_ids_in_angle_brackets_and_no_mailbox(db: Session, env: Env) -> None:
    amy = agent(db, env)
    case = email_case(
        db,
        env,
        message_id="<cust-9@example.com>",
        references=["<a@example.com> <b@example.com>"],
        mailbox=None,
    )
    result = reply(db, env, Actor.agent(amy.id), case.case_id, "Hello")
    payload = outbox(db, result.outbox_id).payload
    assert payload["in_reply_to"] == "<cust-9@example.com>"
    assert payload["references"] == ["<a@example.com>", "<b@example.com>"]
    assert "from" not in payload


def test_a_reply_on_another_channel_has_no_email_fields(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "hi"))
    result = reply(db, env, Actor.agent(amy.id), first.case_id, "Hello")
    assert "message_id" not in outbox(db, result.outbox_id).payload
    assert db.scalar(select(func.count()).select_from(ThreadKey)) == 0


# Claims


def test_a_claim_takes_due_messages_for_a_while(db: Session, env: Env, clock: FrozenClock) -> None:
    first = email_reply(db, env, "one")
    (claimed,) = claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    assert claimed.outbox_id == first.outbox_id
    assert claimed.claimed_until == clock.now() + timedelta(seconds=60)
    outbound = claimed.outbound()
    assert outbound.text == "one" and outbound.to.value == "ann@example.com"
    assert outbound.meta["message_id"].endswith("@threadline.localhost>")
    row = outbox(db, first.outbox_id)
    assert (row.claimed_by, row.state) == ("w1", OutboxState.PENDING)
    # Held by w1 for its lease: nobody else gets it.
    assert claim_outbox(db, env, "w2", limit=10, lease_seconds=60) == []
    # w1 died: after the lease the message is claimable again.
    clock.advance(timedelta(seconds=61))
    (again,) = claim_outbox(db, env, "w2", limit=10, lease_seconds=60)
    assert again.outbox_id == first.outbox_id
    assert outbox(db, first.outbox_id).claimed_by == "w2"


def test_claims_take_the_most_overdue_first_up_to_the_limit(db: Session, env: Env) -> None:
    amy = agent(db, env)
    case = email_case(db, env)
    ids = [reply(db, env, Actor.agent(amy.id), case.case_id, f"r{i}").outbox_id for i in range(5)]
    first = claim_outbox(db, env, "w1", limit=2, lease_seconds=60)
    second = claim_outbox(db, env, "w2", limit=10, lease_seconds=60)
    assert [c.outbox_id for c in first] == ids[:2]
    assert [c.outbox_id for c in second] == ids[2:]


def test_a_claim_refuses_nonsense(db: Session, env: Env) -> None:
    with pytest.raises(InvalidInput):
        claim_outbox(db, env, "", limit=1, lease_seconds=60)
    with pytest.raises(InvalidInput):
        claim_outbox(db, env, "w1", limit=0, lease_seconds=60)


def test_concurrent_claimers_get_every_message_exactly_once(
    db: Session, env: Env, settings: Settings, clock: FrozenClock
) -> None:
    amy = agent(db, env)
    case = email_case(db, env)
    expected = {
        reply(db, env, Actor.agent(amy.id), case.case_id, f"reply {i}").outbox_id
        for i in range(120)
    }
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        runtime = Runtime.start(settings, clock=clock)  # an engine of its own
        got: list[int] = []
        try:
            start.wait()
            while True:
                with runtime.db.session() as session:
                    batch = claim_outbox(session, runtime.env, name, limit=7, lease_seconds=300)
                if not batch:
                    break
                got.extend(c.outbox_id for c in batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            claims[name] = got
            runtime.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    everything = [outbox_id for got in claims.values() for outbox_id in got]
    assert sorted(everything) == sorted(expected)  # all of them, none twice
    assert len(set(everything)) == len(everything)


# A provider's answer


def test_a_sent_message(db: Session, env: Env, clock: FrozenClock) -> None:
    result = email_reply(db, env)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    events = env.bus.subscribe()
    clock.advance(timedelta(seconds=3))

    recorded = record_delivery(db, env, result.outbox_id, SENT, worker_id="w1")

    assert (recorded.state, recorded.delivery, recorded.attempts) == (
        OutboxState.SENT,
        Delivery.SENT,
        1,
    )
    row = outbox(db, result.outbox_id)
    assert row.state is OutboxState.SENT and row.sent_at == clock.now()
    assert row.provider_ref == SENT.external_id
    assert row.claimed_by is None and row.claimed_until is None
    assert touch(db, result.touch_id).delivery is Delivery.SENT
    (event,) = drain(events)
    assert event.type == "delivery.updated" and event.case_id == result.case_id
    assert event.data["touch_id"] == result.touch_id and event.data["delivery"] == "sent"
    assert audit_actions(db)[-1] == "delivery.sent"


def test_a_provider_that_queued_it_leaves_the_touch_queued(db: Session, env: Env) -> None:
    result = email_reply(db, env)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    accepted = DeliveryResult(status=Delivery.QUEUED, external_id="SM123")
    recorded = record_delivery(db, env, result.outbox_id, accepted, worker_id="w1")
    assert recorded.state is OutboxState.SENT and recorded.delivery is Delivery.QUEUED
    # Its later status callback moves it on.
    later = record_delivery_report(
        db, env, provider_ref="SM123", status=Delivery.DELIVERED, error=None
    )
    assert later.delivery is Delivery.DELIVERED


def test_the_back_off_doubles_with_full_jitter_up_to_its_cap() -> None:
    policy = RetryPolicy(base_seconds=30, cap_seconds=3600, max_attempts=12)
    assert [policy.ceiling(n) for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    rng = random.Random(7)
    delays = [policy.delay(1, rng).total_seconds() for _ in range(500)]
    assert all(0 <= d <= 30 for d in delays)
    assert min(delays) < 5 and max(delays) > 25  # spread over the whole range
    assert policy.ceiling(500) == 3600
    with pytest.raises(ValueError, match="base"):
        RetryPolicy(base_seconds=0)
    with pytest.raises(ValueError, match="base"):
        RetryPolicy(base_seconds=60, cap_seconds=30)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_a_retryable_failure_waits_its_back_off_and_says_why(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    result = email_reply(db, env)
    policy = RetryPolicy(base_seconds=30, cap_seconds=3600, max_attempts=5)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    events = env.bus.subscribe()

    recorded = record_delivery(db, env, result.outbox_id, RELAY_DOWN, worker_id="w1", retry=policy)

    assert recorded.state is OutboxState.PENDING and recorded.attempts == 1
    assert recorded.next_attempt_at is not None
    assert clock.now() <= recorded.next_attempt_at <= clock.now() + timedelta(seconds=30)
    row = outbox(db, result.outbox_id)
    assert row.last_error == "451 4.3.0 relay down" and row.claimed_by is None
    shown = touch(db, result.touch_id)
    assert shown.delivery is Delivery.QUEUED
    assert shown.delivery_error == "not sent yet, trying again: 451 4.3.0 relay down"
    (event,) = drain(events)
    assert event.type == "delivery.updated" and event.data["attempts"] == 1
    assert audit_actions(db)[-1] == "delivery.deferred"
    # Not due before its time; due after.
    if recorded.next_attempt_at > clock.now():
        assert claim_outbox(db, env, "w1", limit=10, lease_seconds=60) == []
    clock.set(recorded.next_attempt_at)
    assert len(claim_outbox(db, env, "w1", limit=10, lease_seconds=60)) == 1
    second = record_delivery(db, env, result.outbox_id, RELAY_DOWN, worker_id="w1", retry=policy)
    assert second.attempts == 2
    assert second.next_attempt_at is not None
    assert second.next_attempt_at <= clock.now() + timedelta(seconds=60)
    # The relay is back: sent, and the reason is gone.
    clock.set(second.next_attempt_at)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    record_delivery(db, env, result.outbox_id, SENT, worker_id="w1", retry=policy)
    shown = touch(db, result.touch_id)
    assert (shown.delivery, shown.delivery_error) == (Delivery.SENT, None)
    assert outbox(db, result.outbox_id).attempts == 3


def test_a_final_failure_is_a_note_and_the_case_goes_back_to_its_owner(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    result = email_reply(db, env)
    set_status(db, env, Actor.system(), result.case_id, CaseStatus.PENDING)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    clock.advance(timedelta(minutes=2))
    events = env.bus.subscribe()

    recorded = record_delivery(db, env, result.outbox_id, NO_SUCH_USER, worker_id="w1")

    assert (recorded.state, recorded.delivery) == (OutboxState.FAILED, Delivery.FAILED)
    assert outbox(db, result.outbox_id).last_error == "550 5.1.1 no such user"
    failed = touch(db, result.touch_id)
    assert failed.delivery is Delivery.FAILED
    assert failed.delivery_error == "550 5.1.1 no such user"
    (note,) = notes(db, result.case_id)
    assert note.text == (
        "The reply of 2026-11-23 09:00 UTC to ann@example.com could not be delivered: "
        "550 5.1.1 no such user"
    )
    assert (note.direction, note.public, note.agent_id) == (Direction.INTERNAL, False, None)
    assert note.meta["failed_touch_id"] == result.touch_id
    case = db.get(Case, result.case_id)
    assert case is not None and case.status is CaseStatus.OPEN
    assert case.updated_at == clock.now()
    published = {e.type: e for e in drain(events)}
    assert set(published) == {"delivery.updated", "case.status_changed", "touch.created"}
    assert published["delivery.updated"].data["delivery"] == "failed"
    assert published["case.status_changed"].data == {"old": "pending", "new": "open"}
    assert published["touch.created"].private
    assert "delivery.failed" in audit_actions(db)


def test_a_resolved_case_reopens_and_an_open_one_stays_open(db: Session, env: Env) -> None:
    result = email_reply(db, env)
    set_status(db, env, Actor.system(), result.case_id, CaseStatus.RESOLVED)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    record_delivery(db, env, result.outbox_id, NO_SUCH_USER, worker_id="w1")
    case = db.get(Case, result.case_id)
    assert case is not None and case.status is CaseStatus.OPEN and case.resolved_at is None


def test_retries_run_out_into_a_final_failure(db: Session, env: Env, clock: FrozenClock) -> None:
    result = email_reply(db, env)
    policy = RetryPolicy(base_seconds=1, cap_seconds=1, max_attempts=3)
    for attempt in range(1, 4):
        clock.advance(timedelta(seconds=2))
        assert len(claim_outbox(db, env, "w1", limit=10, lease_seconds=60)) == 1
        recorded = record_delivery(
            db, env, result.outbox_id, RELAY_DOWN, worker_id="w1", retry=policy
        )
        assert recorded.attempts == attempt
    assert recorded.state is OutboxState.FAILED
    assert recorded.error == "451 4.3.0 relay down (gave up after 3 attempts)"
    (note,) = notes(db, result.case_id)
    assert note.text.endswith(
        "could not be delivered: 451 4.3.0 relay down (gave up after 3 attempts)"
    )
    clock.advance(timedelta(hours=1))
    assert claim_outbox(db, env, "w1", limit=10, lease_seconds=60) == []


def test_only_the_holder_of_the_claim_may_record(db: Session, env: Env, clock: FrozenClock) -> None:
    result = email_reply(db, env)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    clock.advance(timedelta(seconds=61))
    claim_outbox(db, env, "w2", limit=10, lease_seconds=60)
    before = table_rows(db, "outbox"), table_rows(db, "touches")
    with pytest.raises(Conflict, match="not claimed by w1"):
        record_delivery(db, env, result.outbox_id, SENT, worker_id="w1")
    assert (table_rows(db, "outbox"), table_rows(db, "touches")) == before
    record_delivery(db, env, result.outbox_id, SENT, worker_id="w2")
    # Once recorded, no one records it again.
    with pytest.raises(Conflict):
        record_delivery(db, env, result.outbox_id, SENT, worker_id="w2")
    with pytest.raises(NotFound):
        record_delivery(db, env, 999_999, SENT, worker_id="w2")


def test_a_lapsed_claim_nobody_took_over_is_still_the_workers(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    result = email_reply(db, env)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    clock.advance(timedelta(minutes=5))  # a slow provider
    assert (
        record_delivery(db, env, result.outbox_id, SENT, worker_id="w1").state is OutboxState.SENT
    )


# Held: a channel without a provider


def test_a_message_for_an_unconfigured_channel_is_held_visibly(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "hi"))
    result = reply(db, env, Actor.agent(amy.id), first.case_id, "Hello by text")
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    events = env.bus.subscribe()

    held = hold_outbox(db, env, result.outbox_id, worker_id="w1", reason="sms is not configured")

    assert held.state is OutboxState.HELD
    row = outbox(db, result.outbox_id)
    assert (row.state, row.last_error, row.claimed_by) == (
        OutboxState.HELD,
        "sms is not configured",
        None,
    )
    shown = touch(db, result.touch_id)
    assert (shown.delivery, shown.delivery_error) == (Delivery.QUEUED, "sms is not configured")
    (event,) = drain(events)
    assert event.data["held"] is True and event.data["error"] == "sms is not configured"
    assert claim_outbox(db, env, "w1", limit=10, lease_seconds=60) == []
    # Once SMS is configured, the message goes back in line.
    assert release_held(db, env, [Channel.EMAIL]) == 0
    assert release_held(db, env, [Channel.SMS]) == 1
    shown = touch(db, result.touch_id)
    assert shown.delivery_error is None
    assert [c.outbox_id for c in claim_outbox(db, env, "w1", limit=10, lease_seconds=60)] == [
        result.outbox_id
    ]


# Reports that come later


def sent_reply(db: Session, env: Env) -> ReplyResult:
    result = email_reply(db, env)
    claim_outbox(db, env, "w1", limit=10, lease_seconds=60)
    record_delivery(db, env, result.outbox_id, SENT, worker_id="w1")
    return result


def test_reports_only_move_a_delivery_up_the_ladder(db: Session, env: Env) -> None:
    result = sent_reply(db, env)
    events = env.bus.subscribe()
    ref = "m1@threadline.localhost"  # without angle brackets, as a bounce may quote it
    assert (
        record_delivery_report(db, env, provider_ref=ref, status=Delivery.READ, error=None).delivery
        is Delivery.READ
    )
    # A late "delivered" changes nothing.
    assert (
        record_delivery_report(
            db, env, provider_ref=f"<{ref}>", status=Delivery.DELIVERED, error=None
        ).delivery
        is Delivery.READ
    )
    assert touch(db, result.touch_id).delivery is Delivery.READ
    assert [e.data["delivery"] for e in drain(events)] == ["read"]


def test_a_bounce_after_sending_fails_the_reply_once(db: Session, env: Env) -> None:
    result = sent_reply(db, env)
    set_status(db, env, Actor.system(), result.case_id, CaseStatus.PENDING)
    for _ in range(2):  # a bounce may come twice
        recorded = record_delivery_report(
            db,
            env,
            provider_ref=SENT.external_id or "",
            status=Delivery.FAILED,
            error="5.1.1 mailbox unknown",
        )
        assert recorded.delivery is Delivery.FAILED
    failed = touch(db, result.touch_id)
    assert (failed.delivery, failed.delivery_error) == (Delivery.FAILED, "5.1.1 mailbox unknown")
    assert outbox(db, result.outbox_id).state is OutboxState.FAILED
    (note,) = notes(db, result.case_id)
    assert note.text.endswith("to ann@example.com could not be delivered: 5.1.1 mailbox unknown")
    case = db.get(Case, result.case_id)
    assert case is not None and case.status is CaseStatus.OPEN


def test_a_report_about_no_message_of_ours(db: Session, env: Env) -> None:
    sent_reply(db, env)
    with pytest.raises(NotFound):
        record_delivery_report(
            db, env, provider_ref="<other@example.com>", status=Delivery.FAILED, error="x"
        )
    with pytest.raises(InvalidInput):
        record_delivery_report(db, env, provider_ref=" ", status=Delivery.FAILED, error="x")
