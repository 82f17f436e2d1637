"""Who the demo is about: the shop's staff, and the made-up customers the stories are
told for, with the contact details that let each story reach them."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from threadline.actions import IdentityInput
from threadline.channels.base import IdentityRef
from threadline.demo.data import (
    CONTACT_CENTRE,
    FIRST_NAMES,
    LAST_NAMES,
    MAIL_DOMAINS,
    SHOP_FLOOR,
    SOCIAL,
    TRADE_DESK,
    TRADE_KINDS,
    TRADE_NAMES,
)
from threadline.vocabulary import Channel, IdentityKind, Presence, Role


class Member(NamedTuple):
    name: str
    mailbox: str
    role: Role
    teams: tuple[str, ...]
    skills: tuple[str, ...]
    presence: Presence  # what the wallboard shows once the seed is done
    signs_in: bool  # one persona per role gets the demo password


_CC, _SO, _TR, _SF = (CONTACT_CENTRE,), (SOCIAL,), (TRADE_DESK,), (SHOP_FLOOR,)
_ON, _AWAY, _OFF = Presence.ONLINE, Presence.AWAY, Presence.OFFLINE
STAFF = (
    Member("Alex Morgan", "admin", Role.ADMIN, (), (), _ON, True),
    Member("Priya Raman", "priya", Role.SUPERVISOR, _CC + _SO, ("phone", "escalations"), _ON, True),
    Member("Tom Okafor", "tom", Role.AGENT, _CC, ("phone", "email", "returns"), _ON, True),
    # The trade desk is at lunch: trade mail waits in the queue (demo/arrivals.py).
    Member("Hannah Price", "hannah", Role.AGENT, _TR + _CC, ("email", "invoices"), _AWAY, False),
    Member("Sam Whitfield", "sam", Role.AGENT, _CC, ("chat", "delivery"), _ON, False),
    Member("Leah Brooks", "leah", Role.AGENT, _CC, ("phone", "returns"), _AWAY, False),
    Member("Dev Patel", "dev", Role.AGENT, _CC, ("email", "chat", "sms"), _OFF, False),
    Member("Jess Lin", "jess", Role.AGENT, _SO, ("x", "whatsapp", "instagram"), _ON, False),
    Member("Kieran Doyle", "kieran", Role.AGENT, _SO, ("x", "whatsapp"), _OFF, False),
    Member("Grace Otieno", "grace", Role.AGENT, _TR, ("email", "phone", "invoices"), _AWAY, False),
    Member("Ollie Bennett", "ollie", Role.CLERK, _SF, ("store",), _ON, True),
    Member("Maya Collins", "maya", Role.CLERK, _SF, ("store",), _ON, False),
    Member("Ruth Adeyemi", "ruth", Role.CLERK, _SF, ("store",), _OFF, False),
)


def staff_email(mailbox: str) -> str:
    return f"{mailbox}@harbourandvine.example"


class Pool:
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
class Person:
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
            Channel.WHATSAPP: wa_id(self.mobile) if self.mobile else None,
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
            (IdentityKind.WHATSAPP, wa_id(self.mobile) if self.whatsapp and self.mobile else None),
            (IdentityKind.X, f"@{self.x}" if self.x else None),
            (IdentityKind.LOYALTY_CARD, self.card),
            (IdentityKind.CHAT, self.chat),
        ]
        return [IdentityInput(kind, value) for kind, value in given if value]


def wa_id(mobile: str) -> str:
    # WhatsApp names a sender by the phone number's digits, without `+`.
    return re.sub(r"\D", "", mobile)


def new_person(pool: Pool, needs: frozenset[Channel]) -> Person:
    """A made-up customer with a random mix of contact details, plus whatever `needs`
    asks for so that a showcase story can reach them."""
    rng, wants = pool.rng, needs.__contains__
    segment = rng.choices(("vip", "trade", "standard"), weights=(6, 9, 85))[0]
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    name, local, domain = _name_and_mailbox(rng, segment, first, last)
    handle = rng.choice((f"{first}{last}", f"{first}_{last[0]}", f"{first[0]}{last}"))[:13]
    mobile = any(map(wants, (Channel.SMS, Channel.WHATSAPP, Channel.PHONE))) or rng.random() < 0.8
    return Person(
        name=name,
        first=first,
        segment=segment,
        email=pool.claim(f"{local}@{domain}", lambda n: f"{local}{n}@{domain}")
        if wants(Channel.EMAIL) or rng.random() < 0.9
        else None,
        mobile=pool.mobile() if mobile else None,
        landline=pool.landline() if rng.random() < 0.15 else None,
        whatsapp=mobile and (wants(Channel.WHATSAPP) or rng.random() < 0.3),
        x=pool.claim(handle, lambda n: f"{handle}{n}")
        if wants(Channel.X) or rng.random() < 0.2
        else None,
        card=pool.claim(_card(rng), lambda _: _card(rng)) if rng.random() < 0.35 else None,
        chat=pool.claim(_visitor(rng), lambda _: _visitor(rng))
        if wants(Channel.CHAT) or rng.random() < 0.2
        else None,
    )


def _name_and_mailbox(
    rng: random.Random, segment: str, first: str, last: str
) -> tuple[str, str, str]:
    """A person, or for a trade account a company whose contact is the person."""
    if segment != "trade":
        local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last[0]}"))
        return f"{first} {last}", local.lower(), rng.choice(MAIL_DOMAINS)
    company = f"{rng.choice(TRADE_NAMES)} {rng.choice(TRADE_KINDS)}"
    slug = re.sub(r"[^a-z]+", "-", company.lower().replace("é", "e")).strip("-")
    return company, rng.choice(("accounts", "orders", first.lower())), f"{slug}.example"


def _card(rng: random.Random) -> str:
    return f"HV {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def _visitor(rng: random.Random) -> str:
    # The id the web store's chat widget keeps for a signed-in shopper.
    return f"v_{rng.getrandbits(40):010x}"
