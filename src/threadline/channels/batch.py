"""What one webhook delivery from a social provider carried. Meta and X batch many
updates into one request; each becomes a customer's message, a word about a message we
sent, or a note of why it was passed over (our own echo, an event we do not handle, an
item that could not be read), so that the route can land the good ones and log the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from threadline.channels.base import Inbound
from threadline.channels.payload import json_array
from threadline.errors import InvalidInput
from threadline.vocabulary import Channel, Delivery


@dataclass(frozen=True)
class DeliveryReport:
    """The provider's word about a message we sent, found later by its id."""

    channel: Channel
    provider_ref: str
    delivery: Delivery
    error: str | None = None


@dataclass(frozen=True)
class Ignored:
    """An item passed over, and why (for the log; nothing is written for it). A
    `problem` is an item that could not be read, rather than one we chose to skip."""

    reason: str
    problem: bool = False


Item = Inbound | DeliveryReport | Ignored


@dataclass(frozen=True)
class Batch:
    """A delivery's items sorted by what becomes of them, each in the order it came."""

    messages: tuple[Inbound, ...] = ()
    reports: tuple[DeliveryReport, ...] = ()
    ignored: tuple[Ignored, ...] = ()

    @classmethod
    def of(cls, items: Iterable[Item]) -> Batch:
        messages: list[Inbound] = []
        reports: list[DeliveryReport] = []
        ignored: list[Ignored] = []
        for item in items:
            if isinstance(item, Inbound):
                messages.append(item)
            elif isinstance(item, DeliveryReport):
                reports.append(item)
            else:
                ignored.append(item)
        return cls(tuple(messages), tuple(reports), tuple(ignored))


def each(values: object, read: Callable[[object], Iterable[Item]], where: str) -> Iterator[Item]:
    """Every item `read` makes of each element of the JSON array `values` (missing:
    none). An element it cannot read (InvalidInput) is Ignored with the reason and the
    next one is read all the same; `values` that are no array are one Ignored item."""
    try:
        elements = json_array(values, where)
    except InvalidInput as exc:
        yield Ignored(exc.message, problem=True)
        return
    for index, value in enumerate(elements):
        try:
            yield from list(read(value))
        except InvalidInput as exc:
            yield Ignored(f"{where}[{index}]: {exc.message}", problem=True)
