"""Oversized and malformed bodies are refused without writing anything; /metrics shows
request and action figures."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import Caller
from threadline.models import SignInAttempt
from threadline.runtime import Runtime
from threadline.vocabulary import Role


def attempts(runtime: Runtime) -> int:
    with runtime.db.reading() as read:
        return read.scalar(select(func.count()).select_from(SignInAttempt)) or 0


def test_a_declared_oversized_body_is_413_and_writes_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    huge = b'{"email": "a@b.c", "password": "' + b"x" * runtime.settings.max_body_bytes + b'"}'
    answer = client.post(
        "/api/v1/session", content=huge, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert attempts(runtime) == 0


def test_a_streamed_oversized_body_is_413_and_writes_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    chunk = b"x" * 65536
    count = runtime.settings.max_body_bytes // len(chunk) + 2

    def stream():  # type: ignore[no-untyped-def]
        yield b'{"email": "a@b.c", "password": "'
        for _ in range(count):
            yield chunk
        yield b'"}'

    answer = client.post(
        "/api/v1/session", content=stream(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert attempts(runtime) == 0


def test_malformed_json_is_422_and_writes_nothing(client: TestClient, runtime: Runtime) -> None:
    answer = client.post(
        "/api/v1/session", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_input"
    assert attempts(runtime) == 0


def test_metrics_count_requests_by_route_and_time_actions(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    client.get("/api/v1/session", headers=callers[Role.AGENT].headers)
    client.get("/api/v1/nowhere/at/all")
    text = client.get("/metrics").text
    assert (
        'threadline_http_requests_total{method="GET",route="/api/v1/session",status="200"} 1.0'
        in text
    )
    assert 'route="unmatched",status="404"' in text
    # The fixture made agents and tokens through actions; each was timed.
    assert 'threadline_action_duration_seconds_count{action="create_agent"} 4.0' in text
