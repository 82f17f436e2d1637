"""The product's vocabulary as enums: each value is what the database and the API store,
each label what a person reads. Written once, used everywhere."""

from __future__ import annotations

from enum import StrEnum


class Labelled(StrEnum):
    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Channel(Labelled):
    STORE = "store"
    PHONE = "phone"
    SMS = "sms"
    EMAIL = "email"
    CHAT = "chat"
    X = "x"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    WEB = "web"
    API = "api"

    @property
    def label(self) -> str:
        return _CHANNEL_LABELS[self]

    @property
    def written(self) -> bool:
        """Whether an agent can answer on this channel with a written message."""
        return self in _WRITTEN


_CHANNEL_LABELS = {
    Channel.STORE: "Shop",
    Channel.PHONE: "Phone",
    Channel.SMS: "SMS",
    Channel.EMAIL: "Email",
    Channel.CHAT: "Chat",
    Channel.X: "X",
    Channel.MESSENGER: "Messenger",
    Channel.INSTAGRAM: "Instagram",
    Channel.WHATSAPP: "WhatsApp",
    Channel.WEB: "Web",
    Channel.API: "API",
}

_WRITTEN = frozenset(
    {
        Channel.SMS,
        Channel.EMAIL,
        Channel.CHAT,
        Channel.X,
        Channel.MESSENGER,
        Channel.INSTAGRAM,
        Channel.WHATSAPP,
    }
)


class IdentityKind(Labelled):
    EMAIL = "email"
    PHONE = "phone"
    X = "x"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"
    CHAT = "chat"
    LOYALTY_CARD = "loyalty_card"
    EXTERNAL = "external"


# Which kinds of identity reach a customer on each channel, in order of preference.
REACHABLE_BY: dict[Channel, tuple[IdentityKind, ...]] = {
    Channel.EMAIL: (IdentityKind.EMAIL,),
    Channel.PHONE: (IdentityKind.PHONE,),
    Channel.SMS: (IdentityKind.PHONE,),
    Channel.WHATSAPP: (IdentityKind.WHATSAPP, IdentityKind.PHONE),
    Channel.X: (IdentityKind.X,),
    Channel.MESSENGER: (IdentityKind.MESSENGER,),
    Channel.INSTAGRAM: (IdentityKind.INSTAGRAM,),
    Channel.CHAT: (IdentityKind.CHAT,),
}


class Direction(Labelled):
    IN = "in"
    OUT = "out"
    INTERNAL = "internal"


class TouchKind(Labelled):
    MESSAGE = "message"
    CALL = "call"
    VISIT = "visit"
    NOTE = "note"
    EVENT = "event"


class CaseStatus(Labelled):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset({CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.ON_HOLD})

# Allowed moves; `new` is only ever the first status and `closed` is final.
STATUS_MOVES: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset(
        {
            CaseStatus.OPEN,
            CaseStatus.PENDING,
            CaseStatus.ON_HOLD,
            CaseStatus.RESOLVED,
            CaseStatus.CLOSED,
        }
    ),
    CaseStatus.OPEN: frozenset(
        {CaseStatus.PENDING, CaseStatus.ON_HOLD, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.PENDING: frozenset(
        {CaseStatus.OPEN, CaseStatus.ON_HOLD, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.ON_HOLD: frozenset(
        {CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}


class Priority(Labelled):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class SwitchReason(Labelled):
    CUSTOMER_CHOICE = "customer_choice"
    PRIVATE_DATA = "private_data"
    CALLBACK = "callback"
    ESCALATION = "escalation"
    AGENT_CHOICE = "agent_choice"


class Role(Labelled):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    CLERK = "clerk"


class Presence(Labelled):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class JourneyStage(Labelled):
    PROSPECT = "prospect"
    FIRST_PURCHASE = "first_purchase"
    REPEAT = "repeat"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    LAPSED = "lapsed"


class Delivery(Labelled):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _DELIVERY_RANK[self]


# Provider statuses arrive out of order; a status only ever moves up this ladder.
_DELIVERY_RANK = {
    Delivery.QUEUED: 0,
    Delivery.SENT: 1,
    Delivery.DELIVERED: 2,
    Delivery.READ: 3,
    Delivery.FAILED: 4,
}


class MailState(Labelled):
    """Where a stored inbound mail is: waiting to be processed, on a case as a touch,
    recorded without a case (ours, an auto-reply with nothing to attach to), or failed
    (kept with its reason, retried)."""

    STORED = "stored"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class OutboxState(Labelled):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"


class ClockKind(Labelled):
    """What a service-level clock measures. `answer` is how long a call or chat waits for a
    person to pick up; `hold` is the longest single hold on a call."""

    ANSWER = "answer"
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    HOLD = "hold"
    RESOLUTION = "resolution"


class CallStatus(Labelled):
    """Where a call is. `ringing` until it is queued or answered; the last five end it."""

    RINGING = "ringing"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def ended(self) -> bool:
        return self in _CALL_ENDED


_CALL_ENDED = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.CANCELED,
    }
)
