"""Finding the Redis the tests may use: THREADLINE_TEST_REDIS_URL, else one answering on
127.0.0.1:6379. As with PostgreSQL, tests that need it are skipped when none answers,
except with CI=true (or an explicit URL), where a missing Redis is an error."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from redis.exceptions import RedisError

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def redis_url_or_skip() -> str:
    explicit = os.environ.get("THREADLINE_TEST_REDIS_URL")
    url = explicit or DEFAULT_REDIS
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            client.ping()
    except RedisError:
        if explicit or os.environ.get("CI") == "true":
            raise
        pytest.skip("no Redis answers (set THREADLINE_TEST_REDIS_URL)")
    return url


@contextmanager
def scratch_prefix(url: str) -> Iterator[str]:
    """A key prefix of its own, so that parallel runs never share a stream; its keys are
    deleted afterwards."""
    prefix = f"threadline-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        with redis.Redis.from_url(url) as client:
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)
