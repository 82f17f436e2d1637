"""How figures and times read on screen. Pure functions, registered as template filters,
so the wording is tested once instead of spelled out in every template."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from threadline.queries.timeline import CallFigures, SwitchView, TouchView
from threadline.vocabulary import Channel, Direction, TouchKind


def duration(seconds: int) -> str:
    """12 s, 5 min, 5 min 3 s, 1 h 2 min: the units a supervisor says out loud."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def call_summary(call: CallFigures) -> str:
    """rang 12 s · waited 40 s · held 0 s · talked 5 min; unknown figures are left out."""
    parts = [
        (verb, value)
        for verb, value in (
            ("rang", call.ring_seconds),
            ("waited", call.wait_seconds),
            ("held", call.hold_seconds),
            ("talked", call.talk_seconds),
        )
        if value is not None
    ]
    return " · ".join(f"{verb} {duration(value)}" for verb, value in parts)


def when(moment: datetime) -> str:
    """23 Nov 2026, 09:05 in UTC; the <time> element beside it carries the exact value."""
    at = moment.astimezone(UTC)
    return f"{at.day} {at:%b %Y, %H:%M}"


def iso(moment: datetime) -> str:
    """RFC 3339 with its offset, for <time datetime=...>."""
    return moment.astimezone(UTC).isoformat()


def place(channel: Channel, public: bool, other: Channel) -> str:
    """One side of a channel switch. X (public) to X (private) is a move too, so the
    private side is named when both sides share a channel."""
    if public:
        return f"{channel.label} (public)"
    if channel is other:
        return f"{channel.label} (private)"
    return channel.label


def switch_label(switch: SwitchView) -> str:
    """Moved from X (public) to Phone — private data."""
    verb = "Moving" if switch.pending else "Moved"
    source = place(switch.from_channel, switch.from_public, switch.to_channel)
    target = place(switch.to_channel, switch.to_public, switch.from_channel)
    return f"{verb} from {source} to {target} — {switch.reason.label.lower()}"


_PHRASES = {
    (Direction.IN, TouchKind.MESSAGE): "wrote",
    (Direction.IN, TouchKind.CALL): "called",
    (Direction.IN, TouchKind.VISIT): "visited the shop",
    (Direction.OUT, TouchKind.MESSAGE): "replied",
    (Direction.OUT, TouchKind.CALL): "called the customer",
    (Direction.OUT, TouchKind.VISIT): "served the customer in the shop",
    (Direction.INTERNAL, TouchKind.NOTE): "added an internal note",
}


def touch_phrase(touch: TouchView) -> str:
    """What happened, after the author's name: "Ann wrote", "Amy replied"."""
    if touch.kind is TouchKind.EVENT:
        return "recorded an event"
    if touch.public and touch.direction is Direction.IN:
        return "posted in public"
    if touch.public and touch.direction is Direction.OUT:
        return "replied in public"
    return _PHRASES.get((touch.direction, touch.kind), touch.kind.label.lower())


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
