"""Schemathesis walks every operation of /openapi.json with generated requests, signed
in as an admin over a database with a little data in it: no answer is a 500, and every
answer matches the schema the API publishes."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session

from tests.api.conftest import make_caller
from tests.factories import receive_email
from threadline.actions import Env
from threadline.api.app import create_app
from threadline.runtime import Runtime
from threadline.vocabulary import Role

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EVENTS = "GET /api/v1/events"


@pytest.fixture
def admin_token(db: Session, env: Env) -> str:
    receive_email(db, env, "ann@example.com", "Where is my order?")
    return make_caller(db, env, Role.ADMIN, "root").token


@pytest.fixture
def api_schema(runtime: Runtime) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(runtime))


def test_every_operation_answers_within_its_schema(api_schema: Any, admin_token: str) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    checked = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # Schema-valid input may still be refused on its merits (an unknown segment,
            # a status move that is not allowed, a cursor we never gave out): 422 is a
            # right answer there, so that one check is left out.
            case.call_and_validate(
                headers=headers,
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
                # The event stream never ends by itself: a second of it is read. Every
                # other answer is waited for, however busy the machine (a second was not
                # always enough with the suite running on every core).
                timeout=1 if case.operation.label == EVENTS else 60,
            )

        check()
        checked.append(operation.label)
    assert "POST /api/v1/session" in checked
    assert EVENTS in checked
