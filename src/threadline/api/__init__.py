"""The HTTP side: the app factory (app.py), the error mapping (errors.py) and the request
plumbing every router shares (deps.py)."""

from threadline.api.deps import ReadDep, RuntimeDep, SessionDep, get_runtime, read_session

__all__ = ["ReadDep", "RuntimeDep", "SessionDep", "get_runtime", "read_session"]
