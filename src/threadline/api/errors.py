"""Every error answer, written once: our own ThreadlineError, the framework's 404/405
and its validation 422 all answer {"error": {"code": ..., "message": ...}}. A browser
asking for a desk page gets the same facts as a friendly HTML page instead."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from threadline.errors import ThreadlineError

logger = logging.getLogger(__name__)

# Codes for the framework's own answers, by status. API.md names the set; this module
# adds method_not_allowed (405), internal (500) and app.py unavailable (/readyz, 503).
_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_input",
    429: "rate_limited",
}

# Paths that machines call: they always get JSON, whatever their Accept header says.
_MACHINE_PREFIXES = ("/api", "/healthz", "/readyz", "/metrics", "/webhooks", "/static")

HtmlErrorPage = Callable[[Request, int, str, str], Response]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def wants_html(request: Request) -> bool:
    path = request.url.path
    if any(path == prefix or path.startswith(prefix + "/") for prefix in _MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI, *, html: HtmlErrorPage | None = None) -> None:
    """Map every error to its answer. `html` renders the page a browser gets."""

    def answer(
        request: Request,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if html is not None and wants_html(request):
            response = html(request, status, code, message)
            response.headers.update(headers or {})
            return response
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    async def on_threadline_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ThreadlineError)
        if exc.status >= 500:
            logger.error("%s on %s %s", exc.code, request.method, request.url.path, exc_info=exc)
        return answer(request, exc.status, exc.code, exc.message)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        if status == 404:
            message = f"nothing at {request.url.path}"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return answer(request, status, _CODES.get(status, "error"), message, exc.headers)

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return answer(request, 422, "invalid_input", "; ".join(problems) or "invalid request")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback and re-raises after answering; the client only
        # learns that it was our fault, never the internals.
        return answer(request, 500, "internal", "something went wrong on our side")

    app.add_exception_handler(ThreadlineError, on_threadline_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(Exception, on_unexpected)
