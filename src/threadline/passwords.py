"""Agents' passwords: stored as argon2id hashes, with the library's defaults (RFC 9106's
second recommended profile: 64 MiB, three passes), checked in the same time whether the
account exists or not.

Under THREADLINE_ENV=test the hashes are made at argon2's lowest cost: a test run makes
thousands of agents with passwords, and at the defaults each hash took a third of a
second on a two-core machine, most of the whole suite's time. A hash records its own
parameters, so either kind verifies anywhere; no other setting uses the cheap one."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_STANDARD = PasswordHasher()
_CHEAPEST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _hasher(env: str) -> PasswordHasher:
    return _CHEAPEST if env == "test" else _STANDARD


@cache
def _stand_in(env: str) -> str:
    """A hash of nothing anyone knows, verified against when the account does not exist,
    so that the answer takes as long as for one that does."""
    return _hasher(env).hash(secrets.token_urlsafe(16))


def hash_password(env: str, password: str) -> str:
    """The hash to store for `password`, for the settings' THREADLINE_ENV."""
    return _hasher(env).hash(password)


def password_matches(env: str, stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from; False for no hash, checked
    against a stand-in so that it takes the same time."""
    try:
        return _hasher(env).verify(stored or _stand_in(env), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
