"""The world the stories act in: the session, the demo's own clock and shorthand for the
actions they use, with provider-shaped ids, the customer's photo and the shop's hours."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from threadline.actions import (
    Actor,
    Env,
    Received,
    add_note,
    receive,
    reply,
    set_status,
    switch_channel,
)
from threadline.channels.base import CallFigures, IdentityRef, Inbound, IncomingFile
from threadline.channels.email.outgoing import email_thread_key
from threadline.clock import FrozenClock
from threadline.demo.data import ITEMS, SHOP
from threadline.demo.people import Person, Pool
from threadline.vocabulary import CaseStatus, Channel, SwitchReason, TouchKind


@dataclass
class World:
    """What the stories act through: the session, the demo's own clock and shorthand for
    the actions they use."""

    db: Session
    env: Env
    clock: FrozenClock
    rng: random.Random
    pool: Pool
    teams: dict[str, list[int]]
    names: dict[int, str]
    supervisor: int

    def pick(self, team: str) -> int:
        return self.rng.choice(self.teams[team])

    def sign(self, agent: int) -> str:
        return f"{self.names[agent].split()[0]}\n{SHOP} customer care"

    def order(self) -> str:
        return f"HV{self.rng.randint(100000, 999999)}"

    def item(self) -> str:
        return self.rng.choice(ITEMS)

    def staffed(self, delay: timedelta) -> timedelta:
        """`delay`, stretched when it would end while the shop is closed: staff answer,
        and the phones ring, only in opening hours."""
        now = self.clock.now()
        return opening(self.rng, now + delay) - now

    def another_day(self, low: int, high: int) -> timedelta:
        """Until a moment of the shop's day, `low` to `high` days from now."""
        now = self.clock.now()
        return daytime(self.rng, now + timedelta(days=low), timedelta(days=high - low)) - now

    def minutes(self, low: int, high: int) -> timedelta:
        return timedelta(seconds=self.rng.randint(low * 60, high * 60))

    def hours(self, low: int, high: int) -> timedelta:
        return self.minutes(low * 60, high * 60)

    def days(self, low: int, high: int) -> timedelta:
        return self.hours(low * 24, high * 24)

    def say(
        self,
        person: Person,
        channel: Channel,
        text: str,
        *,
        public: bool = False,
        subject: str | None = None,
        topic: str | None = None,
        photo: bool = False,
        sender: IdentityRef | None = None,
    ) -> Received:
        """The customer writes (or posts) on a channel."""
        external_id = _external_id(self.rng, channel)
        return receive(
            self.db,
            self.env,
            Inbound(
                channel=channel,
                external_id=external_id,
                thread_key=email_thread_key(external_id) if channel is Channel.EMAIL else None,
                sender=sender or person.sender(channel),
                text=text,
                subject=subject,
                public=public,
                topic=topic,
                attachments=(IncomingFile("damage.png", "image/png", _photo()),) if photo else (),
            ),
        )

    def call(self, person: Person, summary: str, agent: int, *, ours: bool = False) -> Received:
        """A phone call, written up by the agent who took (or, with `ours`, made) it."""
        rng = self.rng
        figures = CallFigures(
            ring_seconds=0 if ours else rng.randint(3, 25),
            wait_seconds=0 if ours else rng.choice((0, 0, rng.randint(10, 150))),
            hold_seconds=rng.choice((0, 0, rng.randint(20, 120))),
            talk_seconds=rng.randint(90, 720),
        )
        return receive(
            self.db,
            self.env,
            Inbound(
                channel=Channel.PHONE,
                external_id=_external_id(rng, Channel.PHONE),
                sender=person.sender(Channel.PHONE),
                text=summary,
                kind=TouchKind.CALL,
                call=figures,
                meta={"agent_id": agent, "direction": "outbound" if ours else "inbound"},
            ),
            Actor.agent(agent),
        )

    def reply(
        self,
        agent: int,
        case_id: int,
        text: str,
        channel: Channel | None = None,
        to: IdentityRef | None = None,
    ) -> None:
        reply(self.db, self.env, Actor.agent(agent), case_id, text, channel=channel, to=to)

    def note(self, agent: int, case_id: int, text: str) -> None:
        add_note(self.db, self.env, Actor.agent(agent), case_id, text)

    def status(self, agent: int | None, case_id: int, status: CaseStatus) -> None:
        # Without an agent it is the desk's own housekeeping, such as closing old cases.
        actor = Actor.agent(agent) if agent is not None else Actor.system()
        set_status(self.db, self.env, actor, case_id, status)

    def move(self, agent: int, case_id: int, channel: Channel, reason: SwitchReason) -> None:
        switch_channel(self.db, self.env, Actor.agent(agent), case_id, channel, reason)


def _external_id(rng: random.Random, channel: Channel) -> str:
    """An id in the shape each provider uses, so the timeline looks like the real thing."""
    bits = rng.getrandbits(128)
    match channel:
        case Channel.EMAIL:
            return f"<{bits:032x}@mail.example.com>"
        case Channel.PHONE:
            return f"CA{bits:032x}"
        case Channel.SMS:
            return f"SM{bits:032x}"
        case Channel.WHATSAPP:
            return f"wamid.HBgM{bits:032X}"
        case Channel.X:
            return str(10**18 + bits % (9 * 10**18))
        case _:
            return f"{channel.value}-{bits:032x}"


def _photo() -> bytes:
    """A small terracotta PNG with a dark crack across it: the customer's photo."""
    width, height = 64, 48
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # PNG filter type "none" for each row
        for x in range(width):
            raw += bytes((45, 32, 28) if abs(x - 16 - y // 2) < 2 else (196, 112, 78))

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def opening(rng: random.Random, at: datetime) -> datetime:
    """`at`, or when the shop is closed then (08:00-20:00 is staffed) soon after it opens."""
    if at.hour >= 20:
        at += timedelta(days=1)
    if not 8 <= at.hour < 20:
        at = at.replace(hour=8) + timedelta(minutes=rng.randint(0, 50))
    return at


def daytime(rng: random.Random, start: datetime, span: timedelta) -> datetime:
    """A moment in the span during the shop's long day (08:00-19:59)."""
    day = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
    return day.replace(hour=rng.randint(8, 19), minute=rng.randint(0, 59), second=0, microsecond=0)
