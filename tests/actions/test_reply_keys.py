"""Replies with an Idempotency-Key: a repeat answers the first reply and writes nothing,
another request with the key is a conflict, keys are each agent's own, and copies of one
request sent at once make exactly one reply, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from tests.factories import agent, receive_email
from threadline.actions import Actor, Env, add_identity, reply, set_status
from threadline.actions.cases import ReplyResult
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.errors import Conflict, InvalidInput
from threadline.models import AuditEntry, OutboxMessage, ReplyKey, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, Direction

TABLES = ("cases", "touches", "outbox", "channel_switches", "audit_log", "reply_keys")


def snapshot(db: Session) -> dict[str, list[tuple[object, ...]]]:
    return {table: table_rows(db, table) for table in TABLES}


def test_a_repeat_answers_the_first_reply_and_writes_nothing(db: Session, env: Env) -> None:
    amy = agent(db, env)
    case_id = receive_email(db, env).case_id
    first = reply(db, env, Actor.agent(amy.id), case_id, "It ships today.", idempotency_key="k1")
    assert not first.repeated
    key = db.scalars(select(ReplyKey)).one()
    assert (key.agent_id, key.key, key.touch_id) == (amy.id, "k1", first.touch_id)
    before = snapshot(db)
    events = env.bus.subscribe()

    again = reply(db, env, Actor.agent(amy.id), case_id, "It ships today.", idempotency_key="k1")

    assert again == ReplyResult(
        touch_id=first.touch_id,
        case_id=case_id,
        outbox_id=first.outbox_id,
        channel=Channel.EMAIL,
        delivery=first.delivery,
        switch_id=None,
        repeated=True,
    )
    assert snapshot(db) == before
    assert events.get(0) is None
    # Still the first reply's answer once the case has moved on, even to closed.
    set_status(db, env, Actor.system(), case_id, CaseStatus.CLOSED)
    later = reply(db, env, Actor.agent(amy.id), case_id, "It ships today.", idempotency_key="k1")
    assert (later.touch_id, later.repeated) == (first.touch_id, True)


def test_a_repeat_of_a_switching_reply_answers_its_switch(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    add_identity(db, env, Actor.system(), first.customer_id, "phone", "+447700900123")

    def by_text() -> ReplyResult:
        return reply(
            db,
            env,
            Actor.agent(amy.id),
            first.case_id,
            "Texting you",
            channel=Channel.SMS,
            idempotency_key="switch",
        )

    sent = by_text()
    assert sent.switch_id is not None
    again = by_text()
    assert (again.touch_id, again.switch_id, again.channel) == (
        sent.touch_id,
        sent.switch_id,
        Channel.SMS,
    )


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"case": "other"}, id="another case"),
        pytest.param({"text": "It ships tomorrow."}, id="another text"),
        pytest.param({"channel": Channel.EMAIL}, id="a channel named"),
    ],
)
def test_a_key_used_for_another_request_is_a_conflict(
    db: Session, env: Env, change: dict[str, object]
) -> None:
    amy = agent(db, env)
    case_id = receive_email(db, env).case_id
    other_id = receive_email(db, env, "bob@example.com").case_id
    reply(db, env, Actor.agent(amy.id), case_id, "It ships today.", idempotency_key="k1")
    before = snapshot(db)
    events = env.bus.subscribe()
    target = other_id if change.get("case") == "other" else case_id
    text = str(change.get("text", "It ships today."))
    channel = change.get("channel")
    assert channel is None or isinstance(channel, Channel)

    with pytest.raises(Conflict, match="this Idempotency-Key was used for another request"):
        reply(db, env, Actor.agent(amy.id), target, text, channel=channel, idempotency_key="k1")

    assert snapshot(db) == before
    assert events.get(0) is None


def test_keys_are_each_agents_own(db: Session, env: Env) -> None:
    amy = agent(db, env)
    bea = agent(db, env, "bea@shop.example", name="Bea Agent")
    case_id = receive_email(db, env).case_id
    amys = reply(db, env, Actor.agent(amy.id), case_id, "From Amy", idempotency_key="shared")
    beas = reply(db, env, Actor.agent(bea.id), case_id, "From Bea", idempotency_key="shared")
    assert not beas.repeated
    assert beas.touch_id != amys.touch_id
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    again = reply(db, env, Actor.agent(bea.id), case_id, "From Bea", idempotency_key="shared")
    assert (again.touch_id, again.repeated) == (beas.touch_id, True)


@pytest.mark.parametrize(
    "key",
    ["", "x" * 201, "tab\there", "new\nline", "trailing newline\n", "caf\u00e9", "\x7f"],
    ids=["empty", "too long", "tab", "newline", "trailing newline", "not ascii", "delete"],
)
def test_a_malformed_key_is_refused_and_changes_nothing(db: Session, env: Env, key: str) -> None:
    amy = agent(db, env)
    case_id = receive_email(db, env).case_id
    before = snapshot(db)
    with pytest.raises(InvalidInput, match="Idempotency-Key is 1 to 200 printable ASCII"):
        reply(db, env, Actor.agent(amy.id), case_id, "Hello", idempotency_key=key)
    assert snapshot(db) == before


def test_the_longest_and_oddest_printable_keys_are_taken(db: Session, env: Env) -> None:
    amy = agent(db, env)
    case_id = receive_email(db, env).case_id
    for key in ("~" * 200, " ", "a b!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"):
        sent = reply(db, env, Actor.agent(amy.id), case_id, f"For {key}", idempotency_key=key)
        assert not sent.repeated
    assert sorted(db.scalars(select(ReplyKey.key))) == sorted(
        ["~" * 200, " ", "a b!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"]
    )


def _at_once(
    settings: Settings, clock: FrozenClock, send: Callable[[Session, Env], object]
) -> list[object]:
    """Run `send` on 8 threads at the same moment, each with an engine of its own (as
    separate API processes would); answer what each returned or raised."""
    outcomes: list[object] = []
    start = threading.Barrier(8)

    def contender() -> None:
        runtime = Runtime.start(settings, clock=clock)
        try:
            start.wait()
            with runtime.db.session() as session:
                outcomes.append(send(session, runtime.env))
        except BaseException as exc:
            outcomes.append(exc)
        finally:
            runtime.close()

    threads = [threading.Thread(target=contender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 8
    return outcomes


def test_copies_sent_at_once_make_exactly_one_reply(
    db: Session, env: Env, settings: Settings, clock: FrozenClock
) -> None:
    amy = agent(db, env)
    case_id = receive_email(db, env).case_id
    db.close()

    outcomes = _at_once(
        settings,
        clock,
        lambda session, env: reply(
            session, env, Actor.agent(amy.id), case_id, "Once only", idempotency_key="race"
        ),
    )

    results = [o for o in outcomes if isinstance(o, ReplyResult)]
    assert len(results) == 8, [o for o in outcomes if not isinstance(o, ReplyResult)]
    assert len({r.touch_id for r in results}) == 1
    assert sum(not r.repeated for r in results) == 1
    outbound = db.scalars(select(Touch.id).where(Touch.direction == Direction.OUT)).all()
    assert outbound == [results[0].touch_id]
    assert db.scalars(select(OutboxMessage.touch_id)).all() == outbound
    assert db.scalars(select(ReplyKey.touch_id)).all() == outbound
    queued = select(func.count()).where(AuditEntry.action == "reply.queued")
    assert db.scalar(queued) == 1


def test_one_key_sent_at_once_for_different_cases_makes_one_reply(
    db: Session, env: Env, settings: Settings, clock: FrozenClock
) -> None:
    amy = agent(db, env)
    cases = [receive_email(db, env, f"c{i}@example.com").case_id for i in range(8)]
    db.close()
    turn = iter(cases)
    lock = threading.Lock()

    def send(session: Session, env: Env) -> object:
        with lock:
            case_id = next(turn)
        return reply(session, env, Actor.agent(amy.id), case_id, "Hi", idempotency_key="race")

    outcomes = _at_once(settings, clock, send)

    made = [o for o in outcomes if isinstance(o, ReplyResult)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(made), len(refused)) == (1, 7), outcomes
    assert not made[0].repeated
    outbound = db.scalars(select(Touch.id).where(Touch.direction == Direction.OUT)).all()
    assert outbound == [made[0].touch_id]
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
