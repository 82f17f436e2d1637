"""What the channels' tests share: an agent with an API token, who reads back through the
API what a provider's webhook landed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, make_caller
from threadline.actions import Env
from threadline.vocabulary import Role


@pytest.fixture
def amy(db: Session, env: Env) -> Caller:
    """An agent with an API token."""
    return make_caller(db, env, Role.AGENT, "amy")
