"""The demo business: Harbour & Vine, a homeware shop with a web store, built through the
public actions only, so that every screen has a believable story to show.

`prepare_demo()` readies a database for `threadline demo`; `seed()` builds the business.
Everything is drawn from one `random.Random(seed)`: the same seed gives the same shop.
Time runs on a FrozenClock that each customer's story moves forward, from 45 days ago up
to now, so timelines spread over weeks and the newest cases are still open."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    NewAgent,
    Received,
    StoreVisit,
    add_note,
    assign,
    create_agent,
    create_customer,
    log_store_visit,
    merge_customers,
    receive,
    reply,
    set_presence,
    set_priority,
    set_status,
    switch_channel,
)
from threadline.channels.base import CallFigures, IdentityRef, Inbound, IncomingFile
from threadline.clock import FrozenClock
from threadline.errors import InvalidInput
from threadline.migrate import downgrade, upgrade
from threadline.models import Agent, Case, ChannelSwitch, Customer, Merge, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    IdentityKind,
    JourneyStage,
    Presence,
    Priority,
    Role,
    SwitchReason,
    TouchKind,
)

SHOP = "Harbour & Vine"
DEMO_PASSWORD = "threadline-demo"  # noqa: S105 - the published demo login, not a secret
ADMIN_EMAIL = "admin@harbourandvine.example"
LOGIN = f"{ADMIN_EMAIL} / {DEMO_PASSWORD}"
HISTORY = timedelta(days=45)
MIN_CUSTOMERS = 15  # one customer per showcase story, and a few more
MAX_CUSTOMERS = 800  # the drama-range mobile numbers run out beyond this

SHOP_FLOOR, CONTACT_CENTRE, SOCIAL, TRADE_DESK = "Shop floor", "Contact centre", "Social", "Trade"


class _Member(NamedTuple):
    name: str
    mailbox: str
    role: Role
    teams: tuple[str, ...]
    skills: tuple[str, ...]
    presence: Presence  # what the wallboard shows once the seed is done
    signs_in: bool  # one persona per role gets the demo password


_CC, _SO, _TR, _SF = (CONTACT_CENTRE,), (SOCIAL,), (TRADE_DESK,), (SHOP_FLOOR,)
_ON, _AWAY, _OFF = Presence.ONLINE, Presence.AWAY, Presence.OFFLINE
_STAFF = (
    _Member("Alex Morgan", "admin", Role.ADMIN, (), (), _ON, True),
    _Member(
        "Priya Raman", "priya", Role.SUPERVISOR, _CC + _SO, ("phone", "escalations"), _ON, True
    ),
    _Member("Tom Okafor", "tom", Role.AGENT, _CC, ("phone", "email", "returns"), _ON, True),
    _Member("Hannah Price", "hannah", Role.AGENT, _TR + _CC, ("email", "invoices"), _ON, False),
    _Member("Sam Whitfield", "sam", Role.AGENT, _CC, ("chat", "delivery"), _ON, False),
    _Member("Leah Brooks", "leah", Role.AGENT, _CC, ("phone", "returns"), _AWAY, False),
    _Member("Dev Patel", "dev", Role.AGENT, _CC, ("email", "chat", "sms"), _OFF, False),
    _Member("Jess Lin", "jess", Role.AGENT, _SO, ("x", "whatsapp", "instagram"), _ON, False),
    _Member("Kieran Doyle", "kieran", Role.AGENT, _SO, ("x", "whatsapp"), _OFF, False),
    _Member("Grace Otieno", "grace", Role.AGENT, _TR, ("email", "phone", "invoices"), _AWAY, False),
    _Member("Ollie Bennett", "ollie", Role.CLERK, _SF, ("store",), _ON, True),
    _Member("Maya Collins", "maya", Role.CLERK, _SF, ("store",), _ON, False),
    _Member("Ruth Adeyemi", "ruth", Role.CLERK, _SF, ("store",), _OFF, False),
)

_FIRST = (
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Sophie", "Ella",
    "Evie", "Poppy", "Zara", "Aisha", "Chloe", "Ruby", "Harriet", "Niamh", "Siobhan", "Anjali",
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Theo", "Alfie",
    "Rhys", "Callum", "Mohammed", "Ibrahim", "Tomasz", "Kwame", "Dylan", "Finley", "Hamish",
)  # fmt: skip
_LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Roberts",
    "Walker", "Wright", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Clarke",
    "Patel", "Khan", "Begum", "Murphy", "Kelly", "Campbell", "Stewart", "MacLeod", "Davies",
    "Lewis", "Price", "Okoye", "Mensah", "Nowak", "Kowalski", "Ahmed", "Chen", "Nguyen",
    "Fletcher", "Barker", "Holloway",
)  # fmt: skip
_TRADE_NAMES = (
    "Foxglove", "Saltmarsh", "Old Mill", "Bramble", "Larkspur", "Harbourside", "Wren",
    "Juniper", "Kingfisher",
)  # fmt: skip
_TRADE_KINDS = ("Interiors", "Lettings", "Café", "Holiday Cottages", "Design Studio", "Guest House")
_ITEMS = (
    "Sennen stoneware vase", "linen duvet cover", "oak serving board", "rattan pendant shade",
    "glass carafe set", "merino wool throw", "enamel pendant light", "terracotta planter",
    "cast-iron casserole", "velvet cushion set", "jute runner rug", "set of four stoneware mugs",
)  # fmt: skip
_POSTCODES = ("BS1 4DJ", "BN1 1AE", "EX4 3LS", "TR18 4AX", "CF10 1EP", "SW9 8HB", "LS6 2AF")
_MAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")


def _staff_email(mailbox: str) -> str:
    return f"{mailbox}@harbourandvine.example"


# --------------------------------------------------------------------------- customers


class _Pool:
    """Unique contact details. The numbers come from Ofcom's drama ranges, which will
    never ring a real person."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._mobiles = [f"+44 7700 900{n:03d}" for n in rng.sample(range(1000), 1000)]
        self._landlines = [f"+44 20 7946 0{n:03d}" for n in rng.sample(range(1000), 1000)]
        self._seen: set[str] = set()

    def mobile(self) -> str:
        return self._mobiles.pop()

    def landline(self) -> str:
        return self._landlines.pop()

    def claim(self, first: str, again: Callable[[int], str]) -> str:
        value, n = first, 1
        while value.lower() in self._seen:
            n += 1
            value = again(n)
        self._seen.add(value.lower())
        return value


@dataclass(frozen=True)
class _Person:
    """A demo customer as the stories know them; `id` is set once they exist."""

    name: str
    first: str  # how staff greet them (a company's contact person)
    segment: str
    email: str | None = None
    mobile: str | None = None
    landline: str | None = None
    whatsapp: bool = False
    x: str | None = None
    card: str | None = None
    chat: str | None = None
    id: int = 0

    def reaches(self) -> frozenset[Channel]:
        has = {
            Channel.EMAIL: self.email,
            Channel.PHONE: self.mobile or self.landline,
            Channel.SMS: self.mobile,
            Channel.WHATSAPP: self.mobile if self.whatsapp else None,
            Channel.X: self.x,
            Channel.CHAT: self.chat,
        }
        return frozenset(channel for channel, value in has.items() if value)

    def sender(self, channel: Channel) -> IdentityRef:
        value = {
            Channel.EMAIL: self.email,
            # Home phones ring the shop more than mobiles do; texts come from mobiles.
            Channel.PHONE: self.landline or self.mobile,
            Channel.SMS: self.mobile,
            Channel.WHATSAPP: _wa_id(self.mobile) if self.mobile else None,
            Channel.X: self.x,
            Channel.CHAT: self.chat,
        }[channel]
        assert value is not None, f"{self.name} cannot be reached by {channel}"
        kind = {
            Channel.EMAIL: IdentityKind.EMAIL,
            Channel.X: IdentityKind.X,
            Channel.CHAT: IdentityKind.CHAT,
            Channel.WHATSAPP: IdentityKind.WHATSAPP,
        }.get(channel, IdentityKind.PHONE)
        return IdentityRef(kind, value, self.name)

    def identities(self) -> list[IdentityInput]:
        given = [
            (IdentityKind.EMAIL, self.email),
            (IdentityKind.PHONE, self.mobile),
            (IdentityKind.PHONE, self.landline),
            (IdentityKind.WHATSAPP, _wa_id(self.mobile) if self.whatsapp and self.mobile else None),
            (IdentityKind.X, f"@{self.x}" if self.x else None),
            (IdentityKind.LOYALTY_CARD, self.card),
            (IdentityKind.CHAT, self.chat),
        ]
        return [IdentityInput(kind, value) for kind, value in given if value]


def _wa_id(mobile: str) -> str:
    # WhatsApp names a sender by the phone number's digits, without `+`.
    return re.sub(r"\D", "", mobile)


_STAGES: dict[str, tuple[tuple[JourneyStage, int], ...]] = {
    "vip": ((JourneyStage.LOYAL, 6), (JourneyStage.REPEAT, 3), (JourneyStage.AT_RISK, 1)),
    "trade": ((JourneyStage.REPEAT, 5), (JourneyStage.LOYAL, 3), (JourneyStage.FIRST_PURCHASE, 2)),
    "standard": (
        (JourneyStage.PROSPECT, 2),
        (JourneyStage.FIRST_PURCHASE, 4),
        (JourneyStage.REPEAT, 3),
        (JourneyStage.LOYAL, 1),
        (JourneyStage.AT_RISK, 1),
        (JourneyStage.LAPSED, 1),
    ),
}
_SPEND = {  # lifetime value in pounds for a standard customer at each stage
    JourneyStage.PROSPECT: (0, 0),
    JourneyStage.FIRST_PURCHASE: (15, 180),
    JourneyStage.REPEAT: (120, 900),
    JourneyStage.LOYAL: (600, 3500),
    JourneyStage.AT_RISK: (200, 1500),
    JourneyStage.LAPSED: (40, 400),
}
_SPEND_FACTOR = {"vip": 3, "trade": 6, "standard": 1}


def _person(pool: _Pool, needs: frozenset[Channel]) -> _Person:
    """A made-up customer with a random mix of contact details, plus whatever `needs`
    asks for so that a showcase story can reach them."""
    rng = pool.rng
    segment = rng.choices(("vip", "trade", "standard"), weights=(6, 9, 85))[0]
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    if segment == "trade":
        company = f"{rng.choice(_TRADE_NAMES)} {rng.choice(_TRADE_KINDS)}"
        name, local = company, rng.choice(("accounts", "orders", first.lower()))
        domain = re.sub(r"[^a-z]+", "-", company.lower().replace("é", "e")).strip("-") + ".example"
    else:
        name, domain = f"{first} {last}", rng.choice(_MAIL_DOMAINS)
        local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last[0]}")).lower()
    wants = {channel: channel in needs for channel in Channel}
    mobile = wants[Channel.SMS] or wants[Channel.WHATSAPP] or rng.random() < 0.8
    landline = rng.random() < 0.15
    handle = (first + last)[:13]
    return _Person(
        name=name,
        first=first,
        segment=segment,
        email=pool.claim(f"{local}@{domain}", lambda n: f"{local}{n}@{domain}")
        if wants[Channel.EMAIL] or rng.random() < 0.9
        else None,
        mobile=pool.mobile() if mobile or (wants[Channel.PHONE] and not landline) else None,
        landline=pool.landline() if landline else None,
        whatsapp=mobile and (wants[Channel.WHATSAPP] or rng.random() < 0.3),
        x=pool.claim(handle, lambda n: f"{handle}{n}")
        if wants[Channel.X] or rng.random() < 0.2
        else None,
        card=pool.claim(_card(rng), lambda n: _card(rng)) if rng.random() < 0.35 else None,
        chat=pool.claim(f"v_{rng.getrandbits(40):010x}", lambda n: f"v_{rng.getrandbits(40):010x}")
        if wants[Channel.CHAT] or rng.random() < 0.2
        else None,
    )


def _card(rng: random.Random) -> str:
    return f"HV {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def _sign_up(w: _World, person: _Person) -> _Person:
    rng = w.rng
    stage = rng.choices(*zip(*_STAGES[person.segment], strict=True))[0]
    low, high = _SPEND[stage]
    value = rng.uniform(low, high) * _SPEND_FACTOR[person.segment]
    customer = create_customer(
        w.db,
        w.env,
        Actor.system(),
        name=person.name,
        identities=person.identities(),
        segment=person.segment,
        journey_stage=stage,
        lifetime_value=Decimal(f"{value:.2f}"),
    )
    return dataclasses.replace(person, id=customer.id)


# --------------------------------------------------------------------------- the world


@dataclass
class _World:
    """What the stories act through: the session, the demo's own clock and shorthand for
    the actions they use."""

    db: Session
    env: Env
    clock: FrozenClock
    rng: random.Random
    pool: _Pool
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
        return self.rng.choice(_ITEMS)

    def minutes(self, low: int, high: int) -> timedelta:
        return timedelta(seconds=self.rng.randint(low * 60, high * 60))

    def hours(self, low: int, high: int) -> timedelta:
        return self.minutes(low * 60, high * 60)

    def days(self, low: int, high: int) -> timedelta:
        return self.hours(low * 24, high * 24)

    def say(
        self,
        person: _Person,
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
        return receive(
            self.db,
            self.env,
            Inbound(
                channel=channel,
                external_id=_external_id(self.rng, channel),
                sender=sender or person.sender(channel),
                text=text,
                subject=subject,
                public=public,
                topic=topic,
                attachments=(IncomingFile("damage.png", "image/png", _photo()),) if photo else (),
            ),
        )

    def call(self, person: _Person, summary: str, agent: int, *, ours: bool = False) -> Received:
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


# --------------------------------------------------------------------------- stories
# Each story is one customer's matter, told as a generator: it acts at the clock's
# current time and yields how long until its next step, so that many stories can run
# interleaved in time order (see _run).

Story = Iterator[timedelta]


def _damaged_item(w: _World, p: _Person) -> Story:
    """An email with a photo, then the customer rings (their choice of channel), the
    agent confirms by email (theirs), and the case is resolved and later closed."""
    order, item, agent = w.order(), w.item(), w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.EMAIL,
        f"Hello,\n\nOrder {order} arrived this morning and the {item} was broken in the box "
        "(photo attached). The outer box looked fine, so I think it was packed loosely.\n\n"
        f"Can you help?\n\n{p.first}",
        subject=f"Broken {item} - order {order}",
        topic="damaged item",
        photo=True,
    ).case_id
    yield w.minutes(20, 180)
    if p.segment == "vip":
        set_priority(w.db, w.env, Actor.agent(agent), case, Priority.HIGH)
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nI'm so sorry your {item} arrived broken, and thank you for the "
        "photo. We can send a replacement or refund you in full - which would you prefer?"
        f"\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.PENDING)
    yield w.hours(3, 30)
    w.call(
        p,
        f"Customer rang about the broken {item}: would like a replacement rather than a "
        "refund, and is in on Thursday for the courier.",
        agent,
    )
    yield w.minutes(2, 15)
    w.note(
        agent,
        case,
        f"Replacement {item} reserved at the Avonmouth warehouse; the courier collects the "
        "broken one on the same visit. Flagged the packing to the warehouse team.",
    )
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nAs promised on the phone: a replacement {item} leaves us "
        f"tomorrow as order {order}-R, and the courier will take the broken one away.\n\n"
        f"Kind regards,\n{w.sign(agent)}",
        channel=Channel.EMAIL,
    )
    w.status(agent, case, CaseStatus.RESOLVED)
    yield w.days(4, 7)
    w.status(None, case, CaseStatus.CLOSED)


def _late_delivery_on_x(w: _World, p: _Person) -> Story:
    """A public complaint; the agent answers in public and moves to direct messages
    because the order number and postcode must not be posted."""
    order, agent = w.order(), w.pick(SOCIAL)
    case = w.say(
        p,
        Channel.X,
        "@HarbourAndVine two weeks and still no sign of my order. Tracking hasn't moved "
        "since Tuesday. Not impressed",
        public=True,
        topic="delivery",
    ).case_id
    yield w.minutes(5, 50)
    w.reply(
        agent,
        case,
        f"@{p.x} Sorry {p.first}, that's not the wait we want for you. We'll DM you now - "
        f"please don't post your order details here. ^{w.names[agent][0]}",
    )
    switch_channel(
        w.db, w.env, Actor.agent(agent), case, Channel.X, SwitchReason.PRIVATE_DATA, public=False
    )
    yield w.minutes(10, 120)
    w.say(p, Channel.X, f"Hi, it's order {order}, postcode {w.rng.choice(_POSTCODES)}.")
    yield w.minutes(5, 40)
    w.reply(
        agent,
        case,
        f"Thanks {p.first}. The courier lost the parcel at their Bristol depot, so we've sent "
        f"a new one by next-day delivery and refunded your postage. Tracking for {order} "
        "follows by email.",
    )
    w.status(agent, case, CaseStatus.RESOLVED)


def _callback(w: _World, p: _Person) -> Story:
    """A chat that needs a conversation: the agent books a call-back and makes it."""
    agent = w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.CHAT,
        "Hi, I'm measuring up for curtains in a bay window and can't work out which size "
        "of the linen range to order. Could someone talk me through it?",
        topic="product question",
    ).case_id
    yield w.minutes(1, 4)
    w.reply(
        agent,
        case,
        f"Hi {p.first}, bay windows are tricky! One of our soft-furnishings team can ring "
        "you back this afternoon - is the number on your account the best one?",
    )
    yield w.minutes(1, 3)
    w.say(p, Channel.CHAT, "Yes that's fine, any time after 2. Thanks!")
    w.move(agent, case, Channel.PHONE, SwitchReason.CALLBACK)
    yield w.hours(2, 5)
    w.call(
        p,
        "Call-back as promised: talked through measuring a three-sided bay; recommended two "
        "pairs of the 168 cm drop with a corded bay track. Customer will order online.",
        agent,
        ours=True,
    )
    w.status(agent, case, CaseStatus.RESOLVED)
    yield w.days(3, 6)
    w.status(None, case, CaseStatus.CLOSED)


def _missed_delivery(w: _World, p: _Person) -> Story:
    """Texts about a second missed delivery slot; the supervisor takes over, escalates
    to a phone call, and the customer's thank-you reopens the case for a moment."""
    order, agent, boss = w.order(), w.pick(CONTACT_CENTRE), w.supervisor
    case = w.say(
        p,
        Channel.SMS,
        f"Hi, my sofa (order {order}) was due today between 8 and 12 and nobody came. "
        "What's happening?",
        topic="delivery",
    ).case_id
    yield w.minutes(15, 90)
    w.reply(
        agent,
        case,
        f"Hi {p.first}, sorry about this. The two-person crew is running late and now expects "
        f"to reach you by 4pm. {SHOP}",
    )
    yield w.hours(5, 7)
    w.say(p, Channel.SMS, "Still nothing and it's gone 5. I took the day off for this. AGAIN.")
    yield w.minutes(5, 20)
    set_priority(w.db, w.env, Actor.agent(boss), case, Priority.URGENT)
    assign(w.db, w.env, Actor.agent(boss), case, boss)
    w.note(
        boss,
        case,
        "Second missed slot on this order. Taking it over: calling to offer Saturday's first "
        "drop and a refund of the £45 delivery charge.",
    )
    w.move(boss, case, Channel.PHONE, SwitchReason.ESCALATION)
    yield w.minutes(5, 20)
    w.call(
        p,
        "Supervisor call: apologised for two missed slots, booked Saturday 8-10am (first "
        "drop), refunded the £45 delivery charge. Customer accepted.",
        boss,
        ours=True,
    )
    w.status(boss, case, CaseStatus.RESOLVED)
    yield w.days(1, 2)
    w.say(p, Channel.SMS, "Sofa arrived at 8.15 and it's lovely. Thanks for sorting it out.")
    yield w.minutes(30, 180)
    w.status(boss, case, CaseStatus.RESOLVED)
    yield w.days(3, 5)
    w.status(None, case, CaseStatus.CLOSED)


def _return_by_chat(w: _World, p: _Person) -> Story:
    """A return asked for on chat; the agent sends the label by email (agent's choice)."""
    order, item, agent = w.order(), w.item(), w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.CHAT,
        f"Hello, I'd like to return the {item} from order {order} - it's smaller than I expected.",
        topic="returns",
    ).case_id
    yield w.minutes(1, 5)
    w.reply(
        agent,
        case,
        f"Hi {p.first}, no problem - you have 30 days. I'll email you a prepaid returns "
        "label now so you can print it.",
    )
    yield w.minutes(1, 4)
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nYour prepaid returns label for order {order} is below. Drop the "
        "parcel at any Evri ParcelShop; we refund within 3 working days of receiving it.\n\n"
        f"Kind regards,\n{w.sign(agent)}",
        channel=Channel.EMAIL,
    )
    w.status(agent, case, CaseStatus.PENDING)
    yield w.days(2, 6)
    w.note(agent, case, f"Return of {item} received at the warehouse, unused. Refund issued.")
    w.status(agent, case, CaseStatus.RESOLVED)


def _whatsapp_reschedule(w: _World, p: _Person) -> Story:
    """A quick change of delivery day over WhatsApp."""
    order, agent = w.order(), w.pick(SOCIAL)
    case = w.say(
        p,
        Channel.WHATSAPP,
        f"Hi! Can I change the delivery day for order {order}? Thursday is no good any more",
        topic="delivery",
    ).case_id
    yield w.minutes(5, 60)
    w.reply(
        agent,
        case,
        f"Hi {p.first}! Of course - we can do Friday or Monday, both 7am-7pm. Which suits?",
    )
    yield w.minutes(5, 120)
    w.say(p, Channel.WHATSAPP, "Friday please!")
    yield w.minutes(2, 20)
    w.reply(agent, case, "Done, Friday it is. You'll get a text with a 2-hour slot that morning.")
    w.status(agent, case, CaseStatus.RESOLVED)


def _shop_visit(w: _World, p: _Person) -> Story:
    """A visit to the shop, found by loyalty card when the customer has one. A special
    order is followed up by email (a switch the agent chooses); a return is settled at
    the till."""
    clerk, item = w.pick(SHOP_FLOOR), w.item()
    card = IdentityRef(IdentityKind.LOYALTY_CARD, p.card) if p.card else None
    special = p.email is not None and w.rng.random() < 0.6
    visit = StoreVisit(
        topic="special order" if special else "return in store",
        customer_id=None if card else p.id,
        identity=card,
        note=f"Wants the {item} in the larger size we don't keep in the shop."
        if special
        else f"Brought back the {item} bought online: chipped on arrival.",
        outcome="ordering from the web store for home delivery" if special else "refunded to card",
    )
    case = log_store_visit(w.db, w.env, clerk, visit).case_id
    if not special:
        w.status(clerk, case, CaseStatus.RESOLVED)
        return
    yield w.hours(1, 6)
    agent = w.pick(CONTACT_CENTRE)
    w.reply(
        agent,
        case,
        f"Dear {p.first},\n\nLovely to hear you visited the shop today. {w.names[clerk]} asked "
        f"us to order the {item} in the larger size for you: it will be with you within 5 "
        f"working days, delivery free.\n\nKind regards,\n{w.sign(agent)}",
        channel=Channel.EMAIL,
    )
    w.status(agent, case, CaseStatus.RESOLVED)


def _new_number(w: _World, p: _Person) -> Story:
    """A customer writes from a new WhatsApp number, which makes a second customer; the
    agent checks the order and merges the two records."""
    order, item, agent = w.order(), w.item(), w.pick(SOCIAL)
    mobile = w.pool.mobile()
    got = w.say(
        p,
        Channel.WHATSAPP,
        f"Hi, it's {p.name} - new phone so new number! I ordered the {item} last week "
        f"({order}) under {p.email}. Has it shipped yet?",
        topic="order status",
        sender=IdentityRef(IdentityKind.WHATSAPP, _wa_id(mobile), p.name),
    )
    yield w.minutes(10, 90)
    w.note(
        agent,
        got.case_id,
        f"New number for {p.name}: order {order} matches {p.email}. Merging the duplicate "
        "record this number made into the existing customer.",
    )
    merge_customers(w.db, w.env, Actor.agent(agent), p.id, got.customer_id)
    w.reply(
        agent,
        got.case_id,
        f"Hi {p.first}, thanks - I've added this number to your account. The {item} left our "
        "warehouse this morning and should be with you tomorrow.",
    )
    w.status(agent, got.case_id, CaseStatus.RESOLVED)


def _invoice(w: _World, p: _Person) -> Story:
    """A trade account's invoice query (or a VAT receipt for anyone else)."""
    trade = p.segment == "trade"
    agent = w.pick(TRADE_DESK if trade else CONTACT_CENTRE)
    invoice, po = f"INV-{w.rng.randint(20000, 29999)}", f"PO{w.rng.randint(1000, 9999)}"
    ask = (
        f"Hi team,\n\nOur accounts department can't match invoice {invoice} to our purchase "
        f"order {po}. Could you reissue it with the PO number on it? We're on 30-day terms."
        f"\n\nThanks,\n{p.first}\n{p.name}"
        if trade
        else f"Hello,\n\nCould I have a VAT receipt for order {w.order()}? I'm claiming it "
        f"back through work.\n\nThanks,\n{p.first}"
    )
    case = w.say(
        p,
        Channel.EMAIL,
        ask,
        subject=f"Invoice {invoice} / {po}" if trade else "VAT receipt please",
        topic="invoice",
    ).case_id
    yield w.hours(1, 20)
    w.reply(
        agent,
        case,
        f"Hi {p.first},\n\nDone - the reissued document is attached to your account and on its "
        f"way to your accounts inbox.\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.RESOLVED)
    yield w.days(4, 8)
    w.status(None, case, CaseStatus.CLOSED)


def _phone_question(w: _World, p: _Person) -> Story:
    """A question settled on the call, sometimes with a link sent by text afterwards."""
    agent, order = w.pick(CONTACT_CENTRE), w.order()
    case = w.call(
        p,
        f"Asked when order {order} will arrive: it is with the courier, due tomorrow. Offered "
        "to text the tracking link.",
        agent,
    ).case_id
    assign(w.db, w.env, Actor.agent(agent), case, agent)
    if p.mobile:
        yield w.minutes(1, 5)
        # Named, because a text to the landline on file would never arrive.
        tracking = f"Tracking for {order}: https://track.example/{order}"
        w.reply(agent, case, tracking, Channel.SMS, to=p.sender(Channel.SMS))
    w.status(agent, case, CaseStatus.RESOLVED)


def _click_and_collect(w: _World, p: _Person) -> Story:
    """A short text exchange about collecting an order in the shop."""
    agent, order = w.pick(CONTACT_CENTRE), w.order()
    case = w.say(
        p,
        Channel.SMS,
        f"Hi is the Clifton shop open on Sunday? Want to collect my order {order}",
        topic="click and collect",
    ).case_id
    yield w.minutes(10, 120)
    w.reply(
        agent,
        case,
        f"Hi {p.first}, yes - Sundays 10-4. Your order is ready at the till; just show the "
        f"confirmation text. {SHOP}",
    )
    w.status(agent, case, CaseStatus.RESOLVED)


def _colour_question(w: _World, p: _Person) -> Story:
    """A product question by email that waits on the customer, who may never answer."""
    item, agent = w.item(), w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.EMAIL,
        f"Hi,\n\nDoes the {item} come in any other colours? The website only shows one.\n\n"
        f"{p.first}",
        subject=f"{item[0].upper()}{item[1:]} colours",
        topic="product question",
    ).case_id
    yield w.hours(1, 24)
    w.reply(
        agent,
        case,
        f"Hi {p.first},\n\nIt also comes in sage and in ink blue, back in stock next week. "
        f"Shall I reserve one for you?\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.PENDING)
    if w.rng.random() < 0.4:
        return  # no answer yet: the case waits on the customer
    yield w.hours(2, 48)
    w.say(p, Channel.EMAIL, "Yes please, the sage one. Thank you!")
    yield w.hours(1, 8)
    w.reply(agent, case, f"Reserved in sage for you, {p.first}. We'll email when it ships.")
    w.status(agent, case, CaseStatus.RESOLVED)


def _made_to_measure(w: _World, p: _Person) -> Story:
    """A made-to-measure blind: the agent asks for measurements and the case waits."""
    agent = w.pick(CONTACT_CENTRE)
    case = w.say(
        p,
        Channel.EMAIL,
        "Hello,\n\nDo you make roman blinds to measure? Our kitchen window is an odd size."
        f"\n\nBest wishes,\n{p.first}",
        subject="Made-to-measure roman blind",
        topic="product question",
    ).case_id
    yield w.hours(1, 20)
    w.reply(
        agent,
        case,
        f"Hi {p.first},\n\nWe do. Could you send the recess width and drop in centimetres, and "
        f"whether you'd like it inside or outside the recess?\n\nKind regards,\n{w.sign(agent)}",
    )
    w.status(agent, case, CaseStatus.PENDING)


@dataclass(frozen=True)
class _Kind:
    tell: Callable[[_World, _Person], Story]
    needs: frozenset[Channel]
    weight: int  # how common it is among everyday cases


def _kind(tell: Callable[[_World, _Person], Story], weight: int, *needs: Channel) -> _Kind:
    return _Kind(tell, frozenset(needs), weight)


# Every one of these runs once for a customer of its own early in the history (the
# showcase, which the tests rely on), then at random for everyone else.
_KINDS = (
    _kind(_damaged_item, 4, Channel.EMAIL, Channel.PHONE),
    _kind(_late_delivery_on_x, 3, Channel.X),
    _kind(_callback, 2, Channel.CHAT, Channel.PHONE),
    _kind(_missed_delivery, 1, Channel.SMS),
    _kind(_return_by_chat, 3, Channel.CHAT, Channel.EMAIL),
    _kind(_whatsapp_reschedule, 4, Channel.WHATSAPP),
    _kind(_shop_visit, 5),
    _kind(_new_number, 1, Channel.EMAIL),
    _kind(_invoice, 2, Channel.EMAIL),
    _kind(_phone_question, 6, Channel.PHONE),
    _kind(_click_and_collect, 3, Channel.SMS),
    _kind(_colour_question, 6, Channel.EMAIL),
    _kind(_made_to_measure, 1, Channel.EMAIL),
)


def _life(w: _World, person: _Person, kinds: list[_Kind]) -> Story:
    """One customer's matters, one after another, days apart."""
    for n, kind in enumerate(kinds):
        if n:
            yield w.days(5, 20)
        yield from kind.tell(w, person)


def _everyday(w: _World, person: _Person, count: int) -> list[_Kind]:
    """`count` of the stories this customer can be reached for, as often as they happen."""
    fits = [k for k in _KINDS if k.needs <= person.reaches()]
    weights = [
        k.weight * (4 if k.tell is _invoice and person.segment == "trade" else 1) for k in fits
    ]
    return w.rng.choices(fits, weights=weights, k=count)


def _waiting(w: _World, person: _Person, kind: _Kind) -> Story:
    """Only the customer's first contact, so that the case waits for its first answer."""
    yield from itertools.islice(kind.tell(w, person), 1)


def _run(w: _World, lives: list[tuple[datetime, Story]], end: datetime) -> None:
    """Play every life in time order, setting the clock to each step's moment. A step
    due after `end` has not happened yet, so its case stays as it is: open, pending or
    waiting for the call-back."""
    queue = [(at, n, life) for n, (at, life) in enumerate(lives)]
    heapq.heapify(queue)
    while queue:
        at, n, life = heapq.heappop(queue)
        if at > end:
            continue
        w.clock.set(at)
        step = next(life, None)
        if step is not None:
            heapq.heappush(queue, (at + step, n, life))


def _daytime(rng: random.Random, start: datetime, span: timedelta) -> datetime:
    """A moment in the span during the shop's long day (08:00-19:59)."""
    day = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
    return day.replace(hour=rng.randint(8, 19), minute=rng.randint(0, 59), second=0)


# --------------------------------------------------------------------------- seeding


@dataclass(frozen=True)
class DemoSummary:
    """What the demo database holds. `created` is False when it was seeded before."""

    created: bool
    agents: int
    customers: int
    cases: int
    touches: int
    switches: int
    merges: int

    def describe(self) -> str:
        return (
            f"{SHOP}: {self.agents} staff, {self.customers} customers, {self.cases} cases, "
            f"{self.touches} touches, {self.switches} channel switches, {self.merges} merges"
        )


def is_seeded(db: Session) -> bool:
    return db.scalar(select(Agent.id).where(Agent.email == ADMIN_EMAIL)) is not None


def seed(db: Session, env: Env, *, customers: int = 300, seed: int = 7) -> DemoSummary:
    """Build Harbour & Vine: staff, `customers` customers and 45 days of their cases,
    ending at `env`'s present. Does nothing when the demo is already there."""
    if not MIN_CUSTOMERS <= customers <= MAX_CUSTOMERS:
        raise InvalidInput(f"the demo needs {MIN_CUSTOMERS}-{MAX_CUSTOMERS} customers")
    if is_seeded(db):
        return _summary(db, created=False)
    end = env.clock.now()
    start = end - HISTORY
    # The demo's own clock: the shop opened three years ago, its customers signed up
    # since, and the stories run from `start` to `end`.
    clock = FrozenClock(start - timedelta(days=3 * 365))
    rng = random.Random(seed)
    w = _hire_staff(db, dataclasses.replace(env, clock=clock), clock, rng)
    people = _sign_up_customers(w, customers, start)
    _clock_in(w, final=False)
    _run(w, _lives(w, people, start, end), end)
    clock.set(end)
    _clock_in(w, final=True)
    return _summary(db, created=True)


def _hire_staff(db: Session, env: Env, clock: FrozenClock, rng: random.Random) -> _World:
    ids = [
        create_agent(
            db,
            env,
            Actor.system(),
            NewAgent(
                email=_staff_email(member.mailbox),
                name=member.name,
                role=member.role,
                # Hashing a password costs a noticeable fraction of a second, so only one
                # persona per role gets one.
                password=DEMO_PASSWORD if member.signs_in else None,
                skills=member.skills,
                teams=member.teams,
            ),
        ).id
        for member in _STAFF
    ]
    staff = list(zip(ids, _STAFF, strict=True))
    return _World(
        db=db,
        env=env,
        clock=clock,
        rng=rng,
        pool=_Pool(rng),
        teams={t: [i for i, m in staff if t in m.teams] for m in _STAFF for t in m.teams},
        names={i: m.name for i, m in staff},
        supervisor=next(i for i, m in staff if m.role is Role.SUPERVISOR),
    )


def _clock_in(w: _World, *, final: bool) -> None:
    """Everyone who owns cases is online while the history plays, so that returning
    customers are routed back to the agent who served them; at the end each takes the
    presence the wallboard should show."""
    for agent_id, member in zip(w.names, _STAFF, strict=True):
        if final:
            set_presence(w.db, w.env, Actor.agent(agent_id), agent_id, member.presence)
        elif member.role is not Role.CLERK:
            set_presence(w.db, w.env, Actor.agent(agent_id), agent_id, Presence.ONLINE)


def _sign_up_customers(w: _World, count: int, start: datetime) -> list[_Person]:
    """The first customers get what their showcase story needs; sign-ups spread over
    the years before the history starts, oldest first."""
    since = w.clock.now()
    moments = sorted(
        since + timedelta(seconds=w.rng.uniform(0, (start - since).total_seconds()))
        for _ in range(count)
    )
    people = []
    for n, at in enumerate(moments):
        w.clock.set(at)
        needs = _KINDS[n].needs if n < len(_KINDS) else frozenset()
        people.append(_sign_up(w, _person(w.pool, needs)))
    return people


def _lives(
    w: _World, people: list[_Person], start: datetime, end: datetime
) -> list[tuple[datetime, Story]]:
    lives: list[tuple[datetime, Story]] = []
    rng = w.rng
    for n, person in enumerate(people):
        if n < len(_KINDS):
            # Showcase stories start early enough to finish before the present.
            at = _daytime(rng, start + timedelta(days=1), HISTORY / 2)
            lives.append((at, _life(w, person, [_KINDS[n]])))
        elif rng.random() < 0.1:
            # Written in the last day and a half, not answered yet: the live queue.
            at = end - timedelta(seconds=rng.uniform(300, 36 * 3600))
            lives.append((at, _waiting(w, person, _everyday(w, person, 1)[0])))
        elif kinds := _everyday(w, person, rng.choices((0, 1, 2, 3), weights=(30, 45, 18, 7))[0]):
            lives.append((_daytime(rng, start, end - start), _life(w, person, kinds)))
    return lives


def _summary(db: Session, *, created: bool) -> DemoSummary:
    def count(model: type[object], *where: object) -> int:
        return db.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]

    return DemoSummary(
        created=created,
        agents=count(Agent),
        customers=count(Customer, Customer.merged_into_id.is_(None)),
        cases=count(Case),
        touches=count(Touch),
        switches=count(ChannelSwitch),
        merges=count(Merge),
    )


# --------------------------------------------------------------------------- the command


def prepare_demo(
    runtime: Runtime,
    *,
    reset: bool = False,
    echo: Callable[[str], None] = print,
    customers: int = 300,
) -> str:
    """Ready the database for `threadline demo`: optionally wipe it, migrate it, seed it
    unless it already holds the demo, and answer the login to print."""
    if reset:
        echo("resetting the demo database")
        _wipe(runtime)
    upgrade(runtime.settings.database_url)
    with runtime.db.session() as db:
        if is_seeded(db):
            summary = _summary(db, created=False)
            echo(f"the demo is already seeded ({summary.describe()}); --reset starts again")
            return LOGIN
        began = time.perf_counter()
        summary = seed(db, runtime.env, customers=customers)
    echo(f"seeded {summary.describe()} in {time.perf_counter() - began:.1f} s")
    return LOGIN


def _wipe(runtime: Runtime) -> None:
    # Pooled connections would keep the old file, or the old tables, alive; the engines
    # reconnect by themselves on next use.
    runtime.db.dispose()
    url = runtime.settings.database_url
    if not runtime.settings.is_sqlite:
        downgrade(url, "base")
        return
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)
