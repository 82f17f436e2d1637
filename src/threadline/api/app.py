"""The web application: health checks, the desk's pages and their stylesheet, with every
error answered in one shape. `threadline serve` and `threadline demo` call create_app()."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from threadline import __version__
from threadline.api import RuntimeDep, observability
from threadline.api.errors import error_body, install_error_handlers
from threadline.api.limits import BodyLimit
from threadline.api.observability import RequestMetrics
from threadline.runtime import Runtime
from threadline.web.pages import router as pages_router
from threadline.web.templating import STATIC_DIR, error_page

logger = logging.getLogger(__name__)

health = APIRouter(tags=["health"])


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. It touches nothing else, so a slow database never
    gets a healthy process restarted."""
    return {"status": "ok"}


@health.get(
    "/readyz",
    responses={503: {"description": "The database does not answer"}},
)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: the database answers a query."""
    try:
        # A reading session: on SQLite the writing engine would BEGIN IMMEDIATE and queue
        # behind real writers just to say hello.
        with runtime.db.reading() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("readiness check failed: %s", exc)
        return JSONResponse(
            error_body("unavailable", "the database does not answer"), status_code=503
        )
    return JSONResponse({"status": "ready"})


def api_v1() -> APIRouter:
    """Every JSON route, under /api/v1."""
    from threadline.api.routes import (
        agents,
        case_actions,
        cases,
        customers,
        events,
        files,
        inbound,
        merges,
        search,
        session,
    )

    router = APIRouter(prefix="/api/v1")
    modules = (
        session,
        customers,
        merges,
        inbound,
        agents,
        cases,
        case_actions,
        files,
        search,
        events,
    )
    for module in modules:
        router.include_router(module.router)
    return router


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Threadline",
        version=__version__,
        summary="One customer, one thread, whatever the channel.",
    )
    app.state.runtime = runtime
    install_error_handlers(app, html=error_page)
    app.include_router(health)
    app.include_router(observability.router)
    app.include_router(api_v1())
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages_router)
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=runtime.env.metrics)
    return app
