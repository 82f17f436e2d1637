"""Scale-out, for real: two `threadline serve` processes against one PostgreSQL database
and one Redis. A message handed to process A reaches a desk listening on process B, and
a desk that reconnects to A with the Last-Event-ID it got from B resumes exactly there.
Nothing here may assume one process; this test is the proof."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _libpq, _pg_admin_url
from tests.factories import receive_email
from tests.redis_support import redis_url_or_skip, scratch_prefix
from tests.sse import FrameReader
from threadline.actions import Actor, NewAgent, create_agent, create_token
from threadline.config import Settings
from threadline.migrate import upgrade
from threadline.redis_bus import RedisBus
from threadline.runtime import Runtime
from threadline.vocabulary import Role

pytestmark = pytest.mark.postgres

THREADLINE = Path(sys.executable).with_name("threadline")
START_SECONDS = 20  # both servers up within this
EVENT_SECONDS = 10  # an event crosses within this


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own, migrated to head, dropped afterwards even if a server
    still holds connections to it."""
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL answers (set THREADLINE_TEST_DATABASE_URL)")
    name = f"threadline_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(environment: dict[str, str], log: Path) -> Iterator[str]:
    """`threadline serve` on a free loopback port; its base URL. Always stopped."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(THREADLINE), "serve", "--no-worker", "--no-smtp", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wait_until_up(base: str, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{base} did not start:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def events(client: httpx.Client, base: str, token: str, **headers: str) -> Iterator[FrameReader]:
    with client.stream(
        "GET",
        f"{base}/api/v1/events",
        headers={"Authorization": f"Bearer {token}", **headers},
    ) as answer:
        assert answer.status_code == 200, answer.read()
        yield FrameReader(answer.iter_lines())


def test_an_event_from_one_process_reaches_a_desk_on_another(tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database())
        prefix = stack.enter_context(scratch_prefix(redis_url))
        environment = {
            **os.environ,
            "THREADLINE_ENV": "test",
            "THREADLINE_DATABASE_URL": database_url,
            "THREADLINE_REDIS_URL": redis_url,
            "THREADLINE_REDIS_PREFIX": prefix,
            "THREADLINE_DATA_DIR": str(tmp_path / "data"),
            "THREADLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        }
        settings = Settings(
            env="test",
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=prefix,
            data_dir=tmp_path / "data",
        )
        runtime = Runtime.start(settings)
        stack.callback(runtime.close)
        assert isinstance(runtime.env.bus, RedisBus)
        with runtime.db.session() as db:
            create_agent(
                db,
                runtime.env,
                Actor.system(),
                NewAgent(email="amy@shop.example", name="Amy", role=Role.AGENT),
            )
            token = create_token(
                db, runtime.env, Actor.system(), "amy@shop.example", "scale-out"
            ).token

        started = time.monotonic()
        a = stack.enter_context(server(environment, tmp_path / "a.log"))
        b = stack.enter_context(server(environment, tmp_path / "b.log"))
        for base, log in ((a, tmp_path / "a.log"), (b, tmp_path / "b.log")):
            wait_until_up(base, log, started + START_SECONDS)

        client = stack.enter_context(httpx.Client(timeout=httpx.Timeout(EVENT_SECONDS)))
        with events(client, b, token) as on_b:
            on_b.next(time.monotonic() + EVENT_SECONDS)  # B has subscribed
            touch_id = hand_a_message_to(a, client, token, runtime)
            seen = on_b.events_until(
                lambda f: f.event == "touch.created" and f.json()["data"]["touch_id"] == touch_id,
                EVENT_SECONDS,
            )
        assert seen[0].event == "case.created" and seen[0].id is not None

        # A desk that drops off B and reconnects to A resumes from B's id.
        with events(client, a, token, **{"Last-Event-ID": seen[0].id}) as on_a:
            resumed = on_a.events_until(lambda f: f.id == seen[-1].id, EVENT_SECONDS)
        assert [(f.id, f.event) for f in resumed] == [(f.id, f.event) for f in seen[1:]]
        assert time.monotonic() - started < 30


def hand_a_message_to(base: str, client: httpx.Client, token: str, runtime: Runtime) -> int:
    """POST /api/v1/inbound to that process when it has the route; otherwise receive()
    here, through this process's own Redis bus (still another process than B)."""
    paths = client.get(f"{base}/openapi.json").json()["paths"]
    if "/api/v1/inbound" not in paths:
        with runtime.db.session() as db:
            return receive_email(db, runtime.env, "ann@example.com", "Is it in stock?").touch_id
    answer = client.post(
        f"{base}/api/v1/inbound",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "email",
            "external_id": "scale-out-1",
            "from": {"kind": "email", "value": "ann@example.com"},
            "text": "Is it in stock?",
        },
    )
    assert answer.status_code == 201, answer.text
    touch_id: int = answer.json()["touch_id"]
    return touch_id
