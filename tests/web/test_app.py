"""The app's plumbing: health checks and the one error shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import TestClient
from threadline.api.app import create_app
from threadline.config import Settings
from threadline.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ThreadlineError,
    TooLarge,
    Unauthorized,
)
from threadline.runtime import Runtime


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"  # with the outbox's figures beside it


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite:///{tmp}", id="sqlite-path-is-a-directory"),
        pytest.param("postgresql+psycopg://nobody@127.0.0.1:9/none", id="postgresql-refused"),
    ],
)
def test_readyz_when_the_database_does_not_answer(url: str, tmp_path: Path) -> None:
    settings = Settings(env="test", database_url=url.format(tmp=tmp_path), data_dir=tmp_path)
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(runtime)) as client:
            response = client.get("/readyz")
            assert client.get("/healthz").status_code == 200  # alive, just not ready
    finally:
        runtime.close()
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "unavailable", "message": "the database does not answer"}
    }


def test_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    # Even a browser gets JSON under /api: machines read these paths.
    response = client.get("/api/v1/nothing-here", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": {"code": "not_found", "message": "nothing at /api/v1/nothing-here"}
    }


def test_wrong_method_is_a_json_405_with_allow(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"] == {
        "code": "method_not_allowed",
        "message": "POST is not allowed on /healthz",
    }


def test_bad_path_parameter_is_invalid_input(client: TestClient) -> None:
    response = client.get("/cases/not-a-number")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("path.case_id: ")


def test_desk_pages_stay_out_of_the_openapi_description(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert not any(p == "/" or p.startswith(("/cases", "/customers")) for p in paths)


@pytest.mark.parametrize(
    "error",
    [
        InvalidInput("bad"),
        Unauthorized("who?"),
        Forbidden("no"),
        NotFound("gone"),
        Conflict("clash"),
        TooLarge("big"),
        RateLimited("slow down"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_our_errors_answer_their_own_status_and_code(
    runtime: Runtime, error: ThreadlineError
) -> None:
    app = create_app(runtime)

    @app.get("/api/v1/fails")
    def fails() -> None:
        raise error

    response = TestClient(app).get("/api/v1/fails")
    assert response.status_code == error.status
    assert response.json() == {"error": {"code": error.code, "message": error.message}}


def test_an_unexpected_failure_answers_500_without_internals(runtime: Runtime) -> None:
    app = create_app(runtime)

    @app.get("/api/v1/breaks")
    def breaks() -> None:
        raise RuntimeError("secret internals")

    response = TestClient(app, raise_server_exceptions=False).get("/api/v1/breaks")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "something went wrong on our side"}
    }


def test_browsers_get_json_under_machine_paths_but_html_elsewhere(client: TestClient) -> None:
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    assert client.get("/api", headers=browser).headers["content-type"] == "application/json"
    assert client.get("/apiary", headers=browser).headers["content-type"].startswith("text/html")
    assert client.get("/static/nope.css", headers=browser).json()["error"]["code"] == "not_found"
