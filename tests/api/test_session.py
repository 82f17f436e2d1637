"""Signing in to the desk: argon2 passwords, an HttpOnly cookie, CSRF on every change,
rate-limited attempts, sign-out that takes effect at once."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import PASSWORD, Caller
from threadline.clock import FrozenClock
from threadline.models import AgentSession, SignInAttempt
from threadline.runtime import Runtime
from threadline.vocabulary import Role


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, object]:
    answer = client.post("/api/v1/session", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_sign_in_sets_a_safe_cookie_and_says_who(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    answer = client.post(
        "/api/v1/session", json={"email": "AGENT@shop.example", "password": PASSWORD}
    )
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert "tl_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert answer.json()["role"] == "agent"
    me = client.get("/api/v1/session")
    assert me.status_code == 200
    assert me.json()["agent_id"] == callers[Role.AGENT].agent_id


def test_changes_by_cookie_need_the_csrf_header(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    csrf = str(sign_in(client, callers[Role.AGENT].email)["csrf_token"])
    refused = client.delete("/api/v1/session")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/session").status_code == 200  # still signed in
    wrong = client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf + "x"})
    assert wrong.status_code == 403
    out = client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204


def test_sign_out_ends_the_session_everywhere(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    csrf = str(sign_in(client, callers[Role.CLERK].email)["csrf_token"])
    stolen = client.cookies.get("tl_session")
    assert client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.set("tl_session", str(stolen))
    again = client.get("/api/v1/session")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "unauthorized"
    with runtime.db.reading() as read:
        revoked = select(func.count()).where(AgentSession.revoked_at.is_not(None))
        assert read.scalar(revoked) == 1


def test_wrong_password_and_unknown_account_look_the_same(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    wrong = client.post(
        "/api/v1/session", json={"email": callers[Role.AGENT].email, "password": "nope"}
    )
    unknown = client.post("/api/v1/session", json={"email": "x@shop.example", "password": "n"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


def test_failed_sign_ins_are_rate_limited_per_account(
    client: TestClient, callers: dict[Role, Caller], clock: FrozenClock, runtime: Runtime
) -> None:
    email = callers[Role.AGENT].email
    for _ in range(5):
        bad = client.post("/api/v1/session", json={"email": email, "password": "guess"})
        assert bad.status_code == 401
    limited = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    clock.advance(timedelta(minutes=16))
    assert sign_in(client, email)["role"] == "agent"
    with runtime.db.reading() as read:
        assert read.scalar(select(func.count()).select_from(AgentSession)) == 1
        assert read.scalar(select(func.count()).select_from(SignInAttempt)) == 6


def test_bearer_tokens_need_no_csrf_and_bad_ones_are_refused(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    agent = callers[Role.AGENT]
    assert client.get("/api/v1/session", headers=agent.headers).json()["csrf_token"] is None
    for header in ("Bearer nope", "Basic abc", "Bearer "):
        answer = client.get("/api/v1/session", headers={"Authorization": header})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/session").status_code == 401


def test_a_revoked_token_stops_working_at_once(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    from threadline.actions.access import revoke_token
    from threadline.actions.base import Actor
    from threadline.models import ApiToken

    agent = callers[Role.AGENT]
    assert client.get("/api/v1/session", headers=agent.headers).status_code == 200
    with runtime.db.reading() as read:
        token_id = read.scalars(
            select(ApiToken.id).where(ApiToken.agent_id == agent.agent_id)
        ).one()
    with runtime.db.session() as db:
        revoke_token(db, runtime.env, Actor.system(), token_id)
    refused = client.get("/api/v1/session", headers=agent.headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "unknown or revoked token"
