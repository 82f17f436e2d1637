"""The permission matrix: every route of /api/v1, called by every role and by nobody.
Anonymous callers get 401, roles without the permission get 403, and a refusal leaves
every table exactly as it was; roles with the permission get through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.factories import receive_email
from threadline.actions import Actor, Env, merge_customers
from threadline.actions.service_level_admin import (
    CalendarInput,
    PolicyInput,
    create_calendar,
    create_policy,
)
from threadline.channels.base import IncomingFile
from threadline.models import Attachment, Base
from threadline.permissions import Permission, allows
from threadline.runtime import Runtime
from threadline.vocabulary import Role

ANY = None  # any signed-in caller


@dataclass(frozen=True)
class World:
    customer_id: int
    other_id: int
    case_id: int
    merge_id: int
    touch_id: int
    attachment_id: int
    calendar_id: int
    policy_id: int
    call_id: int = 1  # no such call: a caller who may read one is told so (404)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    permission: Permission | None
    body: Callable[[World, Caller], dict[str, Any]] | None = None
    # Streams never end on their own: only the refusals are checked for them.
    streams: bool = False
    query: str = ""  # a query string the route needs, e.g. "?q=lamp"

    def path(self, world: World) -> str:
        return (
            self.template.format(
                customer_id=world.customer_id,
                case_id=world.case_id,
                merge_id=world.merge_id,
                touch_id=world.touch_id,
                attachment_id=world.attachment_id,
                calendar_id=world.calendar_id,
                policy_id=world.policy_id,
                call_id=world.call_id,
            )
            + self.query
        )


def _text(_: World, caller: Caller) -> dict[str, Any]:
    return {"text": f"from {caller.role.value}"}


def _calendar(name: str) -> dict[str, Any]:
    return {"name": name, "time_zone": "Europe/London", "hours": {"mon": [["09:00", "17:00"]]}}


ROUTES = [
    # desk: case page (tags, who is viewing or typing)
    Route(
        "POST",
        "/api/v1/cases/{case_id}/tags",
        Permission.WORK_CASES,
        lambda w, c: {"tag": "refund"},
    ),
    Route("DELETE", "/api/v1/cases/{case_id}/tags", Permission.WORK_CASES, query="?tag=refund"),
    Route("POST", "/api/v1/cases/{case_id}/viewing", Permission.READ_CASES, lambda w, c: {}),
    Route(
        "POST",
        "/api/v1/cases/{case_id}/reply-check",
        Permission.WORK_CASES,
        lambda w, c: {"text": "card 4111 1111 1111 1111"},
    ),
    # desk: wallboard
    Route("GET", "/api/v1/wallboard", Permission.SEE_ALL_QUEUES),
    Route("GET", "/api/v1/session", ANY),
    Route("GET", "/api/v1/agents", ANY),
    Route("POST", "/api/v1/agents/me/presence", ANY, lambda w, c: {"status": "online"}),
    Route(
        "POST",
        "/api/v1/agents",
        Permission.MANAGE_AGENTS,
        lambda w, c: {"email": f"new-{c.role.value}@shop.example", "name": "New", "role": "agent"},
    ),
    Route("GET", "/api/v1/customers", Permission.LOOK_UP_CUSTOMERS),
    Route("GET", "/api/v1/customers/{customer_id}", Permission.LOOK_UP_CUSTOMERS),
    Route(
        "POST",
        "/api/v1/customers",
        Permission.EDIT_CUSTOMERS,
        lambda w, c: {
            "name": "Zed",
            "identities": [{"kind": "email", "value": f"zed-{c.role.value}@example.com"}],
        },
    ),
    Route(
        "POST",
        "/api/v1/customers/{customer_id}/identities",
        Permission.EDIT_CUSTOMERS,
        lambda w, c: {"kind": "email", "value": f"ann-{c.role.value}@example.com"},
    ),
    Route("GET", "/api/v1/customers/{customer_id}/timeline", Permission.READ_CASES),
    Route("GET", "/api/v1/cases", Permission.READ_CASES),
    Route("GET", "/api/v1/cases/{case_id}", Permission.READ_CASES),
    Route("GET", "/api/v1/cases/{case_id}/touches", Permission.READ_CASES),
    Route("POST", "/api/v1/cases/{case_id}/notes", Permission.WORK_CASES, _text),
    Route("POST", "/api/v1/cases/{case_id}/replies", Permission.WORK_CASES, _text),
    Route(
        "POST",
        "/api/v1/cases/{case_id}/assign",
        Permission.WORK_CASES,
        lambda w, c: {"agent_id": c.agent_id},
    ),
    Route(
        "POST",
        "/api/v1/cases/{case_id}/priority",
        Permission.WORK_CASES,
        lambda w, c: {"priority": "high"},
    ),
    Route(
        "POST",
        "/api/v1/cases/{case_id}/status",
        Permission.WORK_CASES,
        lambda w, c: {"status": "pending"},
    ),
    Route(
        "POST",
        "/api/v1/store-visits",
        Permission.LOG_STORE_VISITS,
        lambda w, c: {"customer_id": w.customer_id, "topic": "Returned a lamp"},
    ),
    Route(
        "POST",
        "/api/v1/inbound",
        Permission.POST_INBOUND,
        lambda w, c: {
            "channel": "web",
            "external_id": f"form-{c.role.value}",
            "from": {"kind": "email", "value": "web@example.com"},
            "text": "Contact form",
        },
    ),
    Route("POST", "/api/v1/merges/{merge_id}/undo", Permission.MERGE_CUSTOMERS),
    Route(
        "POST",
        "/api/v1/customers/{customer_id}/merge",
        Permission.MERGE_CUSTOMERS,
        lambda w, c: {"other_id": w.other_id},
    ),
    Route("GET", "/api/v1/search", Permission.LOOK_UP_CUSTOMERS, query="?q=lamp"),
    Route("GET", "/api/v1/attachments/{attachment_id}", Permission.READ_CASES),
    Route("GET", "/api/v1/touches/{touch_id}/raw", Permission.READ_CASES),
    Route("GET", "/api/v1/calendars", Permission.READ_REPORTS),
    Route(
        "POST",
        "/api/v1/calendars",
        Permission.MANAGE_SERVICE_LEVELS,
        lambda w, c: _calendar(f"Desk of the {c.role.value}"),
    ),
    Route("GET", "/api/v1/calendars/{calendar_id}", Permission.READ_REPORTS),
    Route(
        "PUT",
        "/api/v1/calendars/{calendar_id}",
        Permission.MANAGE_SERVICE_LEVELS,
        lambda w, c: _calendar("Back office"),
    ),
    Route("DELETE", "/api/v1/calendars/{calendar_id}", Permission.MANAGE_SERVICE_LEVELS),
    Route("GET", "/api/v1/service-levels", Permission.READ_REPORTS),
    Route(
        "POST",
        "/api/v1/service-levels",
        Permission.MANAGE_SERVICE_LEVELS,
        lambda w, c: {"channel": "web", "targets": {"first_reply": 3600}},
    ),
    Route("GET", "/api/v1/service-levels/{policy_id}", Permission.READ_REPORTS),
    Route(
        "PUT",
        "/api/v1/service-levels/{policy_id}",
        Permission.MANAGE_SERVICE_LEVELS,
        lambda w, c: {"channel": "api", "targets": {"first_reply": 600}},
    ),
    Route("DELETE", "/api/v1/service-levels/{policy_id}", Permission.MANAGE_SERVICE_LEVELS),
    # The phone channel is off here: placing a call answers 409, a call-back or a move to
    # the phone 422 (the customer has no number); what matters is who gets past the gate.
    Route("POST", "/api/v1/cases/{case_id}/calls", Permission.WORK_CASES, lambda w, c: {}),
    Route("GET", "/api/v1/calls/{call_id}", Permission.READ_CASES),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/recording",
        Permission.WORK_CASES,
        lambda w, c: {"paused": True},
    ),
    Route("GET", "/api/v1/call-backs", Permission.READ_CASES),
    Route("POST", "/api/v1/cases/{case_id}/call-backs", Permission.WORK_CASES, lambda w, c: {}),
    Route(
        "POST",
        "/api/v1/cases/{case_id}/switches",
        Permission.WORK_CASES,
        lambda w, c: {"to_channel": "phone", "reason": "private_data"},
    ),
    Route("GET", "/api/v1/events", ANY, streams=True),
    Route("DELETE", "/api/v1/session", ANY),
]
PUBLIC = {("POST", "/api/v1/session")}  # signing in needs no credentials


@pytest.fixture
def world(db: Session, env: Env) -> World:
    photo = IncomingFile("lamp.jpg", "image/jpeg", b"\xff\xd8 a photo of a lamp")
    ann = receive_email(db, env, "ann@example.com", "Where is my lamp?", attachments=(photo,))
    other = receive_email(db, env, "ann.other@example.com", "Lamp again")
    kept = receive_email(db, env, "bo@example.com", "Hello").customer_id
    gone = receive_email(db, env, "bo@work.example", "Hello again").customer_id
    merge = merge_customers(db, env, Actor.system(), kept, gone)
    attachment_id = db.scalar(select(Attachment.id).where(Attachment.touch_id == ann.touch_id))
    assert attachment_id is not None
    desk = create_calendar(db, env, Actor.system(), CalendarInput(**_calendar("Back office")))
    policy = create_policy(
        db, env, Actor.system(), PolicyInput(channel="api", targets={"first_reply": 900})
    )
    return World(
        ann.customer_id,
        other.customer_id,
        ann.case_id,
        merge.id,
        ann.touch_id,
        attachment_id,
        desk.id,
        policy.id,
    )


def snapshot(runtime: Runtime) -> dict[str, int]:
    with runtime.db.reading() as read:
        return {
            table.name: read.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def call(client: TestClient, route: Route, world: World, caller: Caller | None) -> int:
    headers = caller.headers if caller else {}
    body = route.body(world, caller) if route.body and caller else {}
    answer = client.request(route.method, route.path(world), json=body, headers=headers)
    return answer.status_code


def test_every_api_route_is_in_the_matrix(client: TestClient) -> None:
    published = {
        (method.upper(), path)
        for path, operations in client.get("/openapi.json").json()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    listed = {(r.method, r.template) for r in ROUTES}
    assert published - PUBLIC == listed


def test_anonymous_callers_are_refused_everywhere(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    before = snapshot(runtime)
    for route in ROUTES:
        status = call(client, route, world, None)
        assert status == 401, f"{route.method} {route.template}: {status}"
    assert snapshot(runtime) == before


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_its_permissions(
    client: TestClient, world: World, runtime: Runtime, callers: dict[Role, Caller], role: Role
) -> None:
    caller = callers[role]
    for route in ROUTES:
        permitted = route.permission is None or allows(role, route.permission)
        if route.streams and permitted:
            continue
        before = snapshot(runtime)
        status = call(client, route, world, caller)
        where = f"{role.value} {route.method} {route.template}: {status}"
        if permitted:
            assert status not in (401, 403), where
            assert status < 500, where
        else:
            assert status == 403, where
            assert snapshot(runtime) == before, where
