"""The customer panel and the pages that gather a screen's worth of reading."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from tests.factories import agent, receive_email
from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    create_customer,
    merge_customers,
    set_status,
)
from threadline.clock import FrozenClock
from threadline.db import ReadSession
from threadline.errors import NotFound
from threadline.queries.customers import IdentityGroup, customer_panel
from threadline.queries.pages import case_page, customer_page
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, JourneyStage


def _vip(db: Session, env: Env) -> int:
    customer = create_customer(
        db,
        env,
        Actor.system(),
        name="Vera Vip",
        segment="vip",
        journey_stage=JourneyStage.LOYAL,
        lifetime_value=Decimal("4210.50"),
        identities=[
            IdentityInput(IdentityKind.PHONE, "+44 7700 900555"),
            IdentityInput(IdentityKind.EMAIL, "vera@example.com"),
            IdentityInput(IdentityKind.EMAIL, "Vera.Work@Example.com"),
        ],
    )
    return customer.id


def test_panel_shows_who_they_are_and_how_to_reach_them(
    db: Session, env: Env, read: ReadSession
) -> None:
    customer_id = _vip(db, env)
    panel = customer_panel(read, customer_id)
    assert (panel.name, panel.segment_key, panel.segment_name) == ("Vera Vip", "vip", "VIP")
    assert panel.journey_stage is JourneyStage.LOYAL
    assert panel.lifetime_value == Decimal("4210.50")
    assert panel.merged_into_id is None
    # Grouped by kind in the vocabulary's order, each as the customer gave it.
    assert panel.identities == (
        IdentityGroup(IdentityKind.EMAIL, ("vera@example.com", "Vera.Work@Example.com")),
        IdentityGroup(IdentityKind.PHONE, ("+44 7700 900555",)),
    )
    assert (panel.other_cases, panel.other_case_count) == ((), 0)


def test_panel_lists_other_cases_newest_first(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    boss = agent(db, env)
    _vip(db, env)
    refs = []
    for n in range(3):
        received = receive_email(db, env, "vera@example.com", f"matter {n}")
        refs.append(received.case_id)
        set_status(db, env, Actor.agent(boss.id), received.case_id, CaseStatus.CLOSED)
        clock.advance(timedelta(days=1))

    panel = customer_panel(read, received.customer_id, exclude_case_id=refs[-1])
    assert [c.id for c in panel.other_cases] == [refs[1], refs[0]]
    assert panel.other_cases[0].subject == "matter 1"
    assert panel.other_cases[0].status is CaseStatus.CLOSED
    assert panel.other_case_count == 2


def test_panel_of_a_merged_customer_points_at_the_survivor(
    db: Session, env: Env, read: ReadSession
) -> None:
    boss = agent(db, env)
    kept = receive_email(db, env, "kept@example.com")
    gone = receive_email(db, env, "gone@example.com")
    merge_customers(db, env, Actor.agent(boss.id), kept.customer_id, gone.customer_id)

    assert customer_panel(read, gone.customer_id).merged_into_id == kept.customer_id
    survivor = customer_panel(read, kept.customer_id)
    assert survivor.identities == (
        IdentityGroup(IdentityKind.EMAIL, ("kept@example.com", "gone@example.com")),
    )


def test_unknown_customer(read: ReadSession) -> None:
    with pytest.raises(NotFound, match="customer 999999 does not exist"):
        customer_panel(read, 999_999)
    with pytest.raises(NotFound):
        customer_page(read, 999_999)


def test_case_page_gathers_header_channels_timeline_and_panel(
    db: Session, env: Env, read: ReadSession
) -> None:
    received = receive_email(db, env, "ann@example.com", "Hello", name="Ann")
    page = case_page(read, received.case_id)
    assert page.case.id == received.case_id
    assert page.channels == (Channel.EMAIL,)
    assert page.timeline.touch_count == 1
    assert page.customer.name == "Ann"
    with pytest.raises(NotFound):
        case_page(read, 999_999)


def test_customer_page_gathers_cases_and_the_whole_timeline(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    boss = agent(db, env)
    first = receive_email(db, env, text="one")
    set_status(db, env, Actor.agent(boss.id), first.case_id, CaseStatus.CLOSED)
    clock.advance(timedelta(days=1))
    second = receive_email(db, env, text="two")

    page = customer_page(read, first.customer_id)
    assert [c.id for c in page.cases] == [second.case_id, first.case_id]
    assert page.timeline.touch_count == 2
    assert page.customer.other_case_count == 2
