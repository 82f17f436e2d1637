"""A gated router answers every path under its gate as before, and turns any other
path away without trying its routes, so that the routers included after it are
reached as before and sooner."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from starlette.routing import Match
from starlette.types import Scope

from threadline.api.gated_router import GatedRouter

tried: list[str] = []


class CountingRoute(APIRoute):
    """Notes each path it is asked to match."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        tried.append(scope["path"])
        return super().matches(scope)


def _app() -> FastAPI:
    api = GatedRouter(prefix="/api/v1", route_class=CountingRoute)  # gated at its prefix
    things = APIRouter(prefix="/things", route_class=CountingRoute)

    @things.get("/{thing_id}")
    def thing(thing_id: int) -> dict[str, Any]:
        return {"thing": thing_id}

    api.include_router(things)
    pages = APIRouter()

    @pages.get("/api/v1x")
    def look_alike() -> dict[str, str]:
        return {"page": "look-alike"}

    @pages.get("/desk")
    def desk() -> dict[str, str]:
        return {"page": "desk"}

    app = FastAPI()
    app.include_router(api)
    app.include_router(pages)
    return app


@pytest.fixture
def client() -> TestClient:
    tried.clear()
    return TestClient(_app())


def test_paths_under_the_gate_are_routed_as_before(client: TestClient) -> None:
    assert client.get("/api/v1/things/7").json() == {"thing": 7}
    assert client.post("/api/v1/things/7").status_code == 405
    assert client.get("/api/v1/things/seven").status_code == 422
    assert client.get("/api/v1/nothing").status_code == 404


def test_other_paths_reach_the_routers_after_it_without_trying_its_routes(
    client: TestClient,
) -> None:
    assert client.get("/desk").json() == {"page": "desk"}
    # Shares the gate's text but not its path segment: not the gated router's.
    assert client.get("/api/v1x").json() == {"page": "look-alike"}
    assert client.get("/elsewhere").status_code == 404
    assert tried == []


def test_a_gate_is_a_path_without_its_last_slash() -> None:
    for wrong in ("api/v1", "/api/v1/", ""):
        with pytest.raises(ValueError, match="gate"):
            GatedRouter(gate=wrong)


def test_behind_a_path_prefix_the_gate_is_matched_below_it() -> None:
    # Served under /help (ASGI root_path, as a reverse proxy mounting the desk sets it).
    behind = TestClient(_app(), root_path="/help")
    tried.clear()
    assert behind.get("/help/api/v1/things/7").json() == {"thing": 7}
    assert behind.get("/help/desk").json() == {"page": "desk"}
    assert behind.get("/help/api/v1x").json() == {"page": "look-alike"}
    assert tried and set(tried) == {"/help/api/v1/things/7"}
