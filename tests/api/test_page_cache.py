"""The busiest reads (inbox, a case's touches, search) are sent again from the answer
kept last time, and only while it is still right: any commit, by any process, is seen on
the next request; a clock passing its due time turns a kept page without any write; and
a page kept for one role is never sent to a role that may see less."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.factories import inbound, receive_email
from threadline.actions import Actor, Env, add_note, receive
from threadline.api.page_cache import Built, PageCache
from threadline.clock import FrozenClock
from threadline.data_version import APPLICATION_NAME
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, IdentityKind, Role


def get(client: TestClient, caller: Caller, url: str, **params: Any) -> Any:
    answer = client.get(url, headers=caller.headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def kept_answers(client: TestClient) -> float:
    """How many answers this process has sent again from its page cache."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('threadline_page_answers_total{outcome="kept"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def commit_elsewhere(runtime: Runtime, statement: str, row_id: int) -> None:
    """Run `statement` (with :id) and commit it from another process, with connections
    of its own."""
    script = textwrap.dedent(
        f"""
        from sqlalchemy import create_engine, text
        engine = create_engine({runtime.settings.database_url!r})
        with engine.begin() as connection:
            connection.execute(text({statement!r}), {{"id": {row_id}}})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def sent_again(client: TestClient, fetch: Callable[[], object]) -> None:
    """Asking twice, the second answer comes from the page cache. On PostgreSQL the data
    version covers the whole server, and tests running beside this one commit at any
    moment, each making kept pages old: a few tries are allowed there."""
    for _ in range(50):
        fetch()
        before = kept_answers(client)
        fetch()
        if kept_answers(client) > before:
            return
    raise AssertionError("no answer was ever sent again from the page cache")


def test_a_change_committed_by_another_process_is_seen_on_the_next_request(
    runtime: Runtime, db: Session, env: Env, client: TestClient, callers: dict[Role, Caller]
) -> None:
    agent = callers[Role.AGENT]
    case_id = receive_email(db, env, "ann@example.com", "Where is my order?").case_id
    db.close()
    inbox = "/api/v1/cases"
    (first,) = get(client, agent, inbox, owner="none", sort="due")["items"]
    sent_again(client, lambda: get(client, agent, inbox, owner="none", sort="due"))
    assert get(client, agent, inbox, owner="none", sort="due")["items"] == [first]

    commit_elsewhere(
        runtime, "UPDATE cases SET subject = 'Renamed elsewhere' WHERE id = :id", case_id
    )

    (after,) = get(client, agent, inbox, owner="none", sort="due")["items"]
    assert after["subject"] == "Renamed elsewhere"


def test_a_kept_page_turns_breached_when_its_clock_falls_due_with_nothing_written(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    agent = callers[Role.AGENT]
    text_message = inbound(Channel.SMS, IdentityKind.PHONE, "+447700900555", "Is it in stock?")
    receive(db, env, text_message)
    db.close()

    def first_reply_breached() -> bool:
        (case,) = get(client, agent, "/api/v1/cases", sort="due")["items"]
        (first,) = [c for c in case["service_levels"] if c["kind"] == "first_reply"]
        return bool(first["breached"])

    assert first_reply_breached() is False
    # (After the first request below, each comes within a minute of the last: the
    # token's use is not recorded again, and nothing at all is written from there on.)
    clock.advance(timedelta(minutes=59, seconds=30))
    assert first_reply_breached() is False
    sent_again(client, first_reply_breached)
    assert first_reply_breached() is False
    # Texts are answered within the hour: 31 s more and it is late.
    clock.advance(timedelta(seconds=31))
    assert first_reply_breached() is True


def test_a_page_kept_for_an_agent_is_never_sent_to_a_clerk(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller]
) -> None:
    agent, clerk = callers[Role.AGENT], callers[Role.CLERK]
    case_id = receive_email(db, env, "ann@example.com", "My parcel is late").case_id
    add_note(db, env, Actor.agent(agent.agent_id), case_id, "Courier says lost: refund her")
    db.close()
    touches = f"/api/v1/cases/{case_id}/touches"
    # Both tokens used once first: their uses are recorded now, so that nothing is
    # written between the agent's requests and the clerk's.
    get(client, clerk, "/api/v1/session")
    get(client, agent, "/api/v1/session")

    for _ in range(2):
        texts = [touch["text"] for touch in get(client, agent, touches)["items"]]
        assert texts == ["My parcel is late", "Courier says lost: refund her"]
        (case,) = get(client, agent, "/api/v1/cases")["items"]
        assert case["last_touch"]["kind"] == "note"
        assert get(client, agent, "/api/v1/search", q="courier")["touches"]

    assert [t["text"] for t in get(client, clerk, touches)["items"]] == ["My parcel is late"]
    (case,) = get(client, clerk, "/api/v1/cases")["items"]
    assert case["last_touch"]["kind"] == "message"
    assert get(client, clerk, "/api/v1/search", q="courier")["touches"] == []


def test_a_token_recognised_a_moment_ago_is_refused_once_another_process_disables_it(
    runtime: Runtime, client: TestClient, callers: dict[Role, Caller]
) -> None:
    agent = callers[Role.AGENT]
    for _ in range(3):  # the first records the token's use; the others are recognised
        assert client.get("/api/v1/session", headers=agent.headers).status_code == 200
    commit_elsewhere(runtime, "UPDATE agents SET active = false WHERE id = :id", agent.agent_id)
    refused = client.get("/api/v1/session", headers=agent.headers)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"] == "this account is disabled"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_data_version_outlives_its_postgresql_connections_being_cut(
    runtime: Runtime, client: TestClient, callers: dict[Role, Caller]
) -> None:
    agent = callers[Role.AGENT]
    version = runtime.db.version
    assert version is not None
    get(client, agent, "/api/v1/cases")  # the event loop's connection
    version.current()  # the worker threads'
    url = make_url(runtime.settings.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        cut = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        ).fetchall()
    assert len(cut) == 2
    assert get(client, agent, "/api/v1/cases")["items"] == []
    assert version.current()


# --- the cache itself, on each database's data version --------------------------------


def test_the_data_version_moves_with_every_commit_and_only_then(
    runtime: Runtime, db: Session, env: Env
) -> None:
    version = runtime.db.version
    assert version is not None

    def read() -> None:
        with runtime.db.reading() as reading:
            reading.execute(text("SELECT count(*) FROM cases")).scalar()

    # (The first connection to a new SQLite file puts it in WAL mode: a change.) On
    # PostgreSQL, commits of the tests running beside this one move it too: a few tries.
    read()
    for _ in range(50):
        first = version.current()
        read()
        if version.current() == first:
            break
    else:
        raise AssertionError("a read moved the data version")
    receive_email(db, env, "ann@example.com", "Hello")
    second = version.current()
    assert second != first
    assert version.current() == second


# The cache's own workings, on SQLite alone: PostgreSQL's data version moves with every
# commit on the server, those of the tests running beside these included.
on_sqlite_alone = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def not_built() -> Built:
    raise AssertionError("the page was built again instead of sent from the cache")


class HeldBuild:
    """A page's build that waits until released, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = threading.Event()

    def __call__(self) -> Built:
        self.runs += 1
        self.release.wait(10)
        return Built(b'{"page": 1}')


@on_sqlite_alone
def test_requests_arriving_together_for_a_changed_page_build_it_once(
    runtime: Runtime,
) -> None:
    pages = PageCache(runtime.db.version, runtime.env.clock.now)
    build = HeldBuild()

    with ThreadPoolExecutor(6) as pool:
        answers = [pool.submit(pages.answer, "inbox", build) for _ in range(6)]
        time.sleep(0.3)  # every request is in by now, five of them waiting
        build.release.set()
        bodies = [answer.result(timeout=10) for answer in answers]
    assert bodies == [b'{"page": 1}'] * 6
    assert build.runs == 1
    assert pages.answer("inbox", not_built) == b'{"page": 1}'


@on_sqlite_alone
def test_requests_waiting_on_the_event_loop_share_one_build_even_if_one_goes_away(
    runtime: Runtime,
) -> None:
    version = runtime.db.version
    assert version is not None
    pages = PageCache(version, runtime.env.clock.now)
    build = HeldBuild()

    async def together() -> list[bytes]:
        seen = await version.current_async()
        answers = [asyncio.create_task(pages.respond("inbox", build, seen)) for _ in range(6)]
        await asyncio.sleep(0.3)
        answers[3].cancel()  # a client that hung up while waiting
        await asyncio.sleep(0.1)
        build.release.set()
        return [bytes((await answer).body) for n, answer in enumerate(answers) if n != 3]

    assert asyncio.run(together()) == [b'{"page": 1}'] * 5
    assert build.runs == 1


@on_sqlite_alone
def test_a_failed_build_keeps_nothing_and_the_next_request_builds_again(
    runtime: Runtime,
) -> None:
    pages = PageCache(runtime.db.version, runtime.env.clock.now)

    def failing() -> Built:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        pages.answer("inbox", failing)
    assert pages.answer("inbox", lambda: Built(b"[]")) == b"[]"


@on_sqlite_alone
def test_no_page_is_kept_past_its_longest_age(runtime: Runtime) -> None:
    seconds = [100.0]
    pages = PageCache(
        runtime.db.version,
        runtime.env.clock.now,
        max_age=5.0,
        monotonic=lambda: seconds[0],
    )
    pages.answer("inbox", lambda: Built(b"[1]"))
    seconds[0] += 4.9
    assert pages.answer("inbox", not_built) == b"[1]"
    seconds[0] += 0.2
    assert pages.answer("inbox", lambda: Built(b"[2]")) == b"[2]"
