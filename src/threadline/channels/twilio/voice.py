"""The voice webhooks read into plain values, and the TwiML answers written.

No business logic and no database here: the routes hand what this module reads to the
actions in `actions/calls.py`, and send back what it writes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from urllib.parse import urlencode
from xml.etree import ElementTree

from threadline.vocabulary import CallStatus

# What the provider sends for a caller who withheld their number.
_WITHHELD = frozenset({"", "anonymous", "restricted", "unknown", "private", "unavailable"})
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_AGENT_CLIENT = re.compile(r"^client:agent-([1-9][0-9]{0,17})$")

# Webhook paths, under PUBLIC_URL.
BASE = "/webhooks/twilio/voice"
WAIT_PATH = f"{BASE}/wait"
QUEUE_PATH = f"{BASE}/queue"
BRIDGED_PATH = f"{BASE}/bridged"
STATUS_PATH = f"{BASE}/status"
VOICEMAIL_PATH = f"{BASE}/voicemail"
TRANSCRIPTION_PATH = f"{BASE}/transcription"
OUTBOUND_PATH = f"{BASE}/outbound"

VOICEMAIL_MAX_SECONDS = 180
# How long a caller waits for their own agent before any agent of the team may answer.
OWNER_WAIT_SECONDS = 30


def waited_too_long_for_owner(queue: str | None, queue_seconds: float | None) -> bool:
    return bool(
        queue
        and queue.startswith("agent-")
        and queue_seconds is not None
        and queue_seconds >= OWNER_WAIT_SECONDS
    )


def caller_number(raw: str) -> str | None:
    """The caller's E.164 number, or None when it was withheld or is not a number the
    network vouches for (a caller id such as `anonymous` or `266696687`)."""
    text = raw.strip()
    if text.lower() in _WITHHELD or not _E164.match(text):
        return None
    return text


def agent_of_client(raw: str) -> int | None:
    """The agent whose softphone places this call (`client:agent-12`), if it is one."""
    found = _AGENT_CLIENT.match(raw.strip())
    return int(found.group(1)) if found else None


def event_key(path: str, pairs: Iterable[tuple[str, str]]) -> str:
    """The identity of one provider request: its path and everything it posted. A retry
    or a replay carries the same and so gets the same key; any new fact changes it."""
    digest = hashlib.sha256(path.encode())
    for name, value in sorted(pairs):
        digest.update(b"\x00" + name.encode() + b"\x01" + value.encode())
    return digest.hexdigest()


def provider_time(raw: str, fallback: datetime) -> datetime:
    """A status callback's `Timestamp` (RFC 2822); requests without one are stamped on
    receipt."""
    if not raw:
        return fallback
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return fallback
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def seconds(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 <= value < 10**7 else None


class Step(StrEnum):
    """What a status callback or queue result says happened to a call."""

    RINGING = "ringing"
    ANSWERED = "answered"
    HELD = "held"
    RESUMED = "resumed"
    ENDED = "ended"
    NONE = "none"


@dataclass(frozen=True)
class StatusReport:
    step: Step
    status: CallStatus | None = None  # for ENDED: how it ended


_ENDINGS = {
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}


def read_status(call_status: str, callback_event: str) -> StatusReport:
    """A status callback: `CallStatus` with, for conference participants, a
    `StatusCallbackEvent` of participant-hold / participant-unhold."""
    event = callback_event.strip().lower()
    if event == "participant-hold":
        return StatusReport(Step.HELD)
    if event == "participant-unhold":
        return StatusReport(Step.RESUMED)
    status = call_status.strip().lower()
    if status in ("queued", "initiated", "ringing"):
        return StatusReport(Step.RINGING)
    if status in ("in-progress", "answered"):
        return StatusReport(Step.ANSWERED)
    if status in _ENDINGS:
        return StatusReport(Step.ENDED, _ENDINGS[status])
    return StatusReport(Step.NONE)


# --- TwiML -----------------------------------------------------------------------------


def _document(response: ElementTree.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(
        response, encoding="unicode"
    )


def _say(parent: ElementTree.Element, text: str) -> None:
    ElementTree.SubElement(parent, "Say").text = text


def empty() -> str:
    return _document(ElementTree.Element("Response"))


def enqueue(queue: str, public_url: str, greeting: str | None) -> str:
    """Welcome the caller and queue them for `queue`, with our wait message while they
    wait (told which queue, so a caller waiting too long for one agent can be moved on)
    and our action when they leave the queue (answered, hung up, or moved)."""
    response = ElementTree.Element("Response")
    if greeting:
        _say(response, greeting)
    node = ElementTree.SubElement(
        response,
        "Enqueue",
        action=public_url + QUEUE_PATH,
        method="POST",
        waitUrl=f"{public_url}{WAIT_PATH}?{urlencode({'queue': queue})}",
        waitUrlMethod="POST",
    )
    node.text = queue
    return _document(response)


def wait_message(position: int | None, *, leave: bool = False) -> str:
    """Played to a waiting caller, fetched again each time it ends. `leave` takes the
    caller out of the queue (to be queued again where more agents answer)."""
    response = ElementTree.Element("Response")
    if leave:
        ElementTree.SubElement(response, "Leave")
        return _document(response)
    if position is not None and position > 0:
        placed = "next" if position == 1 else f"number {position}"
        _say(response, f"Thank you for waiting. You are {placed} in the queue.")
    else:
        _say(response, "Thank you for waiting. Someone will be with you shortly.")
    ElementTree.SubElement(response, "Pause", length="20")
    return _document(response)


def voicemail(public_url: str, greeting: str) -> str:
    """Outside opening hours: a message, then the recording, transcribed."""
    response = ElementTree.Element("Response")
    _say(response, greeting)
    ElementTree.SubElement(
        response,
        "Record",
        action=public_url + VOICEMAIL_PATH,
        method="POST",
        maxLength=str(VOICEMAIL_MAX_SECONDS),
        playBeep="true",
        transcribe="true",
        transcribeCallback=public_url + TRANSCRIPTION_PATH,
    )
    _say(response, "We did not receive a message. Goodbye.")
    return _document(response)


def voicemail_thanks() -> str:
    response = ElementTree.Element("Response")
    _say(response, "Thank you. We will call you back as soon as we open.")
    ElementTree.SubElement(response, "Hangup")
    return _document(response)


def dequeue(queue: str, public_url: str, agent_id: int) -> str:
    """An agent's softphone takes the caller at the front of `queue`; the bridge is
    reported to our URL, which records who answered."""
    response = ElementTree.Element("Response")
    dial = ElementTree.SubElement(response, "Dial")
    node = ElementTree.SubElement(
        dial, "Queue", url=f"{public_url}{BRIDGED_PATH}?agent={agent_id}", method="POST"
    )
    node.text = queue
    return _document(response)


def nobody_waiting() -> str:
    response = ElementTree.Element("Response")
    _say(response, "No caller is waiting.")
    ElementTree.SubElement(response, "Hangup")
    return _document(response)


def connect_agent(agent_id: int, caller_id: str | None) -> str:
    """An outbound call the customer picked up: put them through to the agent who placed
    it, on the agent's softphone."""
    response = ElementTree.Element("Response")
    dial = ElementTree.SubElement(response, "Dial")
    if caller_id:
        dial.set("callerId", caller_id)
    ElementTree.SubElement(dial, "Client").text = f"agent-{agent_id}"
    return _document(response)
