"""The inbox page: each view lists the cases it names, the filters narrow it, a long
view pages by keyset, the counts add up, and the live fragment is the same listing. Read
through the real app and the real actions, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import inbound, receive_email
from tests.web.test_case_list import inbox_ids
from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    NewAgent,
    add_note,
    assign,
    create_agent,
    create_customer,
    receive,
    set_status,
)
from threadline.api.app import create_app
from threadline.clock import FrozenClock
from threadline.models import Team
from threadline.queries.inbox import PAGE_SIZE
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, Role

PASSWORD = "a long enough test password"


def signed_in(runtime: Runtime, email: str) -> TestClient:
    client = TestClient(create_app(runtime))
    answer = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client


@dataclass(frozen=True)
class Desk:
    """Tia works in Support with Tom; Olga in Returns. One case per situation."""

    tia: TestClient
    tom_id: int
    mine: int
    mine_pending: int
    teammates: int
    routed_to_team: int
    other_team: int
    unowned: int
    resolved: int
    breached: int
    warned: int


@pytest.fixture
def desk(runtime: Runtime, db: Session, env: Env, clock: FrozenClock) -> Iterator[Desk]:
    people = {}
    for email, name, team in (
        ("tia@shop.example", "Tia Team", "Support"),
        ("tom@shop.example", "Tom Mate", "Support"),
        ("olga@shop.example", "Olga Other", "Returns"),
    ):
        made = create_agent(
            db,
            env,
            Actor.system(),
            NewAgent(email=email, name=name, role=Role.AGENT, password=PASSWORD, teams=(team,)),
        )
        people[name.split()[0].lower()] = made.id
    support = db.scalars(select(Team.id).where(Team.name == "Support")).one()
    boss = Actor.system()

    def email_case(address: str, subject: str, owner: int | None = None, **extra: object) -> int:
        case_id = receive_email(
            db, env, address, f"About {subject}", subject=subject, **extra
        ).case_id
        if owner is not None:
            assign(db, env, boss, case_id, owner)
        clock.advance(timedelta(minutes=1))
        return case_id

    # An SMS is promised a reply within the hour: 70 minutes on, this one is late...
    breached = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900201", "Late text")
    ).case_id
    clock.advance(timedelta(minutes=20))
    # ... and this one (50 minutes on) past its warning at 80 %.
    warned = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900202", "Warned text")
    ).case_id
    clock.advance(timedelta(minutes=1))
    mine = email_case("a@example.com", "Mine", people["tia"])
    mine_pending = email_case("b@example.com", "Mine, pending", people["tia"])
    set_status(db, env, boss, mine_pending, CaseStatus.PENDING)
    teammates = email_case("c@example.com", "Tom's", people["tom"])
    routed = email_case("d@example.com", "Routed to Support", team_id=support)
    other = email_case("e@example.com", "Olga's", people["olga"])
    unowned = email_case("f@example.com", "Nobody's")
    resolved = email_case("g@example.com", "Done", people["tia"])
    set_status(db, env, boss, resolved, CaseStatus.RESOLVED)
    clock.advance(timedelta(minutes=44))  # 70 minutes after the first text
    with signed_in(runtime, "tia@shop.example") as tia:
        yield Desk(
            tia=tia,
            tom_id=people["tom"],
            mine=mine,
            mine_pending=mine_pending,
            teammates=teammates,
            routed_to_team=routed,
            other_team=other,
            unowned=unowned,
            resolved=resolved,
            breached=breached,
            warned=warned,
        )


def listed(client: TestClient, query: str) -> list[int]:
    answer = client.get(f"/inbox?{query}")
    assert answer.status_code == 200, answer.text
    return inbox_ids(answer.text)


def test_each_view_lists_its_cases(desk: Desk) -> None:
    tia = desk.tia
    assert listed(tia, "") == listed(tia, "view=mine") == [desk.mine_pending, desk.mine]
    assert listed(tia, "view=unassigned") == [
        desk.unowned,
        desk.routed_to_team,
        desk.warned,
        desk.breached,
    ]
    assert listed(tia, "view=team") == [
        desk.routed_to_team,
        desk.teammates,
        desk.mine_pending,
        desk.mine,
    ]
    # Soonest due first: the late text, then the one past its warning time.
    assert listed(tia, "view=breaching") == [desk.breached, desk.warned]
    assert listed(tia, "view=pending") == [desk.mine_pending]
    assert listed(tia, "view=resolved") == [desk.resolved]
    every_open = listed(tia, "view=open")
    assert set(every_open) == {
        desk.mine,
        desk.mine_pending,
        desk.teammates,
        desk.routed_to_team,
        desk.other_team,
        desk.unowned,
        desk.warned,
        desk.breached,
    }
    assert every_open[0] == desk.unowned  # the most recently updated first


def test_the_views_show_their_counts_and_the_current_one(desk: Desk) -> None:
    html = desk.tia.get("/inbox?view=team").text
    counts = {
        view: html.split(f'data-count-for="{view}">', 1)[1].split("<", 1)[0]
        for view in ("mine", "unassigned", "team", "breaching", "open", "pending")
    }
    assert counts == {
        "mine": "2",
        "unassigned": "4",
        "team": "4",
        "breaching": "2",
        "open": "8",
        "pending": "1",
    }
    assert '<a href="/inbox?view=team" data-view="team" aria-current="page">' in html
    assert "<title>Inbox · My team · Threadline</title>" in html


def test_the_countdown_is_amber_or_red_from_the_first_paint(desk: Desk) -> None:
    html = desk.tia.get("/inbox?view=breaching").text
    late = html.split(f'id="case-row-{desk.breached}"', 1)[1].split("</tr>", 1)[0]
    warned = html.split(f'id="case-row-{desk.warned}"', 1)[1].split("</tr>", 1)[0]
    assert 'class="due due-late"' in late and "First reply" in late
    assert 'class="due due-warn"' in warned


def test_channel_and_segment_filter_a_view(desk: Desk, db: Session, env: Env) -> None:
    tia = desk.tia
    assert listed(tia, "view=open&channel=sms") == [desk.warned, desk.breached]
    assert listed(tia, "view=unassigned&channel=email&segment=") == [
        desk.unowned,
        desk.routed_to_team,
    ]
    create_customer(
        db,
        env,
        Actor.system(),
        name="Vera Vip",
        identities=[IdentityInput(IdentityKind.EMAIL, "vip@example.com")],
        segment="vip",
    )
    vip = receive_email(db, env, "vip@example.com", "Gold member here", subject="VIP").case_id
    assert listed(tia, "view=open&segment=vip") == [vip]
    html = tia.get("/inbox?view=open&segment=vip&channel=email").text
    assert '<option value="vip" selected>' in html
    assert '<option value="email" selected>' in html
    assert 'data-count-for="open">1<' in html
    # The view links keep the filters.
    assert 'href="/inbox?view=mine&amp;channel=email&amp;segment=vip"' in html


def test_an_unknown_view_or_channel_is_refused(desk: Desk) -> None:
    for query in ("view=everything", "channel=pigeon"):
        answer = desk.tia.get(f"/inbox?{query}", headers={"accept": "text/html"})
        assert answer.status_code == 422, query


def test_a_long_view_pages_by_keyset(desk: Desk, db: Session, env: Env, clock: FrozenClock) -> None:
    made = []
    for number in range(PAGE_SIZE + 3):
        made.append(receive_email(db, env, f"many{number}@example.com", f"Mail {number}").case_id)
        clock.advance(timedelta(seconds=1))
    newest_first = [*reversed(made), desk.unowned, desk.routed_to_team, desk.warned, desk.breached]
    first = desk.tia.get("/inbox?view=unassigned").text
    assert inbox_ids(first) == newest_first[:PAGE_SIZE]
    older = first.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    assert older.startswith("/inbox?view=unassigned&amp;after=")
    # A case arriving meanwhile does not shift the older page.
    receive_email(db, env, "late@example.com", "Arrived while reading")
    second = desk.tia.get(older.replace("&amp;", "&")).text
    assert inbox_ids(second) == newest_first[PAGE_SIZE:]
    assert 'rel="next"' not in second
    assert '<a href="/inbox?view=unassigned">Newest</a>' in second
    # A cursor from another view's order is refused.
    cursor = older.split("after=", 1)[1]
    refused = desk.tia.get(f"/inbox?view=breaching&after={cursor}")
    assert refused.status_code == 422


def test_the_rows_fragment_is_the_listing_alone(desk: Desk) -> None:
    answer = desk.tia.get("/inbox/rows?view=mine")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    assert "<html" not in html and "<header" not in html
    assert inbox_ids(html) == [desk.mine_pending, desk.mine]
    assert 'data-count-for="mine">2<' in html


def test_the_inbox_shows_a_note_as_the_latest_touch_to_agents(
    desk: Desk, db: Session, env: Env
) -> None:
    add_note(db, env, Actor.agent(desk.tom_id), desk.unowned, "Checked the warehouse: it shipped.")
    html = desk.tia.get("/inbox?view=unassigned").text
    row = html.split(f'id="case-row-{desk.unowned}"', 1)[1].split("</tr>", 1)[0]
    assert "Checked the warehouse: it shipped." in row


def test_a_clerk_has_no_inbox(runtime: Runtime, db: Session, env: Env) -> None:
    create_agent(
        db,
        env,
        Actor.system(),
        NewAgent(email="cal@shop.example", name="Cal Clerk", role=Role.CLERK, password=PASSWORD),
    )
    with signed_in(runtime, "cal@shop.example") as cal:
        for path in ("/inbox", "/inbox/rows", "/cases"):
            answer = cal.get(path, headers={"accept": "text/html"}, follow_redirects=False)
            assert answer.status_code == 403, path
