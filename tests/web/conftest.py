"""Fixtures for the web tests: a test client on the real app, a multi-channel story built
through the real actions, and helpers that read a page as a person would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import agent, inbound, receive_call
from threadline.actions import (
    Actor,
    Env,
    NewAgent,
    add_identity,
    add_note,
    create_agent,
    receive,
    reply,
    switch_channel,
)
from threadline.api.app import create_app
from threadline.clock import FrozenClock
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, IdentityKind, Role, SwitchReason

SCRIPT = "<script>alert('pwned')</script>"


READER_PASSWORD = "a long enough reader password"


@contextmanager
def signed_in_client(
    runtime: Runtime, *, email: str, name: str, role: Role, password: str
) -> Iterator[TestClient]:
    """A browser-like client on the real app, signed in through the session route as a
    new person of `role`."""
    with runtime.db.session() as session:
        create_agent(
            session,
            runtime.env,
            Actor.system(),
            NewAgent(email=email, name=name, role=role, password=password),
        )
    with TestClient(create_app(runtime)) as test_client:
        signed = test_client.post("/api/v1/session", json={"email": email, "password": password})
        assert signed.status_code == 200, signed.text
        yield test_client


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A browser-like client signed in to the desk as a supervisor (who may read every
    page the read-only tests look at)."""
    with signed_in_client(
        runtime,
        email="reader@shop.example",
        name="Rita Reader",
        role=Role.SUPERVISOR,
        password=READER_PASSWORD,
    ) as test_client:
        yield test_client


@dataclass(frozen=True)
class Story:
    """Ann posts on X, is moved to a phone call for her card details, then emails."""

    case_id: int
    customer_id: int
    agent_id: int
    post_id: int
    note_id: int
    call_id: int
    email_id: int
    reply_id: int


@pytest.fixture
def story(db: Session, env: Env, clock: FrozenClock) -> Story:
    amy = agent(db, env, name="Amy Agent")
    actor = Actor.agent(amy.id)
    post = receive(
        db,
        env,
        inbound(
            Channel.X,
            IdentityKind.X,
            "@ann_b",
            f"You charged me twice for order 1042! {SCRIPT}",
            name="Ann Baker",
            public=True,
        ),
    )
    clock.advance(timedelta(minutes=3))
    add_identity(db, env, actor, post.customer_id, IdentityKind.PHONE, "+44 7700 900123")
    add_identity(db, env, actor, post.customer_id, IdentityKind.EMAIL, "ann@example.com")
    switch_channel(db, env, actor, post.case_id, Channel.PHONE, SwitchReason.PRIVATE_DATA)
    clock.advance(timedelta(minutes=2))
    note = add_note(db, env, actor, post.case_id, "Card details needed: calling her back.")
    clock.advance(timedelta(minutes=5))
    call = receive_call(db, env, text="Confirmed the duplicate charge; refund agreed.")
    clock.advance(timedelta(hours=1))
    email = receive(
        db,
        env,
        inbound(
            Channel.EMAIL,
            IdentityKind.EMAIL,
            "ann@example.com",
            "Thanks, could I have that in writing?",
            subject="Refund",
        ),
    )
    clock.advance(timedelta(minutes=10))
    sent = reply(db, env, actor, post.case_id, "Of course: 24.99 is on its way back to you.")
    assert call.case_id == email.case_id == post.case_id
    return Story(
        case_id=post.case_id,
        customer_id=post.customer_id,
        agent_id=amy.id,
        post_id=post.touch_id,
        note_id=note,
        call_id=call.touch_id,
        email_id=email.touch_id,
        reply_id=sent.touch_id,
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    """The page's text as a reader gets it: tags gone, entities decoded, spaces collapsed."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def entry_ids(html: str) -> list[str]:
    """The timeline's entries in page order, e.g. ["touch-1", "switch-1", "touch-3"]."""
    return re.findall(r'<li class="entry [^"]*" id="((?:touch|switch)-\d+)"', html)


def entry(html: str, entry_id: str) -> str:
    """The markup of one timeline entry, from its <li> to the next entry or the list's end."""
    start = html.rindex('<li class="entry', 0, html.index(f'id="{entry_id}"'))
    ends = [
        i for i in (html.find('<li class="entry', start + 1), html.find("</ol>", start)) if i > 0
    ]
    return html[start : min(ends)]


def case_links(html: str) -> list[int]:
    """The case ids listed in a case table, in order."""
    return [int(found) for found in re.findall(r'<th scope="row"><a href="/cases/(\d+)">', html)]
