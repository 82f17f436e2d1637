"""One Meta webhook delivery, `{object, entry: [...]}`, read into a Batch. Meta batches up
to a thousand updates into one request; every entry and every item in it is read on its
own, so one that cannot be read is logged and the rest still land.

An `object` we do not handle (a page's feed, a user's permissions) is passed over, never
refused: Meta unsubscribes an app from a page after an hour of failed deliveries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from threadline.channels.batch import Batch, Ignored, Item, each
from threadline.channels.meta.messaging import messaging_items
from threadline.channels.meta.whatsapp import whatsapp_items
from threadline.channels.payload import JsonObject, optional_text
from threadline.vocabulary import Channel

_READERS: dict[str, Callable[[object], Iterable[Item]]] = {
    "page": partial(messaging_items, Channel.MESSENGER),
    "instagram": partial(messaging_items, Channel.INSTAGRAM),
    "whatsapp_business_account": whatsapp_items,
}


def parse_events(payload: JsonObject) -> Batch:
    """The customers' messages, the delivery reports and the passed-over items of one
    delivery (its body already checked against its signature and read as JSON)."""
    kind = optional_text(payload.get("object"))
    read = _READERS.get(kind or "")
    if read is None:
        return Batch(ignored=(Ignored(f"meta object {kind!r} is not handled"),))
    return Batch.of(each(payload.get("entry"), read, f"{kind}.entry"))
