"""JSON shapes the API answers with, shared by every router: the error body, times,
cases and touches. Response models only; a route's request body lives beside it.

Models read their fields from the query layer's frozen dataclasses (from_attributes),
so a route answers `CaseOut.model_validate(case_detail(db, id))`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    computed_field,
)

from threadline.api.keyset import MAX_ID
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    JourneyStage,
    Priority,
    SwitchReason,
    TouchKind,
)

CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="The case's id")]
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The customer's id")]
# An id in a request body.
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


# RFC 3339 in UTC with an explicit offset, e.g. 2026-11-23T09:00:00+00:00.
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-23T09:00:00+00:00"]}
    ),
]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(Schema):
    code: str = Field(
        description="not_found, invalid_input, unauthorized, forbidden, conflict, "
        "too_large or rate_limited"
    )
    message: str


class ErrorOut(Schema):
    """Every error answer: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorDetail


_ERRORS = {
    401: "No valid bearer token or session",
    403: "The caller's role may not do this, or the CSRF header is missing",
    404: "No such case, customer or agent",
    409: "The case changed since the caller read it (stale version), or cannot take this",
    413: "The request body is too large",
    422: "The input is invalid; nothing was changed",
    429: "Too many requests",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answers the ErrorOut shape."""
    return {status: {"model": ErrorOut, "description": _ERRORS[status]} for status in statuses}


# The success answer of a route that sends a case's version as its ETag.
WITH_ETAG: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "ETag": {
                "description": 'The case\'s version, e.g. "3": send it back as If-Match',
                "schema": {"type": "string"},
            }
        }
    }
}


class AuthorOut(Schema):
    type: Literal["customer", "agent", "system"] = Field(
        description="system: Threadline itself, for touches no person wrote"
    )
    id: int | None = Field(description="The customer's or agent's id; null for system")
    name: str


class IdentityOut(Schema):
    kind: IdentityKind
    value: str = Field(description="As the customer gave it")


class CallOut(Schema):
    ring_seconds: int | None = Field(description="From the first ring to the pick-up")
    wait_seconds: int | None = Field(description="In the queue")
    hold_seconds: int | None = Field(description="On hold, all holds together")
    talk_seconds: int | None = Field(description="From the pick-up to the end, less hold")
    answered_by: int | None = Field(
        default=None, description="The agent who picked up, or who placed the call"
    )
    holds: int | None = Field(default=None, description="How many times it was put on hold")
    recording_url: str | None = Field(default=None, description="A voicemail's recording")


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int = Field(description="Bytes")
    inline: bool

    @computed_field(description="Where to download the file (always as an attachment)")
    def url(self) -> str:
        return f"/api/v1/attachments/{self.id}"


class TouchOut(Schema):
    id: int
    case_id: int
    case_ref: str
    channel: Channel
    direction: Direction
    kind: TouchKind
    public: bool = Field(description="Visible to the world (a public post)")
    subject: str | None
    text: str
    html: str | None = Field(description="Sanitised HTML, where the customer sent HTML")
    author: AuthorOut = Field(description="The customer for inbound touches, else the agent")
    identity: IdentityOut | None = Field(
        description="The identity the customer wrote from, or a reply was sent to"
    )
    logged_by: AuthorOut | None = Field(description="The clerk who logged a shop visit")
    occurred_at: Timestamp
    delivery: Delivery | None = Field(description="Outbound touches only")
    delivery_error: str | None
    call: CallOut | None = Field(description="Null unless the touch is a call")
    outcome: str | None
    attachments: list[AttachmentOut]
    quoted: str | None = Field(
        default=None,
        description="An email's quoted history and signature, cut off `text`: show folded",
    )
    has_raw: bool = Field(default=False, exclude=True)

    @computed_field(description="The message as it arrived (email), to download")
    def raw_url(self) -> str | None:
        return f"/api/v1/touches/{self.id}/raw" if self.has_raw else None


class ServiceLevelOut(Schema):
    kind: str = Field(description="answer, first_reply, next_reply, hold or resolution")
    channel: Channel = Field(description="The channel of the contact that started it")
    target_seconds: int
    started_at: Timestamp
    due_at: Timestamp | None = Field(
        description="When it breaches (or breached); empty while paused"
    )
    warns_at: Timestamp | None = Field(description="When it warns, while it runs")
    paused: bool
    breached: bool = Field(description="Past its due time, whether met late or still running")
    met_at: Timestamp | None
    stopped_at: Timestamp | None = Field(
        description="When it stopped: met, or no longer owed (the case was resolved)"
    )


class SwitchOut(Schema):
    from_channel: Channel
    to_channel: Channel
    from_public: bool
    to_public: bool
    reason: SwitchReason
    at: Timestamp
    pending: bool = Field(
        description="Announced by an agent; no touch on the new channel has followed yet"
    )


class CaseOut(Schema):
    id: int
    ref: str = Field(examples=["TL-1042"])
    customer_id: int
    owner_id: int | None
    status: CaseStatus
    priority: Priority
    topic: str | None
    subject: str
    journey_stage: JourneyStage | None
    channels: list[Channel] = Field(
        description="Customer-facing channels of its touches, in the order first used"
    )
    service_levels: list[ServiceLevelOut] = Field(
        description="Every clock of the case, oldest first"
    )
    due_at: Timestamp | None = Field(
        description="The earliest due time of its running clocks, whatever the channel"
    )
    switches: list[SwitchOut] = Field(description="Oldest first")
    tags: list[str]
    satisfaction: int | None
    previous_case_id: int | None
    version: int = Field(description="Send back as If-Match or `version` to change the case")
    created_at: Timestamp
    updated_at: Timestamp
    resolved_at: Timestamp | None


class LastTouchOut(Schema):
    channel: Channel
    direction: Direction
    kind: TouchKind
    preview: str
    occurred_at: Timestamp


class CaseSummaryOut(Schema):
    """A case as the inbox lists it."""

    id: int
    ref: str
    customer_id: int
    customer_name: str
    segment: str
    owner_id: int | None
    owner_name: str | None
    status: CaseStatus
    priority: Priority
    topic: str | None
    subject: str
    channels: list[Channel]
    service_levels: list[ServiceLevelOut] = Field(description="Its clocks still running or paused")
    due_at: Timestamp | None = Field(description="The earliest due time of its running clocks")
    last_touch: LastTouchOut | None = Field(description="The latest touch the caller may read")
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class CaseStateOut(Schema):
    """What a change to a case answers: its state after the change."""

    id: int
    ref: str
    owner_id: int | None
    status: CaseStatus
    priority: Priority
    version: int
    updated_at: Timestamp


class ReplyOut(Schema):
    touch_id: int
    delivery: Literal["queued"]
    case_id: int
    channel: Channel
    switch_id: int | None = Field(description="The channel switch this reply made, if any")


class NoteOut(Schema):
    touch_id: int
