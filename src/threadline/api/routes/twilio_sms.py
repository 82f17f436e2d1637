"""Twilio-compatible text messaging webhooks: a customer's text (SMS, MMS, WhatsApp through
the same provider) lands on their case, and the provider's status callbacks move the
delivery of our replies. Both are signed (twilio_auth) and both answer the same to a
retried request as to the first, having changed nothing the second time."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from threadline.actions import Actor, receive
from threadline.actions.outbox import record_delivery_report
from threadline.actions.sms import set_sms_consent
from threadline.api.deps import RuntimeDep, SessionDep
from threadline.api.schemas import error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.api.twilio_auth import SignedFormDep
from threadline.channels.twilio.rest import TwilioApi
from threadline.channels.twilio.sms import (
    consent_keyword,
    fetch_media,
    parse_message,
    parse_status,
    to_inbound,
)
from threadline.errors import NotFound
from threadline.vocabulary import Channel

log = logging.getLogger(__name__)

router = APIRouter(
    route_class=SessionEndingRoute,
    prefix="/webhooks/twilio",
    tags=["webhooks"],
    include_in_schema=True,
)

# Silence: the desk answers, later, through the outbox.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_TWIML_ANSWER: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/xml": {}}, "description": "Empty TwiML: no automatic answer"}
}


@router.post(
    "/sms",
    response_class=Response,
    responses={**_TWIML_ANSWER, **error_responses(403, 404, 422)},
)
def text_received(form: SignedFormDep, runtime: RuntimeDep, db: SessionDep) -> Response:
    """A customer's text. Its files are fetched first, outside any transaction; one that
    cannot be fetched is named (with its URL) on the touch instead, and the text lands
    all the same. STOP and START, the whole text, also set the number's consent."""
    settings = runtime.settings
    message = parse_message(form.pairs, region=settings.default_region)
    files, missing = fetch_media(
        TwilioApi.from_settings(settings), message.media, max_bytes=settings.max_body_bytes
    )
    received = receive(db, runtime.env, to_inbound(message, files, missing))
    keyword = consent_keyword(message.body)
    if keyword is not None and message.channel is Channel.SMS and message.number is not None:
        # Also for a retried webhook: the first may have landed the text and stopped
        # before this. The action skips a keyword it has already applied.
        set_sms_consent(
            db,
            runtime.env,
            message.number,
            keyword.opted_out,
            keyword.word,
            received.touch_id,
        )
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    "/sms/status",
    status_code=204,
    response_class=Response,
    responses=error_responses(403, 404, 422),
)
def text_status(form: SignedFormDep, runtime: RuntimeDep, db: SessionDep) -> Response:
    """What became of a text we sent. A status never moves a delivery backwards (a late
    `sent` after `delivered` changes nothing); a failure fails the reply with the
    provider's error code and brings the case back to its owner. A sid we never sent
    (another system's text on a shared number) is ignored."""
    report = parse_status(form.pairs)
    if report.delivery is not None:
        try:
            record_delivery_report(
                db,
                runtime.env,
                provider_ref=report.sid,
                status=report.delivery,
                error=report.error,
                actor=Actor.channel(Channel.SMS.value),
            )
        except NotFound:
            log.info("status %s for text %s, which is not ours", report.status, report.sid)
    return Response(status_code=204)
