"""receive(): de-duplication, identity resolution, threading and channel switches, as a
customer and the desk would observe them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from tests.factories import agent, inbound, receive_email
from threadline.actions import (
    Actor,
    Env,
    add_identity,
    assign,
    merge_customers,
    receive,
    set_presence,
    set_status,
)
from threadline.actions.routing import route_waiting
from threadline.channels.base import IdentityRef, Inbound, IncomingFile
from threadline.clock import FrozenClock
from threadline.errors import InvalidInput
from threadline.models import (
    Attachment,
    AuditEntry,
    Case,
    ChannelSwitch,
    Customer,
    Identity,
    ThreadKey,
    Touch,
    format_ref,
)
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Direction,
    IdentityKind,
    Presence,
    SwitchReason,
)


def count(db: Session, model: type[object]) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_first_message_creates_customer_case_and_touch(db: Session, env: Env) -> None:
    events = env.bus.subscribe()
    received = receive_email(db, env, "Ann.Lee@Example.COM", "Where is my order?", name="Ann Lee")

    customer = db.get(Customer, received.customer_id)
    assert customer is not None and customer.name == "Ann Lee"
    assert [(i.kind, i.value) for i in customer.identities] == [
        (IdentityKind.EMAIL, "ann.lee@example.com")
    ]
    case = db.get(Case, received.case_id)
    assert case is not None
    assert case.status is CaseStatus.NEW and case.subject == "Where is my order?"
    touch = db.get(Touch, received.touch_id)
    assert touch is not None and touch.direction is Direction.IN
    assert received.case_created and not received.duplicate
    published = [events.get(0), events.get(0)]
    assert [e.type for e in published if e] == ["case.created", "touch.created"]
    audited = db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert audited == ["customer.created", "case.created", "touch.received"]


def test_same_message_twice_makes_one_touch(db: Session, env: Env) -> None:
    message = inbound(external_id="msg-1", text="Hi")
    first = receive(db, env, message)
    events = env.bus.subscribe()
    second = receive(db, env, message)
    assert second.duplicate and second.touch_id == first.touch_id
    assert second.case_id == first.case_id and second.customer_id == first.customer_id
    assert count(db, Touch) == 1
    assert events.get(0) is None  # a duplicate changes nothing, so announces nothing


def test_same_external_id_on_another_channel_is_another_message(db: Session, env: Env) -> None:
    receive(db, env, inbound(Channel.EMAIL, external_id="42"))
    sms = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", external_id="42")
    )
    assert not sms.duplicate
    assert count(db, Touch) == 2


def test_concurrent_copies_of_one_message_make_one_touch(runtime: Runtime) -> None:
    """Providers retry; two copies can arrive at once in two threads."""
    message = inbound(external_id="race-1", value="race@example.com")
    results = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        try:
            barrier.wait()
            with runtime.db.session() as session:
                results.append(receive(session, runtime.env, message))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert len({r.touch_id for r in results}) == 1
    with runtime.db.session() as session:
        assert count(session, Touch) == 1
        assert count(session, Customer) == 1
        assert count(session, Case) == 1


def test_concurrent_first_messages_from_one_new_address_share_customer_and_case(
    runtime: Runtime,
) -> None:
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def deliver(n: int) -> None:
        try:
            barrier.wait()
            with runtime.db.session() as session:
                receive(session, runtime.env, inbound(value="new@example.com", text=f"m{n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with runtime.db.session() as session:
        assert count(session, Touch) == 3
        assert count(session, Customer) == 1
        assert count(session, Case) == 1


def test_email_then_sms_from_a_known_phone_is_one_case_with_one_switch(
    db: Session, env: Env
) -> None:
    first = receive_email(db, env, "ann@example.com", "My vase arrived broken")
    add_identity(db, env, Actor.system(), first.customer_id, IdentityKind.PHONE, "07700 900123")
    sms = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+44 7700 900123", "Photo sent")
    )
    assert (sms.customer_id, sms.case_id) == (first.customer_id, first.case_id)
    switches = db.scalars(select(ChannelSwitch)).all()
    assert [(s.from_channel, s.to_channel, s.reason) for s in switches] == [
        (Channel.EMAIL, Channel.SMS, SwitchReason.CUSTOMER_CHOICE)
    ]
    assert switches[0].from_touch_id == first.touch_id
    assert switches[0].to_touch_id == sms.touch_id


def test_staying_on_one_channel_records_no_switch(db: Session, env: Env) -> None:
    receive_email(db, env, text="one")
    receive_email(db, env, text="two")
    assert count(db, ChannelSwitch) == 0


def test_public_post_then_direct_message_is_a_switch(db: Session, env: Env) -> None:
    receive(db, env, inbound(Channel.X, IdentityKind.X, "@AnnLee", "@shop my order?", public=True))
    dm = receive(db, env, inbound(Channel.X, IdentityKind.X, "annlee", "it's #1234"))
    switch = db.scalars(select(ChannelSwitch)).one()
    assert (switch.from_public, switch.to_public) == (True, False)
    assert switch.to_touch_id == dm.touch_id


def test_two_identities_of_one_kind_reach_one_customer(db: Session, env: Env) -> None:
    first = receive_email(db, env, "ann@home.example")
    add_identity(db, env, Actor.system(), first.customer_id, "email", "ann@work.example")
    second = receive_email(db, env, "ANN@work.example")
    assert second.customer_id == first.customer_id and second.case_id == first.case_id


def test_explicit_case_ref_wins_over_the_latest_open_case(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    # One person wrote from two addresses; once merged they have two open cases.
    home = receive_email(db, env, "ann@home.example", "about the sofa")
    clock.advance(timedelta(minutes=5))
    work = receive_email(db, env, "ann@work.example", "trade invoice")
    merge_customers(db, env, Actor.system(), home.customer_id, work.customer_id)
    clock.advance(timedelta(minutes=5))
    plain = receive_email(db, env, "ann@home.example", "any news?")
    assert plain.case_id == work.case_id  # the most recently active open case
    quoted = receive_email(
        db, env, "ann@home.example", "sofa again", case_ref=format_ref(home.case_id)
    )
    assert quoted.case_id == home.case_id


def test_resolved_case_reopens_within_the_window(db: Session, env: Env) -> None:
    first = receive_email(db, env, text="first matter")
    set_status(db, env, Actor.system(), first.case_id, CaseStatus.RESOLVED)
    again = receive_email(db, env, text="it broke again")
    assert again.case_id == first.case_id and not again.case_created
    assert db.get(Case, first.case_id).status is CaseStatus.OPEN  # type: ignore[union-attr]


def test_reference_to_a_message_threads_by_key(db: Session, env: Env) -> None:
    first = receive_email(db, env, text="question", thread_key="email:<a1@example.com>")
    set_status(db, env, Actor.system(), first.case_id, CaseStatus.CLOSED)
    second = receive_email(db, env, text="another matter")
    assert second.case_id != first.case_id
    third = receive_email(db, env, text="re: question", references=("email:<a1@example.com>",))
    # The referenced case is closed: a follow-up case, linked to it.
    follow_up = db.get(Case, third.case_id)
    assert follow_up is not None and third.case_id not in (first.case_id, second.case_id)
    assert follow_up.previous_case_id == first.case_id
    assert db.scalar(select(func.count()).select_from(ThreadKey)) == 1


def test_a_long_references_list_threads_on_its_most_recent_known_message(
    db: Session, env: Env
) -> None:
    # A reply's References hold its whole thread, here 18 ids of which two are known:
    # it continues the case of the one recorded last, wherever each stands in the list.
    first = receive_email(db, env, text="first matter", thread_key="email:<old@example.com>")
    set_status(db, env, Actor.system(), first.case_id, CaseStatus.CLOSED)
    second = receive_email(db, env, text="second matter", thread_key="email:<new@example.com>")
    assert second.case_id != first.case_id
    unknown = [f"email:<{n}@elsewhere.example>" for n in range(16)]
    thread = (*unknown[:3], "email:<new@example.com>", *unknown[3:], "email:<old@example.com>")
    answer = receive_email(db, env, text="re: second matter", references=thread)
    assert answer.case_id == second.case_id

    set_status(db, env, Actor.system(), second.case_id, CaseStatus.CLOSED)
    late = receive_email(
        db, env, text="re: first matter", references=(*unknown, "email:<old@example.com>")
    )
    follow_up = db.get(Case, late.case_id)
    assert follow_up is not None and follow_up.previous_case_id == first.case_id


def test_a_stranger_quoting_a_case_ref_gets_their_own_case(db: Session, env: Env) -> None:
    ann = receive_email(db, env, "ann@example.com", "private matter")
    ref = format_ref(ann.case_id)
    bob = receive_email(db, env, "bob@example.com", f"Fwd: [{ref}] private matter", case_ref=ref)
    assert bob.customer_id != ann.customer_id and bob.case_id != ann.case_id


def test_reopen_window(db: Session, env: Env, clock: FrozenClock) -> None:
    first = receive_email(db, env, text="help")
    set_status(db, env, Actor.system(), first.case_id, CaseStatus.RESOLVED)
    clock.advance(timedelta(hours=env.settings.reopen_window_hours + 1))
    late = receive_email(db, env, text="help again")
    assert late.case_id != first.case_id and late.case_created
    case = db.get(Case, late.case_id)
    assert case is not None and case.previous_case_id == first.case_id


def test_pending_case_opens_when_the_customer_writes(db: Session, env: Env) -> None:
    first = receive_email(db, env)
    set_status(db, env, Actor.system(), first.case_id, CaseStatus.PENDING)
    receive_email(db, env, text="here is the photo")
    assert db.get(Case, first.case_id).status is CaseStatus.OPEN  # type: ignore[union-attr]


def test_the_agent_the_customer_knows_gets_the_new_case(db: Session, env: Env) -> None:
    amy = agent(db, env)
    set_presence(db, env, Actor.agent(amy.id), amy.id, Presence.ONLINE)
    first = receive_email(db, env)
    assign(db, env, Actor.agent(amy.id), first.case_id, amy.id)
    set_status(db, env, Actor.agent(amy.id), first.case_id, CaseStatus.CLOSED)
    second = receive_email(db, env, text="new question")
    assert second.case_id != first.case_id
    route_waiting(db, env)  # the worker's routing round
    assert db.get(Case, second.case_id).owner_id == amy.id  # type: ignore[union-attr]
    set_presence(db, env, Actor.agent(amy.id), amy.id, Presence.OFFLINE)
    set_status(db, env, Actor.agent(amy.id), second.case_id, CaseStatus.CLOSED)
    third = receive_email(db, env, text="third")
    route_waiting(db, env)
    assert db.get(Case, third.case_id).owner_id is None  # type: ignore[union-attr]


def test_attachments_are_stored_once_by_content(db: Session, env: Env) -> None:
    photo = IncomingFile("vase.jpg", "image/jpeg", b"\xff\xd8fake-jpeg")
    receive_email(db, env, text="photo", attachments=(photo,))
    receive_email(db, env, text="same photo", attachments=(photo,))
    rows = db.scalars(select(Attachment)).all()
    assert len(rows) == 2 and rows[0].sha256 == rows[1].sha256
    assert env.files.read(rows[0].sha256) == b"\xff\xd8fake-jpeg"
    stored = list((env.settings.data_dir / "attachments").rglob("*"))
    assert sum(1 for p in stored if p.is_file()) == 1


def test_html_is_sanitised(db: Session, env: Env) -> None:
    received = receive_email(
        db, env, text="hi", html='<p onclick="x()">Hi<script>alert(1)</script></p>'
    )
    touch = db.get(Touch, received.touch_id)
    assert touch is not None and touch.html == "<p>Hi</p>"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"external_id": ""}, "external_id"),
        ({"sender": IdentityRef(IdentityKind.EMAIL, "not-an-address")}, "not an email"),
        ({"sender": IdentityRef(IdentityKind.PHONE, "12")}, "phone"),
        ({"sender": IdentityRef(IdentityKind.X, "has space")}, "X handle"),
        ({"subject": "s" * 301}, "subject"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    db: Session, env: Env, change: dict[str, object], message: str
) -> None:
    receive_email(db, env)
    before = {t: table_rows(db, t) for t in ("customers", "identities", "cases", "touches")}
    good = inbound()
    bad = Inbound(**{**good.__dict__, **change})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=message):
        receive(db, env, bad)
    assert {t: table_rows(db, t) for t in before} == before


def test_naive_time_is_refused(db: Session, env: Env, clock: FrozenClock) -> None:
    naive = clock.now().replace(tzinfo=None)
    with pytest.raises(InvalidInput, match="time zone"):
        receive(db, env, inbound(occurred_at=naive))
    assert count(db, Identity) == 0


def test_a_nul_character_never_loses_the_message(db: Session, env: Env) -> None:
    received = receive_email(db, env, text="broken\x00byte", subject="a\x00b", name="N\x00n")
    touch = db.get(Touch, received.touch_id)
    assert touch is not None
    assert touch.text == "broken\ufffdbyte"
    assert touch.subject == "a\ufffdb"


def test_times_outside_what_a_database_stores_are_refused(db: Session, env: Env) -> None:
    from datetime import datetime, timezone

    far = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(InvalidInput, match="occurred_at"):
        receive(db, env, inbound(occurred_at=far))
    assert count(db, Touch) == 0
