"""The web application: health checks, the desk's pages and their stylesheet, with every
error answered in one shape. `threadline serve` and `threadline demo` call create_app()."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from threadline import __version__
from threadline.api import RuntimeDep, observability
from threadline.api.callers_first import CallersFirst
from threadline.api.errors import error_body, install_error_handlers
from threadline.api.gated_router import GatedRouter
from threadline.api.known_tokens import KnownTokens
from threadline.api.limits import BodyLimit
from threadline.api.observability import RequestMetrics
from threadline.api.page_cache import PageCache
from threadline.api.threads import SessionEndingRoute, threads
from threadline.queries.outbox import outbox_figures
from threadline.runtime import Runtime
from threadline.web.desk_user import SignInRequired
from threadline.web.pages import router as pages_router
from threadline.web.security import SecurityHeaders
from threadline.web.templating import STATIC_DIR, error_page

logger = logging.getLogger(__name__)

health = APIRouter(route_class=SessionEndingRoute, tags=["health"])


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. It touches nothing else, so a slow database never
    gets a healthy process restarted."""
    return {"status": "ok"}


@health.get(
    "/readyz",
    responses={
        503: {"description": "The database does not answer"},
    },
)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: the database answers a query. The answer shows the outbox (`depth`,
    `oldest_seconds`, `overdue_seconds`, `held`) and warns when a message due for sending
    has waited longer than THREADLINE_OUTBOX_STALE_SECONDS: a stopped worker is noticed
    at once (messages backing off from a provider outage are not due, so they do not
    count)."""
    try:
        # A reading session: on SQLite the writing engine would BEGIN IMMEDIATE and queue
        # behind real writers just to say hello.
        with runtime.db.reading() as session:
            session.execute(text("SELECT 1"))
            figures = outbox_figures(session, runtime.env.clock.now())
    except SQLAlchemyError as exc:
        logger.warning("readiness check failed: %s", exc)
        return JSONResponse(
            error_body("unavailable", "the database does not answer"), status_code=503
        )
    outbox = {
        "depth": figures.depth,
        "oldest_seconds": round(figures.oldest_seconds, 3),
        "overdue_seconds": round(figures.overdue_seconds, 3),
        "held": figures.held,
    }
    limit = runtime.settings.outbox_stale_seconds
    if figures.overdue_seconds > limit:
        # Still ready: this process serves the desk and takes inbound messages fine, and
        # answering 503 would make every load balancer drop every web process because
        # one worker stopped. The warning (and the overdue gauge in /metrics, which
        # alerting watches) is how a stopped worker is noticed.
        message = (
            f"the outbox is stale: a message due for sending has waited "
            f"{int(figures.overdue_seconds)} s (limit {limit} s); is a worker running?"
        )
        logger.warning("readiness: %s", message)
        return JSONResponse({"status": "ready", "warnings": [message], "outbox": outbox})
    return JSONResponse({"status": "ready", "outbox": outbox})


def api_v1() -> APIRouter:
    """Every JSON route, under /api/v1."""
    from threadline.api.routes import (
        agents,
        calls,
        case_actions,
        cases,
        customers,
        desk_cases,
        events,
        files,
        inbound,
        merges,
        search,
        service_levels,
        session,
        wallboard,
    )

    router = GatedRouter(route_class=SessionEndingRoute, prefix="/api/v1")
    modules = (
        session,
        customers,
        merges,
        inbound,
        agents,
        cases,
        case_actions,
        desk_cases,
        calls,
        files,
        search,
        service_levels,
        wallboard,
        events,
    )
    for module in modules:
        router.include_router(module.router)
    return router


def webhooks() -> APIRouter:
    """The providers' webhooks, under /webhooks: each checks its provider's signature."""
    from threadline.api.routes import meta_webhooks, twilio_sms, twilio_voice, x_webhooks

    router = GatedRouter(gate="/webhooks", route_class=SessionEndingRoute)
    router.include_router(twilio_voice.router)
    router.include_router(twilio_sms.router)
    router.include_router(meta_webhooks.router)
    router.include_router(x_webhooks.router)
    return router


def create_app(runtime: Runtime) -> FastAPI:
    from threadline.api.routes import twilio_voice

    app = FastAPI(
        lifespan=threads,
        title="Threadline",
        version=__version__,
        summary="One customer, one thread, whatever the channel.",
    )
    app.state.runtime = runtime
    answers = runtime.env.metrics.page_answers
    app.state.pages = PageCache(
        runtime.db.version,
        runtime.env.clock.now,
        count=lambda outcome: answers.labels(outcome).inc(),
    )
    app.state.known_tokens = KnownTokens()
    runtime.watch_outbox()
    install_error_handlers(app, html=error_page)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.include_router(health)
    app.include_router(observability.router)
    app.include_router(api_v1())
    app.include_router(webhooks())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages_router)
    # A ringing call's answer: the voice router's own path (POST).
    app.add_middleware(CallersFirst, caller_path=twilio_voice.router.prefix)
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics, metrics=runtime.env.metrics)
    return app


async def _to_sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(exc.location, status_code=303)
