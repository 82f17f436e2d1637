"""Text messages through a Twilio-compatible provider. Inbound: the webhook's form read
into plain values and then into an `Inbound` (pure functions), with the carrier keywords
STOP and START recognised; the message's files fetched from the provider. Outbound: the
Sender that hands an agent's reply to the provider's REST API, whose status callbacks
then come back to /webhooks/twilio/sms/status."""

from __future__ import annotations

import logging
import mimetypes
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.channels.base import DeliveryResult, IdentityRef, Inbound, IncomingFile, Outbound
from threadline.channels.twilio.rest import TwilioApi, TwilioApiError
from threadline.config import Settings
from threadline.errors import InvalidInput
from threadline.identities import normalise
from threadline.vocabulary import Channel, Delivery, IdentityKind

log = logging.getLogger(__name__)

STATUS_PATH = "/webhooks/twilio/sms/status"
# The provider sends at most ten files with one message.
MAX_MEDIA = 10
# The longest body the provider takes in one request (it splits it into segments).
MAX_BODY = 1600
# The provider gives up on a webhook after 15 s; fetching files stops in time to answer.
MEDIA_BUDGET_SECONDS = 10.0

# The carriers' standard keywords, matched against the whole trimmed body in any case.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})

# What the provider's error codes mean, for the agent who reads why a text did not arrive.
_ERRORS = {
    21211: "not a valid phone number",
    21408: "texts to this region are not enabled on our account",
    21610: "the number has opted out of our texts (it texted STOP)",
    21612: "the provider cannot route texts between these numbers",
    21614: "not a mobile number",
    30003: "the phone is switched off or out of reach",
    30004: "the message was blocked (the recipient blocks it or is opted out)",
    30005: "the number is unknown or no longer in service",
    30006: "a landline, or a carrier that cannot take texts",
    30007: "the carrier filtered the message as spam",
    30008: "the carrier gave no reason",
}

# Provider statuses that say something about a sent text; the rest (queued, accepted,
# scheduled, sending, and the inbound receiving, received) add nothing to `queued`.
_REPORTED = {
    "sent": Delivery.SENT,
    "partially_delivered": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.READ,
    "undelivered": Delivery.FAILED,
    "failed": Delivery.FAILED,
    "canceled": Delivery.FAILED,
}

_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9._:\-]+")
# Short codes (3 to 6 digits, no `+`) send marketing and alerts, never a customer's text;
# read in the default region, some would pass for a phone number.
_SHORT_CODE = re.compile(r"^[0-9]{3,6}$")


@dataclass(frozen=True)
class Keyword:
    """A consent keyword as texted (upper-cased), and what it asks for."""

    word: str
    opted_out: bool


def consent_keyword(body: str) -> Keyword | None:
    """STOP (and its synonyms) or START (and its), when that is the whole message."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return Keyword(word, opted_out=True)
    if word in OPT_IN_KEYWORDS:
        return Keyword(word, opted_out=False)
    return None


@dataclass(frozen=True)
class MediaRef:
    url: str
    content_type: str


@dataclass(frozen=True)
class MissingMedia:
    """A file of the message that could not be fetched, and why."""

    url: str
    content_type: str
    error: str


@dataclass(frozen=True)
class SmsMessage:
    """An inbound text as the provider described it. `number` is the sender's E.164
    number where there is one (the key of their consent); `to` is our number."""

    sid: str
    channel: Channel
    sender: IdentityRef
    number: str | None
    to: str
    body: str
    media: tuple[MediaRef, ...] = ()
    segments: int | None = None


def _first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _phone_number(text: str, region: str) -> str | None:
    if _SHORT_CODE.match(text):
        return None
    try:
        return normalise(IdentityKind.PHONE, text, region=region)
    except InvalidInput:
        return None


def parse_message(pairs: Iterable[tuple[str, str]], *, region: str) -> SmsMessage:
    """The inbound webhook's form as an SmsMessage, or InvalidInput when it names no
    message or no sender. A `whatsapp:+E164` sender is a WhatsApp contact (its `WaId` and
    `ProfileName`); a sender that is no phone number (an alphanumeric sender id, a short
    code) is kept as an `external` identity, which no reply can reach."""
    fields = _first_values(pairs)
    sid = (
        fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid") or ""
    ).strip()
    if not sid:
        raise InvalidInput("the message has no MessageSid")
    raw_sender = fields.get("From", "").strip()
    if not raw_sender:
        raise InvalidInput("the message has no From")
    name = fields.get("ProfileName", "").strip() or None
    number: str | None = None
    if raw_sender.lower().startswith("whatsapp:"):
        channel = Channel.WHATSAPP
        wa_id = fields.get("WaId", "").strip() or raw_sender.split(":", 1)[1]
        sender = IdentityRef(
            IdentityKind.WHATSAPP, normalise(IdentityKind.WHATSAPP, wa_id, region=region), name
        )
    else:
        channel = Channel.SMS
        number = _phone_number(raw_sender, region)
        if number is None:
            external = "sms:" + _NOT_IN_AN_ID.sub("-", raw_sender)[:190]
            sender = IdentityRef(IdentityKind.EXTERNAL, external, name or raw_sender[:200])
        else:
            sender = IdentityRef(IdentityKind.PHONE, number, name)
    # The files are read from MediaUrl{N} whatever NumMedia says (it is their count).
    media = tuple(
        MediaRef(url, fields.get(f"MediaContentType{index}", "").strip())
        for index in range(MAX_MEDIA)
        if (url := fields.get(f"MediaUrl{index}", "").strip())
    )
    return SmsMessage(
        sid=sid,
        channel=channel,
        sender=sender,
        number=number,
        to=fields.get("To", "").strip(),
        body=fields.get("Body", ""),
        media=media,
        segments=_whole(fields.get("NumSegments", "")),
    )


def _filename(index: int, content_type: str) -> str:
    extension = mimetypes.guess_extension(content_type) or ""
    return f"media-{index + 1}{extension}"


def fetch_media(
    api: TwilioApi | None,
    media: Sequence[MediaRef],
    *,
    max_bytes: int,
    budget_seconds: float = MEDIA_BUDGET_SECONDS,
) -> tuple[tuple[IncomingFile, ...], tuple[MissingMedia, ...]]:
    """The message's files, fetched one after the other within `budget_seconds`; those
    that could not be (refused, too large, out of time, no account to ask with) are
    answered apart, so that the message lands without them rather than not at all."""
    files: list[IncomingFile] = []
    missing: list[MissingMedia] = []
    deadline = time.monotonic() + budget_seconds
    for index, ref in enumerate(media):
        if api is None:
            error = "THREADLINE_TWILIO_ACCOUNT_SID is unset, so files cannot be fetched"
        elif time.monotonic() >= deadline:
            error = "no time was left to fetch it before the provider's deadline"
        else:
            try:
                content, served_type = api.fetch_media(ref.url, max_bytes=max_bytes)
            except TwilioApiError as exc:
                error = str(exc)
            except Exception as exc:
                # Whatever went wrong with a file, the text itself must land.
                log.warning("fetching %s failed", ref.url, exc_info=True)
                error = f"fetching it failed: {type(exc).__name__}"
            else:
                content_type = ref.content_type or served_type
                files.append(IncomingFile(_filename(index, content_type), content_type, content))
                continue
        missing.append(MissingMedia(ref.url, ref.content_type or "a file", error))
    return tuple(files), tuple(missing)


def to_inbound(
    message: SmsMessage,
    files: Sequence[IncomingFile] = (),
    missing: Sequence[MissingMedia] = (),
) -> Inbound:
    """The text as the core takes it. Files that could not be fetched are named, with
    their URLs, in the text (so the agent sees them) and in the touch's meta."""
    text = message.body
    if missing:
        lines = "\n".join(f"[{m.content_type} not fetched: {m.url}]" for m in missing)
        text = f"{text}\n\n{lines}" if text.strip() else lines
    meta: dict[str, Any] = {"to": message.to}
    if message.segments is not None:
        meta["segments"] = message.segments
    if missing:
        meta["media_not_fetched"] = [
            {"url": m.url, "content_type": m.content_type, "error": m.error} for m in missing
        ]
    return Inbound(
        channel=message.channel,
        external_id=message.sid,
        sender=message.sender,
        text=text,
        attachments=tuple(files),
        meta=meta,
    )


def describe_error(code: int | None) -> str:
    """`error 30003: the phone is switched off or out of reach`, or as much as is known."""
    if code is None:
        return "no error code given"
    meaning = _ERRORS.get(code)
    return f"error {code}: {meaning}" if meaning else f"error {code}"


@dataclass(frozen=True)
class StatusReport:
    """A status callback: the message, and what it says for its touch (None: nothing
    the touch does not already show)."""

    sid: str
    status: str
    delivery: Delivery | None
    error: str | None


def parse_status(pairs: Iterable[tuple[str, str]]) -> StatusReport:
    """The status callback's form, or InvalidInput when it names no message."""
    fields = _first_values(pairs)
    sid = (fields.get("MessageSid") or fields.get("SmsSid") or "").strip()
    if not sid:
        raise InvalidInput("the status callback has no MessageSid")
    status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip().lower()
    delivery = _REPORTED.get(status)
    error = None
    if delivery is Delivery.FAILED:
        code = _whole(fields.get("ErrorCode", ""))
        error = f"the provider reported the text {status} ({describe_error(code)})"
    return StatusReport(sid, status, delivery, error)


@dataclass(frozen=True)
class TwilioSmsSender:
    """Sends a reply as a text from our number; the provider's status callbacks report
    what became of it."""

    api: TwilioApi
    from_number: str
    status_callback: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSmsSender | None:
        """The sender, or None when texts are off (no account, token or number)."""
        api = TwilioApi.from_settings(settings)
        if api is None or not settings.twilio_from_number:
            return None
        return cls(api, settings.twilio_from_number, settings.public_url + STATUS_PATH)

    def send(self, outbound: Outbound) -> DeliveryResult:
        if outbound.to.kind is not IdentityKind.PHONE:
            return DeliveryResult(
                Delivery.FAILED, error=f"a text cannot go to a {outbound.to.kind.value} identity"
            )
        if len(outbound.text) > MAX_BODY:
            return DeliveryResult(
                Delivery.FAILED,
                error=f"a text is at most {MAX_BODY} characters; this one has "
                f"{len(outbound.text)}: send it in parts or by email",
            )
        try:
            answer = self.api.send_message(
                to=outbound.to.value,
                from_=self.from_number,
                body=outbound.text,
                status_callback=self.status_callback,
            )
        except TwilioApiError as exc:
            error = str(exc)
            if exc.code in _ERRORS:
                error = f"{error} ({describe_error(exc.code)})"
            return DeliveryResult(Delivery.FAILED, error=error, retry=exc.retry)
        # The provider took it (2xx): sent, even in the odd case of an answer without a
        # sid, since sending it again would text the customer twice.
        sid = answer.get("sid")
        return DeliveryResult(Delivery.SENT, external_id=str(sid) if sid else None)
