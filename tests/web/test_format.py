"""How figures and times read on screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from threadline.queries.timeline import CallFigures, SwitchView
from threadline.vocabulary import Channel, SwitchReason
from threadline.web.format import (
    call_summary,
    duration,
    file_size,
    iso,
    money,
    switch_label,
    when,
)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 s"),
        (12, "12 s"),
        (59, "59 s"),
        (60, "1 min"),
        (300, "5 min"),
        (303, "5 min 3 s"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
    ],
)
def test_duration(seconds: int, said: str) -> None:
    assert duration(seconds) == said


def test_call_summary_reads_like_a_supervisor_says_it() -> None:
    assert call_summary(CallFigures(12, 40, 0, 300)) == (
        "rang 12 s · waited 40 s · held 0 s · talked 5 min"
    )


def test_call_summary_leaves_out_unknown_figures() -> None:
    assert call_summary(CallFigures(None, 5, None, 61)) == "waited 5 s · talked 1 min 1 s"


def _switch(**changes: object) -> SwitchView:
    fields: dict[str, object] = {
        "id": 1,
        "case_id": 1,
        "case_ref": "TL-1001",
        "from_channel": Channel.X,
        "to_channel": Channel.PHONE,
        "from_public": True,
        "to_public": False,
        "reason": SwitchReason.PRIVATE_DATA,
        "at": datetime(2026, 11, 23, 9, tzinfo=UTC),
        "agent_name": None,
        "to_touch_id": 7,
    }
    fields.update(changes)
    return SwitchView(**fields)  # type: ignore[arg-type]


def test_switch_label_names_both_sides_and_the_reason() -> None:
    assert switch_label(_switch()) == "Moved from X (public) to Phone — private data"


def test_switch_label_from_a_public_post_to_a_direct_message() -> None:
    label = switch_label(_switch(to_channel=Channel.X, reason=SwitchReason.AGENT_CHOICE))
    assert label == "Moved from X (public) to X (private) — agent choice"


def test_switch_label_of_a_move_still_waiting() -> None:
    label = switch_label(
        _switch(
            from_channel=Channel.EMAIL,
            from_public=False,
            to_touch_id=None,
            reason=SwitchReason.CALLBACK,
        )
    )
    assert label == "Moving from Email to Phone — callback"


def test_times_are_shown_in_utc_and_machine_readable_with_offset() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 5, 10, 7, tzinfo=paris)
    assert when(moment) == "5 Mar 2026, 09:07"
    assert iso(moment) == "2026-03-05T09:07:00+00:00"


def test_money_and_file_sizes() -> None:
    assert money(Decimal("1234.5")) == "1,234.50"
    assert file_size(512) == "512 B"
    assert file_size(3 * 1024) == "3 KB"
    assert file_size(5 * 1024 * 1024 + 1) == "5.0 MB"
