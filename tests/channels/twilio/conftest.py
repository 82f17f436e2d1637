"""The SMS channel's tests run the real app with the channel switched on against a
loopback stand-in for the provider's REST API (tests/twilio_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, make_caller
from tests.twilio_support import (
    TwilioStandIn,
    run_stand_in,
    twilio_settings,
)
from threadline.actions import Env
from threadline.api.app import create_app
from threadline.config import Settings
from threadline.runtime import Runtime
from threadline.vocabulary import Role


@pytest.fixture
def stand_in() -> Iterator[TwilioStandIn]:
    yield from run_stand_in()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, stand_in: TwilioStandIn) -> Settings:
    return twilio_settings(database_url, tmp_path / "data", stand_in)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def amy(db: Session, env: Env) -> Caller:
    """An agent with an API token."""
    return make_caller(db, env, Role.AGENT, "amy")
