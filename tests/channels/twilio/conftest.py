"""The SMS channel's tests run the real app with the channel switched on against a
loopback stand-in for the provider's REST API (tests/twilio_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.twilio_support import (
    TwilioStandIn,
    run_stand_in,
    twilio_settings,
)
from threadline.config import Settings


@pytest.fixture
def stand_in() -> Iterator[TwilioStandIn]:
    yield from run_stand_in()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, stand_in: TwilioStandIn) -> Settings:
    return twilio_settings(database_url, tmp_path / "data", stand_in)
