"""The admin side of service levels: storing the built-in defaults (once), and the checks
on calendars and policies that keep bad input and clashes out of the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from tests.factories import receive_email
from threadline.actions import Actor, Env
from threadline.actions.service_level_admin import (
    CalendarInput,
    PolicyInput,
    Seeded,
    create_calendar,
    create_policy,
    delete_calendar,
    delete_policy,
    seed_default_service_levels,
    update_calendar,
    update_policy,
)
from threadline.cli import main
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import AuditEntry, Calendar, Clock, ServicePolicy
from threadline.service_levels.book import load_book
from threadline.service_levels.calendars import BusinessCalendar
from threadline.service_levels.policies import DEFAULT_POLICIES, HOUR
from threadline.vocabulary import Channel, ClockKind, Priority

ADMIN = Actor.system()
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _calendar(name: str = "Trade desk", **changes: Any) -> CalendarInput:
    fields: dict[str, Any] = {"name": name, "time_zone": "Europe/London", "hours": WEEKDAYS}
    return CalendarInput(**(fields | changes))


def _calendars(db: Session) -> dict[str, Calendar]:
    db.expire_all()
    return {row.name: row for row in db.scalars(select(Calendar))}


def _audited(db: Session, action: str) -> int:
    return db.scalar(select(func.count()).where(AuditEntry.action == action)) or 0


def test_seeding_stores_the_defaults_once(db: Session, env: Env) -> None:
    first = seed_default_service_levels(db, env)

    assert first == Seeded(calendars=2, policies=len(DEFAULT_POLICIES))
    # No 24/7 calendar: a policy without one counts elapsed time.
    assert sorted(_calendars(db)) == ["Contact centre", "Shop"]
    assert _audited(db, "service_policy.created") == len(DEFAULT_POLICIES)
    before = {table: table_rows(db, table) for table in ("calendars", "service_policies")}

    assert seed_default_service_levels(db, env) == Seeded(calendars=0, policies=0)
    assert {table: table_rows(db, table) for table in before} == before


def test_threadline_init_stores_the_defaults_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    environment = {"THREADLINE_DATABASE_URL": url, "THREADLINE_DATA_DIR": str(tmp_path / "var")}
    runner = CliRunner()

    first = runner.invoke(main, ["init"], env=environment)
    again = runner.invoke(main, ["init"], env=environment)

    assert first.exit_code == again.exit_code == 0, first.output + again.output
    stored = f"stored {len(DEFAULT_POLICIES)} default policies and 2 calendars"
    assert stored in first.output
    assert "service levels" not in again.output
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            policies = conn.scalar(select(func.count()).select_from(ServicePolicy))
            names = sorted(conn.scalars(select(Calendar.name)))
    finally:
        engine.dispose()
    assert (policies, names) == (len(DEFAULT_POLICIES), ["Contact centre", "Shop"])


def test_the_seeded_book_keeps_the_defaults_promises(db: Session, env: Env) -> None:
    seed_default_service_levels(db, env)

    book = load_book(db.connection())
    email_vip = book.target(
        ClockKind.FIRST_REPLY, channel=Channel.EMAIL, segment="vip", priority=Priority.NORMAL
    )
    assert email_vip is not None
    assert (email_vip.seconds, email_vip.calendar_name) == (HOUR, "Contact centre")
    assert email_vip.policy_id in set(db.scalars(select(ServicePolicy.id)))
    assert not email_vip.calendar.is_always_open
    phone = book.target(
        ClockKind.ANSWER, channel=Channel.PHONE, segment="standard", priority=Priority.NORMAL
    )
    assert phone is not None
    assert (phone.seconds, phone.calendar_name) == (20, None)
    assert book.escalation(phone.policy_id).notify_supervisors


def test_seeding_keeps_an_admins_calendar_of_a_default_name(db: Session, env: Env) -> None:
    mine = create_calendar(db, env, ADMIN, _calendar("Contact centre", time_zone="Europe/Paris"))

    assert seed_default_service_levels(db, env).calendars == 1

    calendars = _calendars(db)
    assert calendars["Contact centre"].time_zone == "Europe/Paris"
    email = db.scalars(
        select(ServicePolicy).where(
            ServicePolicy.channel == Channel.EMAIL, ServicePolicy.segment.is_(None)
        )
    ).one()
    assert email.calendar_id == mine.id


def test_seeding_leaves_an_admins_policies_alone(db: Session, env: Env) -> None:
    create_policy(db, env, ADMIN, PolicyInput(channel="sms", targets={"first_reply": 600}))

    assert seed_default_service_levels(db, env) == Seeded(calendars=0, policies=0)
    assert len(table_rows(db, "service_policies")) == 1
    assert table_rows(db, "calendars") == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "needs a name"),
        ({"name": "x" * 81}, "at most 80"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"hours": {}}, "open at least once a week"),
        ({"hours": {"funday": [["09:00", "17:00"]]}}, "unknown weekday 'funday'"),
        ({"hours": {"mon": [["17:00", "09:00"]]}}, "ends before it starts"),
        ({"hours": {"mon": [["09:00", "25:00"]]}}, "is not a time"),
        ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "14:00"]]}}, "overlaps"),
        ({"holidays_country": "XX"}, "no public holidays known"),
        ({"closures": ["2026-02-30"]}, "not a real date"),
        ({"closures": ["24/12/2026"]}, "use YYYY-MM-DD"),
    ],
)
def test_a_bad_calendar_changes_nothing(
    db: Session, env: Env, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        create_calendar(db, env, ADMIN, _calendar(**changes))
    assert table_rows(db, "calendars") == []
    assert table_rows(db, "audit_log") == []


def test_calendar_names_are_unique_in_any_case(db: Session, env: Env) -> None:
    create_calendar(db, env, ADMIN, _calendar("Trade desk"))
    other = create_calendar(db, env, ADMIN, _calendar("Shop floor"))

    with pytest.raises(Conflict, match="already called 'Trade desk'"):
        create_calendar(db, env, ADMIN, _calendar("TRADE DESK"))
    with pytest.raises(Conflict, match="already called"):
        update_calendar(db, env, ADMIN, other.id, _calendar("trade desk"))
    assert sorted(_calendars(db)) == ["Shop floor", "Trade desk"]


def test_a_calendar_is_stored_with_days_in_order_and_closures_sorted(db: Session, env: Env) -> None:
    row = create_calendar(
        db,
        env,
        ADMIN,
        _calendar(
            hours={"sat": [["10:00", "24:00"]], "mon": [["08:00", "12:00"], ["13:00", "17:00"]]},
            closures=["2026-12-26", "2026-12-24", "2026-12-26"],
        ),
    )
    stored = _calendars(db)["Trade desk"]
    assert stored.id == row.id
    assert list(stored.hours.items()) == [
        ("mon", [["08:00", "12:00"], ["13:00", "17:00"]]),
        ("sat", [["10:00", "24:00"]]),
    ]
    assert stored.closures == ["2026-12-24", "2026-12-26"]


def test_renaming_a_calendar_carries_its_clocks_along(db: Session, env: Env) -> None:
    seed_default_service_levels(db, env)
    receive_email(db, env, "ann@example.com", "Where is my lamp?")
    assert set(db.scalars(select(Clock.calendar))) == {"Contact centre"}
    centre = _calendars(db)["Contact centre"]

    update_calendar(db, env, ADMIN, centre.id, _calendar("Help desk"))

    db.expire_all()
    assert set(db.scalars(select(Clock.calendar))) == {"Help desk"}
    book = load_book(db.connection())
    assert book.calendar("Help desk").hours == _calendar_hours(WEEKDAYS)


def _calendar_hours(hours: dict[str, list[list[str]]]) -> Any:
    return BusinessCalendar.parse("x", "UTC", hours).hours


def test_a_calendar_in_use_cannot_be_deleted(db: Session, env: Env) -> None:
    seed_default_service_levels(db, env)
    centre = _calendars(db)["Contact centre"]

    with pytest.raises(Conflict, match="used by service-level policies #"):
        delete_calendar(db, env, ADMIN, centre.id)

    # With the policies pointed elsewhere, a clock still counting in it holds it.
    receive_email(db, env, "ann@example.com", "Where is my lamp?")
    for policy in db.scalars(select(ServicePolicy).where(ServicePolicy.calendar_id == centre.id)):
        update_policy(db, env, ADMIN, policy.id, _same_policy(policy, calendar_id=None))
    with pytest.raises(Conflict, match="clocks still count in calendar 'Contact centre'"):
        delete_calendar(db, env, ADMIN, centre.id)
    assert "Contact centre" in _calendars(db)

    shop = _calendars(db)["Shop"]
    delete_calendar(db, env, ADMIN, shop.id)
    assert "Shop" not in _calendars(db)
    assert _audited(db, "calendar.deleted") == 1
    with pytest.raises(NotFound):
        delete_calendar(db, env, ADMIN, shop.id)


def _same_policy(row: ServicePolicy, **changes: Any) -> PolicyInput:
    fields: dict[str, Any] = {
        "targets": row.targets,
        "channel": row.channel,
        "segment": row.segment,
        "priority": row.priority,
        "calendar_id": row.calendar_id,
        "warn_at": row.warn_at,
        "escalation": row.escalation,
    }
    return PolicyInput(**(fields | changes))


@pytest.mark.parametrize(
    ("policy", "error", "message"),
    [
        (PolicyInput(targets={}), InvalidInput, "at least one target"),
        (PolicyInput(targets={"frist_reply": 60}), InvalidInput, "unknown clock 'frist_reply'"),
        (PolicyInput(targets={"answer": 0}), InvalidInput, "between 1 second and a year"),
        (PolicyInput(targets={"answer": 20}, channel="fax"), InvalidInput, "unknown channel"),
        (PolicyInput(targets={"answer": 20}, priority="asap"), InvalidInput, "unknown priority"),
        (PolicyInput(targets={"answer": 20}, segment="gold"), InvalidInput, "unknown segment"),
        (PolicyInput(targets={"answer": 20}, warn_at=1.0), InvalidInput, "warn_at"),
        (PolicyInput(targets={"answer": 20}, calendar_id=999), InvalidInput, "calendar 999"),
        (
            PolicyInput(targets={"answer": 20}, escalation={"notify": ["everyone"]}),
            InvalidInput,
            "escalation.notify",
        ),
        (
            PolicyInput(targets={"answer": 20}, escalation={"raise_priority": "yes"}),
            InvalidInput,
            "true or false",
        ),
        (
            PolicyInput(targets={"answer": 20}, escalation={"page": True}),
            InvalidInput,
            "unknown escalation field 'page'",
        ),
        (PolicyInput(targets={"answer": 5}, channel="phone"), Conflict, "already covers"),
    ],
)
def test_a_bad_policy_changes_nothing(
    db: Session, env: Env, policy: PolicyInput, error: type[Exception], message: str
) -> None:
    create_policy(db, env, ADMIN, PolicyInput(channel="phone", targets={"answer": 20}))
    before = {t: table_rows(db, t) for t in ("service_policies", "audit_log")}

    with pytest.raises(error, match=message):
        create_policy(db, env, ADMIN, policy)
    assert {t: table_rows(db, t) for t in before} == before


def test_a_policy_is_stored_whole_with_its_escalation(db: Session, env: Env) -> None:
    trade = create_calendar(db, env, ADMIN, _calendar())
    row = create_policy(
        db,
        env,
        ADMIN,
        PolicyInput(
            channel="email",
            segment="trade",
            calendar_id=trade.id,
            targets={"next_reply": 7200, "first_reply": 3600},
            warn_at=0.5,
            escalation={"notify": ["supervisors"], "raise_priority": True},
        ),
    )
    db.expire_all()
    stored = db.get(ServicePolicy, row.id)
    assert stored is not None
    assert stored.targets == {"first_reply": 3600, "next_reply": 7200}
    assert stored.escalation == {
        "notify": ["supervisors"],
        "raise_priority": True,
        "reassign_offline_owner": True,
    }
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "service_policy.created"))
    assert (entry.subject_id, entry.data["segment"], entry.data["warn_at"]) == (
        row.id,
        "trade",
        0.5,
    )


def test_updating_a_policy_checks_the_scope_against_the_others_only(db: Session, env: Env) -> None:
    phone = create_policy(db, env, ADMIN, PolicyInput(channel="phone", targets={"answer": 20}))
    chat = create_policy(db, env, ADMIN, PolicyInput(channel="chat", targets={"answer": 60}))

    update_policy(db, env, ADMIN, phone.id, PolicyInput(channel="phone", targets={"answer": 15}))
    with pytest.raises(Conflict, match=f"policy {phone.id} already covers channel phone"):
        update_policy(db, env, ADMIN, chat.id, PolicyInput(channel="phone", targets={"hold": 90}))
    with pytest.raises(NotFound):
        update_policy(db, env, ADMIN, 999, PolicyInput(targets={"answer": 15}))

    db.expire_all()
    assert {row.channel: row.targets for row in db.scalars(select(ServicePolicy))} == {
        Channel.PHONE: {"answer": 15},
        Channel.CHAT: {"answer": 60},
    }


def test_deleting_a_policy_detaches_its_clocks(db: Session, env: Env) -> None:
    seed_default_service_levels(db, env)
    receive_email(db, env, "ann@example.com", "Where is my lamp?")
    first_reply = select(Clock).where(Clock.kind == ClockKind.FIRST_REPLY)
    [clock] = db.scalars(first_reply).all()
    assert clock.policy_id is not None

    delete_policy(db, env, ADMIN, clock.policy_id)

    db.expire_all()
    [kept] = db.scalars(first_reply).all()
    assert (kept.id, kept.policy_id, kept.target_seconds) == (clock.id, None, clock.target_seconds)
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "service_policy.deleted"))
    assert entry.data["detached_clocks"] == 1
    assert entry.data["channel"] == "email"


def test_the_last_policy_stays(db: Session, env: Env) -> None:
    only = create_policy(db, env, ADMIN, PolicyInput(channel="phone", targets={"answer": 20}))

    with pytest.raises(Conflict, match="the last one"):
        delete_policy(db, env, ADMIN, only.id)
    assert len(table_rows(db, "service_policies")) == 1
