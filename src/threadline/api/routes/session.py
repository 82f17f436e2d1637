"""Signing in to the desk and out again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from threadline.actions.access import sign_in, sign_out
from threadline.api.deps import (
    SESSION_COOKIE,
    CurrentPrincipal,
    RuntimeDep,
    SessionDep,
    set_session_cookie,
)
from threadline.api.threads import SessionEndingRoute
from threadline.vocabulary import Role

router = APIRouter(route_class=SessionEndingRoute, prefix="/session", tags=["session"])


class SignIn(BaseModel):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class SessionOut(BaseModel):
    agent_id: int
    name: str
    role: Role
    csrf_token: str | None = Field(
        description="Send as X-CSRF-Token on every request that changes something"
    )


@router.post("", responses={401: {}, 429: {}})
def create_session(
    body: SignIn, request: Request, response: Response, runtime: RuntimeDep, db: SessionDep
) -> SessionOut:
    """Sign in with email and password; the answer sets the desk's session cookie."""
    address = request.client.host if request.client else ""
    signed = sign_in(
        db,
        runtime.env,
        body.email,
        body.password,
        address=address,
        user_agent=request.headers.get("user-agent", ""),
    )
    set_session_cookie(response, signed.token, runtime)
    p = signed.principal
    return SessionOut(agent_id=p.agent_id, name=p.name, role=p.role, csrf_token=p.csrf_token)


@router.get("", responses={401: {}})
def who_am_i(principal: CurrentPrincipal) -> SessionOut:
    """The signed-in agent and the CSRF token the desk must send back."""
    return SessionOut(
        agent_id=principal.agent_id,
        name=principal.name,
        role=principal.role,
        csrf_token=principal.csrf_token,
    )


@router.delete("", status_code=204, responses={401: {}, 403: {}})
def delete_session(
    principal: CurrentPrincipal, response: Response, runtime: RuntimeDep, db: SessionDep
) -> None:
    """Sign out: the session stops working at once, wherever its cookie is."""
    sign_out(db, runtime.env, principal)
    response.delete_cookie(SESSION_COOKIE, path="/")
