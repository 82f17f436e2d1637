"""The whole email loop as a customer and an agent live it, over real SMTP both ways:
the customer writes to the listener, the agent answers through the API, the worker
relays the answer to a real SMTP server, and the customer's mail client answers what
arrived there. The answer continues the same case."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, make_caller
from tests.mail_support import SmtpSink
from threadline.actions import Actor, Env
from threadline.actions.mailboxes import add_mailbox
from threadline.api.app import create_app
from threadline.channels.email.smtp_server import SmtpListener
from threadline.models import Case, InboundMail, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import Delivery, Direction, MailState, Role
from threadline.worker import Worker, senders_from_settings

SUPPORT = "help@shop.example"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def relaying_worker(runtime: Runtime, sink: SmtpSink) -> Worker:
    """A worker whose outbound mail goes to the sink (THREADLINE_SMTP_RELAY_URL)."""
    settings = runtime.settings.model_copy(update={"smtp_relay_url": sink.url()})
    return Worker(runtime, "loop-worker", senders_from_settings(settings))


@pytest.fixture
def listener(runtime: Runtime, db: Session, env: Env) -> Iterator[SmtpListener]:
    add_mailbox(db, env, Actor.system(), SUPPORT, team=None, imap_url=None)
    with SmtpListener(runtime, listen="127.0.0.1:0") as running:
        yield running


def send(listener: SmtpListener, message: EmailMessage) -> None:
    with smtplib.SMTP(listener.host, listener.port, timeout=10) as client:
        client.send_message(message)


def wait_processed(runtime: Runtime, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.db.reading() as read:
            done = read.scalar(
                select(func.count())
                .select_from(InboundMail)
                .where(InboundMail.state == MailState.PROCESSED)
            )
        if done is not None and done >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} mails were not processed in time")


def test_customer_reply_to_our_answer_continues_the_case(
    runtime: Runtime, listener: SmtpListener, sink: SmtpSink, db: Session, env: Env
) -> None:
    agent: Caller = make_caller(db, env, Role.AGENT, "dana")
    first = EmailMessage()
    first["From"] = "Ann Smith <ann@example.com>"
    first["To"] = SUPPORT
    first["Subject"] = "Wrong size delivered"
    first["Message-ID"] = make_msgid(domain="mail.example.com")
    first.set_content("I ordered a medium and got a small. Order 5521.")
    send(listener, first)
    wait_processed(runtime, 1)

    with runtime.db.reading() as read:
        case = read.scalars(select(Case)).one()
    with TestClient(create_app(runtime)) as client:
        answer = client.post(
            f"/api/v1/cases/{case.id}/replies",
            json={"text": "Sorry! A medium is on its way; keep the small."},
            headers=agent.headers,
        )
        assert answer.status_code == 202, answer.text

    worker = relaying_worker(runtime, sink)
    assert worker.run_once() == 1
    [delivered] = sink.wait_for(1)
    ours = delivered.message
    assert ours["To"] is not None and "ann@example.com" in ours["To"]
    assert f"[{case.ref}]" in str(ours["Subject"])
    assert ours["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in str(ours["References"])
    with runtime.db.reading() as read:
        out = read.scalars(select(Touch).where(Touch.direction == Direction.OUT)).one()
        assert out.delivery is Delivery.SENT

    # Ann's mail client answers what she received, quoting it, as clients do.
    again = EmailMessage()
    again["From"] = "Ann Smith <ann@example.com>"
    again["To"] = SUPPORT
    again["Subject"] = "Re: " + str(ours["Subject"])
    again["Message-ID"] = make_msgid(domain="mail.example.com")
    again["In-Reply-To"] = ours["Message-ID"]
    again["References"] = f"{ours['References']} {ours['Message-ID']}"
    again.set_content(
        "Thank you, it arrived!\n\nOn Mon, Threadline wrote:\n> Sorry! A medium is on its way\n"
    )
    send(listener, again)
    wait_processed(runtime, 2)

    with runtime.db.reading() as read:
        assert read.scalar(select(func.count()).select_from(Case)) == 1
        touches = read.scalars(select(Touch).order_by(Touch.id)).all()
    assert [(t.case_id, t.direction) for t in touches] == [
        (case.id, Direction.IN),
        (case.id, Direction.OUT),
        (case.id, Direction.IN),
    ]
    assert touches[-1].text.startswith("Thank you, it arrived!")
    assert "Sorry! A medium" not in touches[-1].text  # the quote is folded away


def test_raw_message_downloads_as_an_attachment_never_as_a_page(
    runtime: Runtime, listener: SmtpListener, db: Session, env: Env
) -> None:
    agent = make_caller(db, env, Role.AGENT, "dana")
    clerk = make_caller(db, env, Role.CLERK, "cleo")
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["To"] = SUPPORT
    message["Subject"] = "Photo of the damage"
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    message.set_content("See attached.")
    message.add_attachment(
        b"<script>alert(1)</script>", maintype="text", subtype="html", filename="x.html"
    )
    send(listener, message)
    wait_processed(runtime, 1)
    with runtime.db.reading() as read:
        touch = read.scalars(select(Touch)).one()
    with TestClient(create_app(runtime)) as client:
        [listed] = client.get(
            f"/api/v1/cases/{touch.case_id}/touches", headers=agent.headers
        ).json()["items"]
        raw = client.get(listed["raw_url"], headers=agent.headers)
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("message/rfc822")
        assert raw.headers["content-disposition"].startswith("attachment;")
        assert b"Photo of the damage" in raw.content
        [file] = listed["attachments"]
        got = client.get(file["url"], headers=agent.headers)
        assert got.status_code == 200 and got.content == b"<script>alert(1)</script>"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]
        # A clerk reads the customer's mail, and so may download what came with it.
        assert client.get(file["url"], headers=clerk.headers).status_code == 200
        assert client.get("/api/v1/attachments/999999", headers=agent.headers).status_code == 404
