"""Signing in and out of the desk with a plain HTML form: it works before any script
has loaded, and a password manager recognises it."""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threadline.actions.access import sign_in, sign_out
from threadline.api.deps import SESSION_COOKIE, RuntimeDep, set_session_cookie
from threadline.api.threads import SessionEndingRoute
from threadline.errors import Forbidden, RateLimited, Unauthorized
from threadline.web.desk_user import DeskUserDep, home_for
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

FORM_LIMIT = 8 * 1024  # an email and a password; anything bigger is not a sign-in


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host, never a scheme-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target


def _same_origin(request: Request) -> bool:
    """A form post must come from a page of ours (the browser says where from)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin == own


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > FORM_LIMIT:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> HTMLResponse:
    return render(request, "sign_in.html", next=safe_next(next), error=None, email="")


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in_submit(request: Request, runtime: RuntimeDep) -> Response:
    if not _same_origin(request):
        raise Forbidden("sign in from Threadline's own sign-in page")
    form = await _form(request)
    email = form.get("email", "").strip()
    password = form.get("password", "")
    target = safe_next(form.get("next"))
    if not email or not password:
        return render(
            request,
            "sign_in.html",
            status_code=422,
            next=target,
            error="Enter your email address and your password.",
            email=email,
        )
    address = request.client.host if request.client else ""
    try:
        with runtime.db.session() as db:
            signed = sign_in(
                db,
                runtime.env,
                email,
                password,
                address=address,
                user_agent=request.headers.get("user-agent", ""),
            )
    except (Unauthorized, RateLimited) as refused:
        return render(
            request,
            "sign_in.html",
            status_code=refused.status,
            next=target,
            error="Wrong email or password."
            if isinstance(refused, Unauthorized)
            else "Too many failed attempts: wait a few minutes and try again.",
            email=email,
        )
    answer = RedirectResponse(target or home_for(signed.principal.role), status_code=303)
    set_session_cookie(answer, signed.token, runtime)
    return answer


@router.post("/sign-out")
async def sign_out_submit(request: Request, user: DeskUserDep, runtime: RuntimeDep) -> Response:
    form = await _form(request)
    if not hmac.compare_digest(form.get("csrf_token", ""), user.csrf_token):
        raise Forbidden("the sign-out form is stale; reload the page and try again")
    with runtime.db.session() as db:
        sign_out(db, runtime.env, user.principal)
    answer = RedirectResponse("/sign-in", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer
