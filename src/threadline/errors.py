"""The one exception hierarchy. Each error carries the machine-readable code that the API
answers with, so that the mapping to HTTP is written once."""

from __future__ import annotations


class ThreadlineError(Exception):
    """Base of every error Threadline raises on purpose."""

    code = "error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ThreadlineError):
    code = "invalid_input"
    status = 422


class NotFound(ThreadlineError):
    code = "not_found"
    status = 404


class Conflict(ThreadlineError):
    code = "conflict"
    status = 409


class Forbidden(ThreadlineError):
    code = "forbidden"
    status = 403


class Unauthorized(ThreadlineError):
    code = "unauthorized"
    status = 401


class TooLarge(ThreadlineError):
    code = "too_large"
    status = 413


class RateLimited(ThreadlineError):
    code = "rate_limited"
    status = 429


class Unavailable(ThreadlineError):
    """An outside service Threadline needs now (a provider's API) did not do it."""

    code = "unavailable"
    status = 503


class ConfigurationError(ThreadlineError):
    """A setting is missing or wrong; start-up stops with this message."""

    code = "configuration"
