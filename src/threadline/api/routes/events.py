"""GET /api/v1/events: what happens on the desk, live, as Server-Sent Events.

The caller is authenticated once and the database session is released before the
stream starts, so an open desk holds no connection while it waits. The bus is read in a
worker thread (its reads block), a second at a time, so that a client that went away is
noticed and its subscription closed within about a second."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from threadline.api.deps import CurrentPrincipal, RuntimeDep
from threadline.api.threads import SessionEndingRoute
from threadline.events import Event, EventsLost, Subscription
from threadline.permissions import Permission, allows

router = APIRouter(route_class=SessionEndingRoute, tags=["events"])

HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing the stream
POLL_SECONDS = 1.0  # the longest one read of the bus blocks its thread
RETRY_MS = 3000  # how soon EventSource reconnects after the stream breaks
RESET = "reset"  # the event that tells a client it missed events and should reload

# One event of the stream, as OpenAPI before 3.2 describes a text/event-stream: the
# schema is that of each event, not of the whole answer.
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Send it back as Last-Event-ID to resume"},
        "event": {"type": "string", "description": "The type, e.g. touch.created, or reset"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "JSON {type, at, case_id, customer_id, data}",
        },
        "retry": {"type": "integer", "minimum": 0},
    },
}


class EventStream(StreamingResponse):
    """A `text/event-stream` answer that closes its subscription however it ends."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[str], subscription: Subscription) -> None:
        super().__init__(
            frames,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._subscription.close()


@router.get(
    "/events",
    response_class=EventStream,
    status_code=200,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
            "description": "Events as they happen: `id:`, `event:` (the type) and `data:` "
            "(JSON `{type, at, case_id, customer_id, data}`); a `reset` event when events "
            "were missed and the client should reload.",
        },
        401: {},
    },
)
async def stream_events(
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    last_event_id: Annotated[
        str | None,
        Query(max_length=64, description="For clients that cannot send Last-Event-ID"),
    ] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64)
    ] = None,
) -> EventStream:
    """Events the caller may see, from now on or, given the id of the last event the
    client saw (the `Last-Event-ID` header wins over `last_event_id`), from just after
    it. Internal notes and other private events only reach roles that may read them."""
    # A browser's automatic reconnect sends the header with the newest id, while the URL
    # still carries the id the page first connected with.
    after = last_event_id_header or last_event_id
    subscription = await anyio.to_thread.run_sync(runtime.env.bus.subscribe, after)
    frames = _frames(
        request,
        subscription,
        private=allows(principal.role, Permission.READ_PRIVATE),
        announce_position=after is None,
    )
    return EventStream(frames, subscription)


async def _frames(
    request: Request, subscription: Subscription, *, private: bool, announce_position: bool
) -> AsyncIterator[str]:
    # Its own limiter: waiting streams must never use up the threads of the API's
    # ordinary (synchronous) handlers.
    limiter = anyio.CapacityLimiter(1)
    opening = f"retry: {RETRY_MS}\n"
    if announce_position and subscription.position is not None:
        # An id with no data: a client that reconnects before any event arrives resumes
        # from here and misses nothing.
        opening += f"id: {subscription.position}\n"
    yield opening + "\n"
    last_write = time.monotonic()
    while not await request.is_disconnected():
        try:
            event = await anyio.to_thread.run_sync(subscription.get, POLL_SECONDS, limiter=limiter)
        except EventsLost as lost:
            yield reset_frame(lost)
            last_write = time.monotonic()
            continue
        if event is not None and (private or not event.private):
            yield event_frame(event)
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_write = time.monotonic()


def event_frame(event: Event) -> str:
    head = f"id: {event.id}\n" if event.id else ""
    return f"{head}event: {event.type}\ndata: {event.public_json()}\n\n"


def reset_frame(lost: EventsLost) -> str:
    head = f"id: {lost.position}\n" if lost.position else ""
    data = json.dumps({"type": RESET, "reason": lost.reason})
    return f"{head}event: {RESET}\ndata: {data}\n\n"
