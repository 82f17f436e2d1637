"""X's webhook for the Account Activity API (and the X Activity API, which delivers
through the same registered webhook).

- `GET /webhooks/x?crc_token=T`: the challenge-response check, at registration and
  about hourly after; a wrong answer invalidates the webhook.
- `POST /webhooks/x`: a delivery of events, signed (api/social_auth.py); mentions,
  replies and direct messages from customers land on their cases. Answered 200 once
  they are stored; events we do not handle are logged and acknowledged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from threadline.api.deps import RuntimeDep, SessionDep
from threadline.api.schemas import error_responses
from threadline.api.social_auth import XPayloadDep, XSecretDep
from threadline.api.social_intake import Receipt, land
from threadline.api.threads import SessionEndingRoute
from threadline.channels.x.activity import parse_activity
from threadline.channels.x.signature import crc_response

router = APIRouter(route_class=SessionEndingRoute, prefix="/webhooks/x", tags=["webhooks"])


class CrcAnswer(BaseModel):
    response_token: str = Field(
        description="`sha256=` and the Base64 HMAC-SHA256 of the crc_token, keyed with "
        "the consumer secret",
        examples=["sha256=x0mYd8hz2goCTfcNAaMqENy2BFgJJfJOb4PdvTffpwg="],
    )


@router.get("", responses=error_responses(404, 422))
def challenge_response_check(
    secret: XSecretDep,
    crc_token: Annotated[str, Query(min_length=1, description="X's challenge")],
) -> CrcAnswer:
    """Prove to X that this webhook holds the app's consumer secret."""
    return CrcAnswer(response_token=crc_response(secret, crc_token))


@router.post("", responses=error_responses(403, 404, 422))
def events_received(payload: XPayloadDep, runtime: RuntimeDep, db: SessionDep) -> Receipt:
    """A delivery of account activity: customers' posts and direct messages land; our
    own posts and messages, which X delivers too, are dropped."""
    return land(db, runtime.env, parse_activity(payload), source="x")
