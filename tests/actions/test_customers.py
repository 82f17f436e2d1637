"""Customers, identities and reversible merges."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from tests.factories import inbound, receive_email
from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    add_identity,
    create_customer,
    merge_customers,
    receive,
    undo_merge,
)
from threadline.clock import FrozenClock
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import Case, Customer, Identity, Touch
from threadline.vocabulary import Channel, IdentityKind, JourneyStage

SYSTEM = Actor.system()
CUSTOMER_TABLES = ("customers", "identities", "cases", "touches", "channel_switches")


def test_create_customer_with_several_identities_of_one_kind(db: Session, env: Env) -> None:
    customer = create_customer(
        db,
        env,
        SYSTEM,
        name="  Ann   Lee ",
        segment="vip",
        journey_stage=JourneyStage.LOYAL,
        lifetime_value=Decimal("1520.50"),
        identities=[
            IdentityInput(IdentityKind.EMAIL, "Ann@Home.example"),
            IdentityInput(IdentityKind.EMAIL, "ann@work.example"),
            IdentityInput(IdentityKind.PHONE, "07700 900123"),
            IdentityInput(IdentityKind.PHONE, "+44 20 7946 0000"),
        ],
    )
    db.expire_all()
    stored = db.get(Customer, customer.id)
    assert stored is not None
    assert stored.name == "Ann Lee"
    assert stored.segment_key == "vip"
    assert stored.lifetime_value == Decimal("1520.50")
    assert sorted((i.kind.value, i.value) for i in stored.identities) == [
        ("email", "ann@home.example"),
        ("email", "ann@work.example"),
        ("phone", "+442079460000"),
        ("phone", "+447700900123"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": " "}, InvalidInput, "needs a name"),
        ({"segment": "gold"}, InvalidInput, "unknown segment 'gold'"),
        ({"lifetime_value": Decimal("-1")}, InvalidInput, "negative"),
        (
            {"identities": [IdentityInput(IdentityKind.EMAIL, "x@example.com")] * 2},
            InvalidInput,
            "twice",
        ),
        (
            {"identities": [IdentityInput(IdentityKind.EMAIL, "ANN@example.com")]},
            Conflict,
            "already belongs",
        ),
        ({"identities": [IdentityInput(IdentityKind.PHONE, "abc")]}, InvalidInput, "phone"),
    ],
)
def test_create_customer_refuses_bad_input_and_changes_nothing(
    db: Session, env: Env, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    receive_email(db, env, "ann@example.com")
    before = {t: table_rows(db, t) for t in CUSTOMER_TABLES}
    arguments: dict[str, object] = {"name": "Bob", "identities": []} | kwargs
    with pytest.raises(error, match=message):
        create_customer(db, env, SYSTEM, **arguments)  # type: ignore[arg-type]
    assert {t: table_rows(db, t) for t in CUSTOMER_TABLES} == before


def test_add_identity_of_someone_else_is_a_conflict(db: Session, env: Env) -> None:
    ann = receive_email(db, env, "ann@example.com")
    bob = receive_email(db, env, "bob@example.com")
    with pytest.raises(Conflict, match="merge the two instead"):
        add_identity(db, env, SYSTEM, bob.customer_id, "email", "Ann@example.com")
    with pytest.raises(Conflict, match="already linked"):
        add_identity(db, env, SYSTEM, ann.customer_id, "email", "ann@example.com")
    with pytest.raises(NotFound):
        add_identity(db, env, SYSTEM, 99999, "email", "new@example.com")
    owners = dict(db.execute(select(Identity.value, Identity.customer_id)).all())
    assert owners == {"ann@example.com": ann.customer_id, "bob@example.com": bob.customer_id}


def _two_records_of_one_person(db: Session, env: Env, clock: FrozenClock) -> tuple[int, int]:
    email = receive_email(db, env, "ann@example.com", "Order 1001 is late", name="Ann Lee")
    clock.advance(timedelta(minutes=3))
    sms = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "It's Ann, any news?")
    )
    clock.advance(timedelta(minutes=3))
    return email.customer_id, sms.customer_id


def test_merge_moves_identities_and_cases_and_undo_restores_every_row(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    survivor, other = _two_records_of_one_person(db, env, clock)
    before = {t: table_rows(db, t) for t in CUSTOMER_TABLES}

    merge = merge_customers(db, env, SYSTEM, survivor, other)
    db.expire_all()
    assert {i.customer_id for i in db.scalars(select(Identity))} == {survivor}
    assert {c.customer_id for c in db.scalars(select(Case))} == {survivor}
    merged = db.get(Customer, other)
    assert merged is not None
    assert merged.merged_into_id == survivor
    # Both people's touches are now on one timeline.
    timeline = db.scalars(
        select(Touch.text).join(Case).where(Case.customer_id == survivor).order_by(Touch.id)
    ).all()
    assert timeline == ["Order 1001 is late", "It's Ann, any news?"]

    clock.advance(timedelta(minutes=10))
    undo_merge(db, env, SYSTEM, merge.id)
    assert {t: table_rows(db, t) for t in CUSTOMER_TABLES} == before


def test_after_a_merge_new_contact_threads_onto_the_survivor(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    survivor, other = _two_records_of_one_person(db, env, clock)
    merge_customers(db, env, SYSTEM, survivor, other)
    again = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "still waiting")
    )
    assert again.customer_id == survivor


def test_merge_keeps_the_better_segment_and_sums_value(db: Session, env: Env) -> None:
    vip = create_customer(
        db,
        env,
        SYSTEM,
        name="Ann",
        segment="vip",
        lifetime_value=Decimal("900"),
        identities=[IdentityInput(IdentityKind.EMAIL, "ann@example.com")],
    )
    plain = create_customer(
        db,
        env,
        SYSTEM,
        name="Ann L",
        lifetime_value=Decimal("100.25"),
        identities=[IdentityInput(IdentityKind.PHONE, "+447700900123")],
    )
    merge = merge_customers(db, env, SYSTEM, plain.id, vip.id)
    db.expire_all()
    survivor = db.get(Customer, plain.id)
    assert survivor is not None
    assert survivor.segment_key == "vip"
    assert survivor.lifetime_value == Decimal("1000.25")
    undo_merge(db, env, SYSTEM, merge.id)
    db.expire_all()
    restored = db.get(Customer, plain.id)
    assert restored is not None
    assert (restored.segment_key, restored.lifetime_value) == ("standard", Decimal("100.25"))


def test_merge_and_undo_refuse_what_cannot_be_done(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    survivor, other = _two_records_of_one_person(db, env, clock)
    third = receive_email(db, env, "carl@example.com").customer_id
    with pytest.raises(InvalidInput, match="itself"):
        merge_customers(db, env, SYSTEM, survivor, survivor)
    with pytest.raises(NotFound):
        merge_customers(db, env, SYSTEM, survivor, 424242)
    first = merge_customers(db, env, SYSTEM, survivor, other)
    with pytest.raises(Conflict, match="already merged"):
        merge_customers(db, env, SYSTEM, third, other)
    second = merge_customers(db, env, SYSTEM, third, survivor)
    with pytest.raises(Conflict, match="undo that merge first"):
        undo_merge(db, env, SYSTEM, first.id)
    undo_merge(db, env, SYSTEM, second.id)
    undo_merge(db, env, SYSTEM, first.id)
    with pytest.raises(Conflict, match="already undone"):
        undo_merge(db, env, SYSTEM, first.id)
    with pytest.raises(NotFound):
        undo_merge(db, env, SYSTEM, 31337)
    db.expire_all()
    assert {c.id: c.merged_into_id for c in db.scalars(select(Customer))} == {
        survivor: None,
        other: None,
        third: None,
    }
