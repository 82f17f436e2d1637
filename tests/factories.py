"""Small builders for test data, each going through the real actions."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from threadline.actions import Actor, Env, NewAgent, Received, create_agent, receive
from threadline.channels.base import CallFigures, IdentityRef, Inbound
from threadline.models import Agent
from threadline.vocabulary import Channel, IdentityKind, Role, TouchKind

_ids = itertools.count(1)


def inbound(
    channel: Channel = Channel.EMAIL,
    identity_kind: IdentityKind = IdentityKind.EMAIL,
    value: str = "ann@example.com",
    text: str = "Hello",
    *,
    external_id: str | None = None,
    name: str | None = None,
    **extra: object,
) -> Inbound:
    return Inbound(
        channel=channel,
        external_id=external_id or f"ext-{next(_ids)}",
        sender=IdentityRef(identity_kind, value, name),
        text=text,
        **extra,  # type: ignore[arg-type]
    )


def receive_email(
    db: Session, env: Env, value: str = "ann@example.com", text: str = "Hello", **extra: object
) -> Received:
    return receive(db, env, inbound(Channel.EMAIL, IdentityKind.EMAIL, value, text, **extra))


def agent(
    db: Session,
    env: Env,
    email: str = "amy@shop.example",
    role: Role = Role.AGENT,
    name: str = "Amy Agent",
) -> Agent:
    return create_agent(db, env, Actor.system(), NewAgent(email=email, name=name, role=role))


# A call answered after 12 s of ringing and 40 s in the queue, 5 minutes of talk.
ANSWERED_CALL = CallFigures(ring_seconds=12, wait_seconds=40, hold_seconds=0, talk_seconds=300)


def receive_call(
    db: Session,
    env: Env,
    phone: str = "+447700900123",
    text: str = "",
    figures: CallFigures | None = ANSWERED_CALL,
) -> Received:
    return receive(
        db,
        env,
        inbound(Channel.PHONE, IdentityKind.PHONE, phone, text, kind=TouchKind.CALL, call=figures),
    )
