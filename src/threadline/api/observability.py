"""Request metrics and the /metrics endpoint. Requests are labelled by route template
(`/api/v1/cases/{case_id}`), never by raw path, so the number of series stays bounded."""

from __future__ import annotations

from time import perf_counter

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.deps import RuntimeDep
from threadline.api.threads import SessionEndingRoute
from threadline.metrics import Metrics

router = APIRouter(route_class=SessionEndingRoute, tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(runtime: RuntimeDep) -> Response:
    """This process's figures in the Prometheus text format."""
    return Response(
        runtime.env.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


def _template(scope: Scope) -> str:
    """The matched route's template, e.g. /api/v1/cases/{case_id}: the path with each
    path parameter put back as its name. Unmatched paths share one label."""
    if scope.get("route") is None:
        return "unmatched"
    values = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{values[s]}}}" if s in values else s for s in segments)


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            template = _template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.request_seconds.labels(method, template).observe(perf_counter() - started)
