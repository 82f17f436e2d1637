"""The admin side of service levels over HTTP: calendars and policies are created, listed,
replaced and deleted; bad input is refused with the error body and writes nothing; and a
stored policy is what the service-level book then applies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.conftest import table_rows
from threadline.actions import Env
from threadline.actions.service_level_admin import seed_default_service_levels
from threadline.runtime import Runtime
from threadline.service_levels.book import Target
from threadline.vocabulary import Channel, ClockKind, Priority, Role

CALENDARS = "/api/v1/calendars"
POLICIES = "/api/v1/service-levels"
TRADE_DESK: dict[str, Any] = {
    "name": "Trade desk",
    "time_zone": "Europe/London",
    "hours": {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays_country": "GB-ENG",
    "closures": ["2026-12-24"],
}


@pytest.fixture
def admin(callers: dict[Role, Caller]) -> dict[str, str]:
    return callers[Role.ADMIN].headers


def _rows(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    # A reading session: the test's writing one would hold SQLite's write lock.
    with runtime.db.reading() as read:
        return {t: table_rows(read, t) for t in ("calendars", "service_policies", "audit_log")}


def _target(runtime: Runtime, kind: ClockKind, channel: Channel, segment: str) -> Target | None:
    with runtime.db.reading() as read:
        book = runtime.env.book.get(read.connection())
    return book.target(kind, channel=channel, segment=segment, priority=Priority.NORMAL)


def test_an_admin_adds_and_reads_a_calendar(client: TestClient, admin: dict[str, str]) -> None:
    created = client.post(CALENDARS, json=TRADE_DESK, headers=admin)

    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in TRADE_DESK} == TRADE_DESK
    assert body["policies"] == 0
    assert body["created_at"] == "2026-11-23T09:00:00+00:00"
    assert client.get(f"{CALENDARS}/{body['id']}", headers=admin).json() == body
    listed = client.get(CALENDARS, headers=admin).json()
    assert listed == {"items": [body], "next_cursor": None}


def test_calendars_come_in_pages(
    client: TestClient, admin: dict[str, str], db: Session, env: Env
) -> None:
    seed_default_service_levels(db, env)
    first = client.get(CALENDARS, params={"limit": 1}, headers=admin).json()
    assert [c["name"] for c in first["items"]] == ["Contact centre"]
    assert first["items"][0]["policies"] > 0
    rest = client.get(
        CALENDARS, params={"limit": 1, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    assert [c["name"] for c in rest["items"]] == ["Shop"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"hours": {"mon": [["17:00", "09:00"]]}}, "ends before it starts"),
        ({"hours": {"mon": [["09:00", "25:00"]]}}, "'25:00' is not a time"),
        ({"hours": {"funday": [["09:00", "17:00"]]}}, "hours.funday"),
        ({"hours": {}}, "open at least once a week"),
        ({"holidays_country": "XX"}, "no public holidays known for 'XX'"),
        ({"closures": ["2026-02-30"]}, "not a real date"),
        ({"name": ""}, "name"),
        ({"timezone": "UTC"}, "timezone"),
    ],
)
def test_a_bad_calendar_is_refused_and_writes_nothing(
    client: TestClient,
    admin: dict[str, str],
    runtime: Runtime,
    changes: dict[str, Any],
    message: str,
) -> None:
    before = _rows(runtime)
    answer = client.post(CALENDARS, json=TRADE_DESK | changes, headers=admin)

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert message in error["message"]
    assert _rows(runtime) == before


def test_a_calendar_name_is_taken_once(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    first = client.post(CALENDARS, json=TRADE_DESK, headers=admin).json()
    before = _rows(runtime)

    again = client.post(CALENDARS, json=TRADE_DESK | {"name": "trade DESK"}, headers=admin)

    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict",
        "message": f"calendar {first['id']} is already called 'Trade desk'",
    }
    assert _rows(runtime) == before


def test_a_calendar_is_replaced_whole(client: TestClient, admin: dict[str, str]) -> None:
    calendar_id = client.post(CALENDARS, json=TRADE_DESK, headers=admin).json()["id"]
    weekend = {
        "name": "Weekend desk",
        "time_zone": "Europe/Paris",
        "hours": {"sat": [["10:00", "24:00"]]},
    }

    replaced = client.put(f"{CALENDARS}/{calendar_id}", json=weekend, headers=admin)

    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert {k: body[k] for k in weekend} == weekend
    # Left out is left out: no holidays, no closures.
    assert (body["holidays_country"], body["closures"]) == (None, [])
    assert client.get(f"{CALENDARS}/{calendar_id}", headers=admin).json() == body
    missing = client.put(f"{CALENDARS}/999", json=weekend, headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_an_admin_adds_a_policy_that_the_book_then_applies(
    client: TestClient, admin: dict[str, str], runtime: Runtime, db: Session, env: Env
) -> None:
    seed_default_service_levels(db, env)
    calendar = client.post(CALENDARS, json=TRADE_DESK, headers=admin).json()
    policy = {
        "channel": "whatsapp",
        "segment": "trade",
        "calendar_id": calendar["id"],
        "targets": {"first_reply": 1800, "next_reply": 3600},
        "warn_at": 0.5,
        "escalation": {"notify": ["supervisors"], "raise_priority": True},
    }

    created = client.post(POLICIES, json=policy, headers=admin)

    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("channel", "segment", "priority", "calendar_id", "targets")} == {
        "channel": "whatsapp",
        "segment": "trade",
        "priority": None,
        "calendar_id": calendar["id"],
        "targets": {"first_reply": 1800, "next_reply": 3600},
    }
    assert body["calendar_name"] == "Trade desk"
    assert body["warn_at"] == 0.5
    assert body["escalation"] == {
        "notify": ["supervisors"],
        "raise_priority": True,
        "reassign_offline_owner": True,
    }
    assert client.get(f"{POLICIES}/{body['id']}", headers=admin).json() == body
    assert client.get(f"{CALENDARS}/{calendar['id']}", headers=admin).json()["policies"] == 1

    target = _target(runtime, ClockKind.FIRST_REPLY, Channel.WHATSAPP, "trade")
    assert target is not None
    assert (target.seconds, target.warn_share, target.calendar_name, target.policy_id) == (
        1800,
        0.5,
        "Trade desk",
        body["id"],
    )
    with runtime.db.reading() as read:
        escalation = runtime.env.book.get(read.connection()).escalation(body["id"])
    assert (escalation.notify_owner, escalation.raise_priority) == (False, True)
    # Other customers on WhatsApp keep the default hour, counted around the clock.
    standard = _target(runtime, ClockKind.FIRST_REPLY, Channel.WHATSAPP, "standard")
    assert standard is not None
    assert (standard.seconds, standard.calendar_name) == (3600, None)


def test_a_replaced_policy_takes_effect_and_a_deleted_one_stops(
    client: TestClient, admin: dict[str, str], runtime: Runtime, db: Session, env: Env
) -> None:
    seed_default_service_levels(db, env)
    created = client.post(
        POLICIES,
        json={"channel": "sms", "segment": "vip", "targets": {"first_reply": 900}},
        headers=admin,
    ).json()
    path = f"{POLICIES}/{created['id']}"

    replaced = client.put(
        path,
        json={"channel": "sms", "segment": "vip", "targets": {"first_reply": 300}},
        headers=admin,
    )

    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["targets"] == {"first_reply": 300}
    # Left out on replacement, the escalation is back to the default.
    assert replaced.json()["escalation"]["notify"] == ["owner", "supervisors"]
    target = _target(runtime, ClockKind.FIRST_REPLY, Channel.SMS, "vip")
    assert target is not None
    assert (target.seconds, target.policy_id) == (300, created["id"])

    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404
    assert client.delete(path, headers=admin).status_code == 404
    fallback = _target(runtime, ClockKind.FIRST_REPLY, Channel.SMS, "vip")
    assert fallback is not None
    assert fallback.seconds == 3600
    assert fallback.policy_id != created["id"]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"targets": {}}, "at least one target"),
        ({"targets": {"frist_reply": 60}}, "frist_reply"),
        ({"targets": {"answer": 0}}, "targets.answer"),
        ({"targets": {"answer": 20}, "channel": "fax"}, "channel"),
        ({"targets": {"answer": 20}, "segment": "gold"}, "unknown segment 'gold'"),
        ({"targets": {"answer": 20}, "calendar_id": 999}, "calendar 999 does not exist"),
        ({"targets": {"answer": 20}, "warn_at": 1}, "warn_at"),
        ({"targets": {"answer": 20}, "escalation": {"notify": ["all"]}}, "escalation.notify"),
        ({"targets": {"answer": 20}, "calendar": "Shop"}, "calendar"),
    ],
)
def test_a_bad_policy_is_refused_and_writes_nothing(
    client: TestClient,
    admin: dict[str, str],
    runtime: Runtime,
    policy: dict[str, Any],
    message: str,
) -> None:
    before = _rows(runtime)
    answer = client.post(POLICIES, json=policy, headers=admin)

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert message in error["message"]
    assert _rows(runtime) == before


def test_two_policies_may_not_share_a_scope(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    phone = {"channel": "phone", "priority": "urgent", "targets": {"answer": 10}}
    first = client.post(POLICIES, json=phone, headers=admin).json()
    other = client.post(POLICIES, json=phone | {"priority": "high"}, headers=admin).json()
    before = _rows(runtime)

    again = client.post(POLICIES, json=phone | {"targets": {"hold": 60}}, headers=admin)
    moved = client.put(f"{POLICIES}/{other['id']}", json=phone, headers=admin)

    for answer in (again, moved):
        assert answer.status_code == 409
        assert answer.json()["error"] == {
            "code": "conflict",
            "message": f"service-level policy {first['id']} already covers channel phone, "
            "segment any, priority urgent; change that one instead",
        }
    assert _rows(runtime) == before


def test_a_calendar_in_use_stays_until_its_policies_leave_it(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    calendar = client.post(CALENDARS, json=TRADE_DESK, headers=admin).json()
    path = f"{CALENDARS}/{calendar['id']}"
    client.post(POLICIES, json={"targets": {"resolution": 86400}}, headers=admin)
    policy = client.post(
        POLICIES,
        json={"channel": "email", "calendar_id": calendar["id"], "targets": {"first_reply": 7200}},
        headers=admin,
    ).json()
    before = _rows(runtime)

    refused = client.delete(path, headers=admin)

    assert refused.status_code == 409
    assert refused.json()["error"]["message"].startswith(
        f"calendar 'Trade desk' is used by service-level policies #{policy['id']}"
    )
    assert _rows(runtime) == before
    assert client.delete(f"{POLICIES}/{policy['id']}", headers=admin).status_code == 204
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404
    assert client.get(CALENDARS, headers=admin).json()["items"] == []


def test_the_last_policy_cannot_be_deleted(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    only = client.post(POLICIES, json={"targets": {"resolution": 86400}}, headers=admin).json()
    before = _rows(runtime)

    answer = client.delete(f"{POLICIES}/{only['id']}", headers=admin)

    assert answer.status_code == 409
    assert "the last one" in answer.json()["error"]["message"]
    assert _rows(runtime) == before


def test_a_supervisor_reads_but_does_not_change_service_levels(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    seed_default_service_levels(db, env)
    supervisor = callers[Role.SUPERVISOR].headers

    listed = client.get(POLICIES, params={"limit": 200}, headers=supervisor)
    assert listed.status_code == 200
    email = [p for p in listed.json()["items"] if p["channel"] == "email" and p["segment"] is None]
    assert [(p["targets"], p["calendar_name"]) for p in email] == [
        ({"first_reply": 14400, "next_reply": 28800}, "Contact centre")
    ]
    refused = client.post(CALENDARS, json=TRADE_DESK, headers=supervisor)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
