"""Meta's webhook for Messenger, Instagram and WhatsApp Cloud: one URL for the three.

- `GET /webhooks/meta`: the verification handshake when the webhook is subscribed;
  the challenge is echoed only to a request with our verify token.
- `POST /webhooks/meta`: a batch of events, signed (api/social_auth.py); customers'
  messages land on their cases, WhatsApp statuses and Messenger delivery receipts move
  the delivery of our replies. Answered 200 once everything is stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from threadline.api.deps import RuntimeDep, SessionDep
from threadline.api.schemas import error_responses
from threadline.api.social_auth import MetaKeysDep, MetaPayloadDep
from threadline.api.social_intake import Receipt, land
from threadline.api.threads import SessionEndingRoute
from threadline.channels.meta.events import parse_events
from threadline.channels.meta.signature import is_subscription
from threadline.errors import Forbidden

router = APIRouter(route_class=SessionEndingRoute, prefix="/webhooks/meta", tags=["webhooks"])

_CHALLENGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {}}, "description": "The challenge, echoed"},
    **error_responses(403, 404, 422),
}


# response_class=Response: with PlainTextResponse the JSON errors would be documented
# as text/plain too.
@router.get("", response_class=Response, responses=_CHALLENGE)
def verify_subscription(
    keys: MetaKeysDep,
    mode: Annotated[str, Query(alias="hub.mode")],
    token: Annotated[str, Query(alias="hub.verify_token")],
    challenge: Annotated[str, Query(alias="hub.challenge")],
) -> PlainTextResponse:
    """Meta subscribing the webhook: answer its challenge, as plain text, when it is
    Meta asking (it sends the verify token set in the app's dashboard)."""
    if not is_subscription(mode, token, keys.verify_token):
        raise Forbidden("not a subscription request with our verify token")
    return PlainTextResponse(challenge)


@router.post("", responses=error_responses(403, 404, 422))
def events_received(payload: MetaPayloadDep, runtime: RuntimeDep, db: SessionDep) -> Receipt:
    """A batch of Messenger, Instagram or WhatsApp events. Items we do not handle (our
    own echoes, reactions, read receipts, feed changes) are logged and acknowledged:
    asking Meta to retry would not change them, and an hour of failures unsubscribes
    the app from the page."""
    return land(db, runtime.env, parse_events(payload), source="meta")
