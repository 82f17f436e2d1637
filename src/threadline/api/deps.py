"""What every route shares: the runtime, one database session per request, who is
calling, and the permission check, each written once as an `Annotated` alias."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from threadline.actions.access import (
    Principal,
    TokenCaller,
    record_token_use,
    session_principal,
    token_principal,
)
from threadline.actions.agents import hash_token
from threadline.api.known_tokens import KnownTokens
from threadline.api.page_cache import PageCache
from threadline.api.threads import read_quickly
from threadline.db import ReadSession
from threadline.errors import Forbidden, Unauthorized
from threadline.permissions import Permission, allows
from threadline.runtime import Runtime

SESSION_COOKIE = "tl_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_MAX_AGE = 14 * 24 * 3600


def set_session_cookie(response: Response, token: str, runtime: Runtime) -> None:
    """The desk's session cookie: never readable by scripts, not sent on cross-site
    posts, secure in production."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.env == "production",
        max_age=SESSION_MAX_AGE,
        path="/",
    )


# Dependencies that only compute are `async def`: FastAPI runs a plain `def` dependency
# in a worker thread, and each such hop costs more than the work on a small machine.
# Whatever queries the database stays a plain `def`, off the event loop. The sessions
# are made and closed on the event loop: making one touches nothing, and closing one
# only hands its connection back (an action has already committed or rolled back), so
# a request that used to hop to a thread five times (two sessions in and out, then the
# handler) now hops once.


T = TypeVar("T")


def _kept_by_app(request: Request, name: str, kind: type[T]) -> T:
    """What create_app() stores on app.state under `name`."""
    value = getattr(request.app.state, name)
    assert isinstance(value, kind), f"create_app() stores {name} on app.state"
    return value


async def get_runtime(request: Request) -> Runtime:
    return _kept_by_app(request, "runtime", Runtime)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_pages(request: Request) -> PageCache:
    return _kept_by_app(request, "pages", PageCache)


PagesDep = Annotated[PageCache, Depends(get_pages)]


async def read_session(runtime: RuntimeDep) -> AsyncIterator[ReadSession]:
    with runtime.db.reading() as session:
        yield session


async def write_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    with runtime.db.session() as session:
        yield session


# scope="function" closes the session as soon as the handler returns, before the answer
# is sent, so a slow client never holds a database connection. Nothing is committed
# here: the actions own every commit.
ReadDep = Annotated[ReadSession, Depends(read_session, scope="function")]
SessionDep = Annotated[Session, Depends(write_session, scope="function")]


async def read_data_version(runtime: RuntimeDep) -> str | None:
    """The database's data version (threadline/data_version.py), read once a request,
    before anything else of the request reads: what the caller's token and the kept
    pages are checked against. None where the database has none (SQLite in memory)."""
    version = runtime.db.version
    return None if version is None else await version.current_async()


DataVersionDep = Annotated[str | None, Depends(read_data_version)]


async def get_known_tokens(request: Request) -> KnownTokens:
    return _kept_by_app(request, "known_tokens", KnownTokens)


async def current_principal(
    request: Request,
    runtime: RuntimeDep,
    version: DataVersionDep,
    known: Annotated[KnownTokens, Depends(get_known_tokens)],
) -> Principal:
    """A bearer token, or the desk's session cookie with its CSRF header on every request
    that changes something. A token recognised since the last change of data is
    recognised again without a read (api/known_tokens.py). A look-up reads only, so that
    on SQLite a GET never queues behind writers, and it runs where a small read costs
    least (threads.read_quickly).

    Its session is its own and is closed before the handler runs: a request never holds
    two pooled connections at once. (When it did, enough concurrent requests each held
    one connection while waiting for a second, and PostgreSQL's pool ran dry for 30 s;
    bench/api.py found it.)"""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if authorization:
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("use Authorization: Bearer <token>")
        token = credentials.strip()
        digest = hash_token(token)
        if version is not None:
            principal = known.get(digest, version, runtime.env.clock.now())
            if principal is not None:
                return principal

        def by_token() -> TokenCaller:
            with runtime.db.reading() as db:
                return token_principal(db, runtime.env, token)

        found = await read_quickly(runtime.db, by_token)
        if found.note_use is not None:
            # A write, once a minute a token: it queues with the other writers, off the
            # event loop.
            await anyio.to_thread.run_sync(_record_use, runtime, found.note_use)
        elif version is not None:
            known.keep(digest, version, found.principal, found.use_due_at)
        return found.principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("sign in, or send Authorization: Bearer <token>")

    def by_cookie() -> Principal:
        with runtime.db.reading() as db:
            return session_principal(db, runtime.env, cookie)

    principal = await read_quickly(runtime.db, by_cookie)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header")
    return principal


def _record_use(runtime: Runtime, token_id: int) -> None:
    with runtime.db.session() as writing:
        record_token_use(writing, runtime.env, token_id)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the call through only when the caller's role grants
    `permission` (see threadline.permissions)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not allows(principal.role, permission):
            raise Forbidden(
                f"a {principal.role.value} may not {permission.value.replace('_', ' ')}"
            )
        return principal

    return check
