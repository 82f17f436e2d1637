"""A desk with the phone channel on: signed webhooks from the tests, the provider's REST
API played by a loopback stand-in, and one agent online to take calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, make_caller
from tests.twilio_support import (
    TwilioStandIn,
    twilio_settings,
)
from tests.twilio_support import run_stand_in as _run_stand_in
from threadline.actions import Actor, Env
from threadline.actions.agents import set_presence
from threadline.config import Settings
from threadline.vocabulary import Presence, Role


@pytest.fixture
def stand_in() -> Iterator[TwilioStandIn]:
    yield from _run_stand_in()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, stand_in: TwilioStandIn) -> Settings:
    return twilio_settings(database_url, tmp_path / "data", stand_in)


@pytest.fixture
def agent(db: Session, env: Env) -> Caller:
    """An agent online, so that calls are routed and queued for them."""
    caller = make_caller(db, env, Role.AGENT, "ann")
    set_presence(db, env, Actor.agent(caller.agent_id), caller.agent_id, Presence.ONLINE)
    return caller
