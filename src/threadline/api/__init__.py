"""The HTTP side: the app factory (app.py), the error mapping (errors.py) and, here, the
request plumbing every router shares — the runtime and one database session per
request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from threadline.db import ReadSession
from threadline.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime), "create_app() stores the runtime on app.state"
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def read_session(runtime: RuntimeDep) -> Iterator[ReadSession]:
    with runtime.db.reading() as session:
        yield session


# scope="function" closes the session as soon as the handler returns, before the answer
# is sent, so a slow client never holds a database connection. Views only read; the
# actions own every commit, so nothing is committed here.
ReadDep = Annotated[ReadSession, Depends(read_session, scope="function")]

__all__ = ["ReadDep", "RuntimeDep", "get_runtime", "read_session"]
