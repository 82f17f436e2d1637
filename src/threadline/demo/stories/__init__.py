"""The customer stories the demo tells, how common each is, and what a customer needs
for one to reach them; a customer's life is a few of them, days apart."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from threadline.demo.people import Person
from threadline.demo.scheduler import Story
from threadline.demo.stories.delivery import (
    click_and_collect,
    late_delivery_on_x,
    missed_delivery,
    whatsapp_reschedule,
)
from threadline.demo.stories.orders import (
    damaged_item,
    invoice_query,
    new_number,
    return_by_chat,
    shop_visit,
)
from threadline.demo.stories.questions import (
    callback,
    colour_question,
    made_to_measure,
    phone_question,
)
from threadline.demo.world import World
from threadline.vocabulary import Channel


@dataclass(frozen=True)
class Kind:
    tell: Callable[[World, Person], Story]
    needs: frozenset[Channel]
    weight: int  # how common it is among everyday cases


def _kind(tell: Callable[[World, Person], Story], weight: int, *needs: Channel) -> Kind:
    return Kind(tell, frozenset(needs), weight)


# Every one of these runs once for a customer of its own early in the history (the
# showcase, which the tests rely on), then at random for everyone else.
KINDS = (
    _kind(damaged_item, 8, Channel.EMAIL, Channel.PHONE),
    _kind(late_delivery_on_x, 6, Channel.X),
    _kind(callback, 4, Channel.CHAT, Channel.PHONE),
    _kind(missed_delivery, 2, Channel.SMS),
    _kind(return_by_chat, 6, Channel.CHAT, Channel.EMAIL),
    _kind(whatsapp_reschedule, 8, Channel.WHATSAPP),
    _kind(shop_visit, 10),
    _kind(new_number, 1, Channel.EMAIL),
    _kind(invoice_query, 4, Channel.EMAIL),
    _kind(phone_question, 12, Channel.PHONE),
    _kind(click_and_collect, 6, Channel.SMS),
    _kind(colour_question, 12, Channel.EMAIL),
    _kind(made_to_measure, 2, Channel.EMAIL),
)


def life(w: World, person: Person, kinds: list[Kind]) -> Story:
    """One customer's matters, one after another, days apart."""
    for n, kind in enumerate(kinds):
        if n:
            yield w.another_day(5, 20)
        yield from kind.tell(w, person)


def everyday(w: World, person: Person, count: int) -> list[Kind]:
    """`count` of the stories this customer can be reached for, as often as they happen."""
    fits = [k for k in KINDS if k.needs <= person.reaches()]
    weights = [
        k.weight * (4 if k.tell is invoice_query and person.segment == "trade" else 1) for k in fits
    ]
    return w.rng.choices(fits, weights=weights, k=count)


def waiting(w: World, person: Person, kind: Kind) -> Story:
    """Only the customer's first contact, so that the case waits for its first answer."""
    yield from itertools.islice(kind.tell(w, person), 1)
