"""Reading cases over the API: the inbox with its filters and pages, one case with its
switches, a case's touches and a customer's whole timeline, and who may see notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.factories import inbound, receive_call, receive_email
from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    add_identity,
    add_note,
    assign,
    create_customer,
    receive,
    reply,
    set_status,
)
from threadline.api.pagination import encode_cursor
from threadline.channels.base import IncomingFile
from threadline.clock import FrozenClock
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    IdentityKind,
    Role,
    SwitchReason,
)


def get(client: TestClient, caller: Caller, url: str, **params: Any) -> Any:
    answer = client.get(url, headers=caller.headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ids(client: TestClient, caller: Caller, **params: Any) -> list[int]:
    return [item["id"] for item in get(client, caller, "/api/v1/cases", **params)["items"]]


def refused(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


@dataclass(frozen=True)
class Inbox:
    ann: int  # email, owned by the agent, open
    bob: int  # sms, vip, unowned, new
    cat: int  # chat, owned by the supervisor, pending
    dan: int  # email, closed


@pytest.fixture
def inbox(db: Session, env: Env, clock: FrozenClock, callers: dict[Role, Caller]) -> Inbox:
    agent = Actor.agent(callers[Role.AGENT].agent_id)
    ann = receive_email(db, env, "ann@example.com", "Where is order 1001?")
    assign(db, env, agent, ann.case_id, callers[Role.AGENT].agent_id)
    set_status(db, env, agent, ann.case_id, CaseStatus.OPEN)
    clock.advance(timedelta(minutes=1))
    create_customer(
        db,
        env,
        Actor.system(),
        name="Bob Vip",
        identities=[IdentityInput(IdentityKind.PHONE, "+447700900222")],
        segment="vip",
    )
    bob = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900222", "Hi"))
    clock.advance(timedelta(minutes=1))
    cat = receive(db, env, inbound(Channel.CHAT, IdentityKind.CHAT, "visitor-7", "Sizes?"))
    assign(db, env, agent, cat.case_id, callers[Role.SUPERVISOR].agent_id)
    set_status(db, env, agent, cat.case_id, CaseStatus.PENDING)
    clock.advance(timedelta(minutes=1))
    dan = receive_email(db, env, "dan@example.com", "Thanks, all sorted")
    set_status(db, env, agent, dan.case_id, CaseStatus.CLOSED)
    db.close()  # no transaction stays open while the app serves requests
    return Inbox(ann.case_id, bob.case_id, cat.case_id, dan.case_id)


def test_the_inbox_filters(client: TestClient, callers: dict[Role, Caller], inbox: Inbox) -> None:
    agent, supervisor = callers[Role.AGENT], callers[Role.SUPERVISOR]
    newest_first = [inbox.dan, inbox.cat, inbox.bob, inbox.ann]
    assert ids(client, agent) == newest_first
    assert ids(client, agent, status="new") == [inbox.bob]
    assert ids(client, agent, status=["open", "pending"]) == [inbox.cat, inbox.ann]
    assert ids(client, agent, owner="me") == [inbox.ann]
    assert ids(client, supervisor, owner="me") == [inbox.cat]
    assert ids(client, agent, owner=str(supervisor.agent_id)) == [inbox.cat]
    assert ids(client, agent, owner="none") == [inbox.dan, inbox.bob]
    assert ids(client, agent, channel="email") == [inbox.dan, inbox.ann]
    assert ids(client, agent, channel="sms") == [inbox.bob]
    assert ids(client, agent, channel="phone") == []
    assert ids(client, agent, segment="vip") == [inbox.bob]
    assert ids(client, agent, segment="standard", owner="none") == [inbox.dan]
    assert ids(client, agent, status="open", owner="me", channel="email") == [inbox.ann]
    # Nothing is late yet. Earliest due first: Bob's text (a first reply within the hour)
    # before Ann's email (four contact-centre hours); then the cases with no running
    # clock (Cat's is paused while pending, Dan's case is closed), oldest first.
    assert ids(client, agent, sla="breached") == []
    assert ids(client, agent, sla="due_soon") == []
    assert ids(client, agent, sort="due") == [inbox.bob, inbox.ann, inbox.cat, inbox.dan]
    assert ids(client, agent, sort="updated") == newest_first


def test_inbox_items_say_enough_to_triage(
    client: TestClient, callers: dict[Role, Caller], inbox: Inbox
) -> None:
    (item,) = get(client, callers[Role.AGENT], "/api/v1/cases", status="open")["items"]
    # An email at 09:00 on a Monday: a first reply within four contact-centre hours,
    # warned at 80% of them; resolution within five contact-centre days.
    clocks = {clock["kind"]: clock for clock in item.pop("service_levels")}
    assert sorted(clocks) == ["first_reply", "resolution"]
    assert clocks["first_reply"] == {
        "kind": "first_reply",
        "channel": "email",
        "target_seconds": 4 * 3600,
        "started_at": "2026-11-23T09:00:00+00:00",
        "due_at": "2026-11-23T13:00:00+00:00",
        "warns_at": "2026-11-23T12:12:00+00:00",
        "paused": False,
        "breached": False,
        "met_at": None,
        "stopped_at": None,
    }
    assert item == {
        "id": inbox.ann,
        "ref": f"TL-{inbox.ann + 1000}",
        "customer_id": item["customer_id"],
        "customer_name": "ann@example.com",
        "segment": "standard",
        "owner_id": callers[Role.AGENT].agent_id,
        "owner_name": "Agent",
        "status": "open",
        "priority": "normal",
        "topic": None,
        "subject": "Where is order 1001?",
        "channels": ["email"],
        "due_at": "2026-11-23T13:00:00+00:00",
        "last_touch": {
            "channel": "email",
            "direction": "in",
            "kind": "message",
            "preview": "Where is order 1001?",
            "occurred_at": "2026-11-23T09:00:00+00:00",
        },
        "version": 3,
        "created_at": "2026-11-23T09:00:00+00:00",
        "updated_at": "2026-11-23T09:00:00+00:00",
    }


def test_clerks_read_the_inbox_without_private_previews(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], inbox: Inbox
) -> None:
    add_note(db, env, Actor.agent(callers[Role.AGENT].agent_id), inbox.ann, "VIP, be kind")
    db.close()
    clerk, agent = callers[Role.CLERK], callers[Role.AGENT]
    assert ids(client, clerk) == ids(client, agent)
    assert ids(client, clerk, owner="me") == []

    def preview(caller: Caller) -> str:
        items = get(client, caller, "/api/v1/cases", status="open")["items"]
        return str(items[0]["last_touch"]["preview"])

    assert preview(agent) == "VIP, be kind"
    assert preview(clerk) == "Where is order 1001?"


@pytest.mark.parametrize(
    "params",
    [
        {"owner": "someone"},
        {"owner": "0"},
        {"status": "lost"},
        {"channel": "pigeon"},
        {"sla": "late"},
        {"sort": "name"},
        {"limit": "0"},
        {"limit": "201"},
        {"cursor": "not a cursor"},
        {"cursor": encode_cursor("updated", "yesterday", 1)},
        {"cursor": encode_cursor("updated", "2026-11-23T09:00:00", 1)},  # no offset
        {"cursor": encode_cursor("updated", "2026-11-23T09:00:00+00:00", True)},
        {"cursor": encode_cursor("due", "2026-11-23T09:00:00+00:00", 1)},  # another sort
    ],
)
def test_bad_inbox_queries_are_refused(
    client: TestClient, callers: dict[Role, Caller], params: dict[str, str]
) -> None:
    answer = client.get("/api/v1/cases", headers=callers[Role.AGENT].headers, params=params)
    refused(answer, 422, "invalid_input")


def test_reading_needs_a_caller(client: TestClient, inbox: Inbox) -> None:
    for url in (
        "/api/v1/cases",
        f"/api/v1/cases/{inbox.ann}",
        f"/api/v1/cases/{inbox.ann}/touches",
        "/api/v1/customers/1/timeline",
    ):
        refused(client.get(url), 401, "unauthorized")
        refused(client.get(url, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def walk(client: TestClient, caller: Caller, url: str, **params: Any) -> list[list[int]]:
    """Every page of a list, following next_cursor to the end."""
    pages: list[list[int]] = []
    cursor: dict[str, str] = {}
    while True:
        page = get(client, caller, url, **params, **cursor)
        pages.append([item["id"] for item in page["items"]])
        if page["next_cursor"] is None:
            return pages
        cursor = {"cursor": page["next_cursor"]}
        assert len(pages) < 50, "the pages never end"


@pytest.mark.parametrize("sort", ["updated", "due"])
def test_walking_the_inbox_sees_every_case_once_in_order(
    db: Session,
    env: Env,
    clock: FrozenClock,
    client: TestClient,
    callers: dict[Role, Caller],
    sort: str,
) -> None:
    created = []
    for n in range(9):
        # Five cases changed in the same instant: only their ids tell them apart.
        if n >= 5:
            clock.advance(timedelta(seconds=30))
        created.append(receive_email(db, env, f"c{n}@example.com", "hello").case_id)
    db.close()
    agent = callers[Role.AGENT]
    whole = ids(client, agent, sort=sort, limit=200)
    assert sorted(whole) == sorted(created)
    pages = walk(client, agent, "/api/v1/cases", sort=sort, limit=2)
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    assert [case for page in pages for case in page] == whole
    exact = walk(client, agent, "/api/v1/cases", sort=sort, limit=3)
    assert [len(page) for page in exact] == [3, 3, 3]  # no empty page at the end
    assert [case for page in exact for case in page] == whole


@dataclass(frozen=True)
class Story:
    customer_id: int
    case_id: int
    later_case_id: int
    note_id: int
    call_id: int
    reply_id: int


@pytest.fixture
def story(db: Session, env: Env, clock: FrozenClock, callers: dict[Role, Caller]) -> Story:
    """Ann mails with a photo, texts, gets an internal note, calls, gets a reply by mail
    because it holds her card details; later she opens a second matter."""
    amy = Actor.agent(callers[Role.AGENT].agent_id)
    mail = receive_email(
        db,
        env,
        "ann@example.com",
        "The vase arrived broken",
        subject="Broken vase",
        html="<p>The vase arrived <b>broken</b></p><script>steal()</script>",
        attachments=(IncomingFile("vase.jpg", "image/jpeg", b"\xff\xd8" * 50),),
    )
    add_identity(db, env, amy, mail.customer_id, IdentityKind.PHONE, "+447700900123")
    clock.advance(timedelta(minutes=5))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "Any news?"))
    clock.advance(timedelta(minutes=1))
    note_id = add_note(db, env, amy, mail.case_id, "Courier damage, claim it")
    clock.advance(timedelta(minutes=1))
    call = receive_call(db, env)
    clock.advance(timedelta(minutes=6))
    sent = reply(
        db,
        env,
        amy,
        mail.case_id,
        "Here is the refund form",
        channel=Channel.EMAIL,
        switch_reason=SwitchReason.PRIVATE_DATA,
    )
    set_status(db, env, amy, mail.case_id, CaseStatus.CLOSED)
    clock.advance(timedelta(days=2))
    later = receive(db, env, inbound(Channel.CHAT, IdentityKind.EMAIL, "ann@example.com", "Hi!"))
    receive_email(db, env, "bob@example.com", "Not Ann's")
    db.close()
    return Story(
        mail.customer_id, mail.case_id, later.case_id, note_id, call.touch_id, sent.touch_id
    )


def test_one_case_with_its_switches_and_version(
    client: TestClient, callers: dict[Role, Caller], story: Story
) -> None:
    answer = client.get(f"/api/v1/cases/{story.case_id}", headers=callers[Role.CLERK].headers)
    assert answer.status_code == 200
    case = answer.json()
    assert answer.headers["etag"] == f'"{case["version"]}"'
    assert case == {
        "id": story.case_id,
        "ref": f"TL-{story.case_id + 1000}",
        "customer_id": story.customer_id,
        "owner_id": callers[Role.AGENT].agent_id,
        "status": "closed",
        "priority": "normal",
        "topic": None,
        "subject": "Broken vase",
        "journey_stage": "prospect",
        "channels": ["email", "sms", "phone"],
        "service_levels": case["service_levels"],  # below
        "due_at": None,
        "switches": [
            {
                "from_channel": "email",
                "to_channel": "sms",
                "from_public": False,
                "to_public": False,
                "reason": "customer_choice",
                "at": "2026-11-23T09:05:00+00:00",
                "pending": False,
            },
            {
                "from_channel": "sms",
                "to_channel": "phone",
                "from_public": False,
                "to_public": False,
                "reason": "customer_choice",
                "at": "2026-11-23T09:07:00+00:00",
                "pending": False,
            },
            {
                "from_channel": "phone",
                "to_channel": "email",
                "from_public": False,
                "to_public": False,
                "reason": "private_data",
                "at": "2026-11-23T09:13:00+00:00",
                "pending": False,
            },
        ],
        "tags": [],
        "satisfaction": None,
        "previous_case_id": None,
        "version": case["version"],
        "created_at": "2026-11-23T09:00:00+00:00",
        "updated_at": "2026-11-23T09:13:00+00:00",
        "resolved_at": None,
    }
    # The email's and the text's first replies were met when the call was answered; the
    # caller waited 40 s for a person where 20 s was promised; closing met resolution.
    assert [
        (clock["kind"], clock["channel"], clock["met_at"], clock["breached"])
        for clock in case["service_levels"]
    ] == [
        ("first_reply", "email", "2026-11-23T09:07:00+00:00", False),
        ("resolution", "email", "2026-11-23T09:13:00+00:00", False),
        ("first_reply", "sms", "2026-11-23T09:07:00+00:00", False),
        ("answer", "phone", "2026-11-23T09:07:40+00:00", True),
        ("hold", "phone", "2026-11-23T09:07:00+00:00", False),
    ]
    later = get(client, callers[Role.AGENT], f"/api/v1/cases/{story.later_case_id}")
    assert (later["previous_case_id"], later["channels"]) == (story.case_id, ["chat"])


def test_unknown_cases_and_customers_are_not_found(
    client: TestClient, callers: dict[Role, Caller], story: Story
) -> None:
    headers = callers[Role.AGENT].headers
    for url in (
        "/api/v1/cases/999999",
        "/api/v1/cases/999999/touches",
        "/api/v1/customers/999999/timeline",
    ):
        refused(client.get(url, headers=headers), 404, "not_found")
    for url in ("/api/v1/cases/0", "/api/v1/cases/x", f"/api/v1/cases/{2**63}/touches"):
        refused(client.get(url, headers=headers), 422, "invalid_input")


def test_touches_oldest_first_with_everything_a_desk_shows(
    client: TestClient, callers: dict[Role, Caller], story: Story
) -> None:
    page = get(client, callers[Role.AGENT], f"/api/v1/cases/{story.case_id}/touches")
    assert page["next_cursor"] is None
    touches = page["items"]
    assert [(t["channel"], t["direction"], t["kind"]) for t in touches] == [
        ("email", "in", "message"),
        ("sms", "in", "message"),
        ("sms", "internal", "note"),
        ("phone", "in", "call"),
        ("email", "out", "message"),
    ]
    times = [datetime.fromisoformat(t["occurred_at"]) for t in touches]
    assert times == sorted(times)
    assert all(t["occurred_at"].endswith("+00:00") for t in touches)
    mail, text, note, call, sent = touches
    assert mail["html"] == "<p>The vase arrived <b>broken</b></p>"
    assert (mail["subject"], mail["case_id"]) == ("Broken vase", story.case_id)
    assert mail["author"] == {
        "type": "customer",
        "id": story.customer_id,
        "name": "ann@example.com",
    }
    assert mail["identity"] == {"kind": "email", "value": "ann@example.com"}
    assert [(a["filename"], a["content_type"], a["size"]) for a in mail["attachments"]] == [
        ("vase.jpg", "image/jpeg", 100)
    ]
    assert (mail["delivery"], mail["call"], mail["logged_by"]) == (None, None, None)
    assert text["identity"] == {"kind": "phone", "value": "+447700900123"}
    agent = {"type": "agent", "id": callers[Role.AGENT].agent_id, "name": "Agent"}
    assert (note["id"], note["author"], note["public"]) == (story.note_id, agent, False)
    assert call["id"] == story.call_id
    assert call["call"] == {
        "ring_seconds": 12,
        "wait_seconds": 40,
        "hold_seconds": 0,
        "talk_seconds": 300,
        "answered_by": None,
        "holds": None,
        "recording_url": None,
    }
    assert (sent["id"], sent["author"], sent["delivery"]) == (story.reply_id, agent, "queued")
    assert sent["identity"] == {"kind": "email", "value": "ann@example.com"}


def test_clerks_never_see_internal_notes(
    client: TestClient, callers: dict[Role, Caller], story: Story
) -> None:
    clerk = callers[Role.CLERK]
    seen = get(client, clerk, f"/api/v1/cases/{story.case_id}/touches")["items"]
    assert story.note_id not in [t["id"] for t in seen]
    assert all(t["direction"] != "internal" for t in seen)
    assert len(seen) == 4
    timeline = get(client, clerk, f"/api/v1/customers/{story.customer_id}/timeline")["items"]
    assert story.note_id not in [t["id"] for t in timeline]
    for role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        touches = get(client, callers[role], f"/api/v1/cases/{story.case_id}/touches")["items"]
        assert story.note_id in [t["id"] for t in touches]


def test_touches_come_in_pages(
    client: TestClient, callers: dict[Role, Caller], story: Story
) -> None:
    agent = callers[Role.AGENT]
    url = f"/api/v1/cases/{story.case_id}/touches"
    whole = [t["id"] for t in get(client, agent, url)["items"]]
    pages = walk(client, agent, url, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [touch for page in pages for touch in page] == whole
    # A clerk's pages skip the note without leaving a hole.
    assert [len(page) for page in walk(client, callers[Role.CLERK], url, limit=2)] == [2, 2]
    inbox_cursor = encode_cursor("updated", "2026-11-23T09:00:00+00:00", 1)
    bad = client.get(url, headers=agent.headers, params={"cursor": inbox_cursor})
    refused(bad, 422, "invalid_input")


def test_a_customers_timeline_spans_cases_and_channels(
    client: TestClient, callers: dict[Role, Caller], story: Story
) -> None:
    agent = callers[Role.AGENT]
    url = f"/api/v1/customers/{story.customer_id}/timeline"
    touches = get(client, agent, url)["items"]
    assert [(t["case_id"], t["channel"], t["direction"]) for t in touches] == [
        (story.case_id, "email", "in"),
        (story.case_id, "sms", "in"),
        (story.case_id, "sms", "internal"),
        (story.case_id, "phone", "in"),
        (story.case_id, "email", "out"),
        (story.later_case_id, "chat", "in"),
    ]
    assert touches[-1]["case_ref"] == f"TL-{story.later_case_id + 1000}"
    pages = walk(client, agent, url, limit=4)
    assert [t for page in pages for t in page] == [t["id"] for t in touches]


class Statements:
    """Counts the statements the app sends to the database while serving requests."""

    def __init__(self, runtime: Runtime) -> None:
        self.count = 0
        self.engines = {runtime.db.engine, runtime.db.read_engine}

    def __call__(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self)


def test_a_page_costs_the_same_queries_however_long(
    db: Session,
    env: Env,
    clock: FrozenClock,
    runtime: Runtime,
    client: TestClient,
    callers: dict[Role, Caller],
) -> None:
    amy = Actor.agent(callers[Role.AGENT].agent_id)
    first = receive_email(db, env, "ann@example.com", "hello")
    for n in range(12):
        clock.advance(timedelta(minutes=1))
        other = receive_email(db, env, f"c{n}@example.com", "hello")
        add_note(db, env, amy, other.case_id, "noted")
        receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, f"+4477009001{n:02d}", "hi"))
        add_note(db, env, amy, first.case_id, f"note {n}")
        receive_email(
            db, env, "ann@example.com", f"more {n}", attachments=(IncomingFile("f", "a/b", b"x"),)
        )
    db.close()
    agent = callers[Role.AGENT]
    get(client, agent, "/api/v1/cases")  # the token's first use is recorded once

    def cost(url: str, limit: int) -> int:
        with Statements(runtime) as statements:
            page = get(client, agent, url, limit=limit)
        assert len(page["items"]) == limit
        return statements.count

    for url in (
        "/api/v1/cases",
        f"/api/v1/cases/{first.case_id}/touches",
        f"/api/v1/customers/{first.customer_id}/timeline",
    ):
        assert cost(url, 1) == cost(url, 20)
