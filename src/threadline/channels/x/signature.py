"""X's two checks, both keyed with the app's consumer secret. The challenge-response check
(CRC): X calls `GET ?crc_token=T` at registration and then about hourly, and expects
`sha256=` + Base64(HMAC-SHA256(T)); a wrong answer invalidates the webhook. Every event:
the header `x-twitter-webhooks-signature: sha256=<Base64>`, an HMAC-SHA256 of the raw
body as it arrived. Comparison is in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "sha256="


def _digest(consumer_secret: str, message: bytes) -> str:
    mac = hmac.new(consumer_secret.encode(), message, hashlib.sha256).digest()
    return PREFIX + base64.b64encode(mac).decode("ascii")


def crc_response(consumer_secret: str, crc_token: str) -> str:
    """The `response_token` that proves to X we hold the consumer secret."""
    return _digest(consumer_secret, crc_token.encode())


def sign(consumer_secret: str, body: bytes) -> str:
    """The header value X sends with `body`."""
    return _digest(consumer_secret, body)


def is_valid(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` (x-twitter-webhooks-signature as received) signs `body`. Base64
    is case-sensitive, so only the prefix may differ in case."""
    if not header:
        return False
    given = header.strip()
    if given[: len(PREFIX)].lower() != PREFIX:
        return False
    expected = sign(consumer_secret, body)
    return hmac.compare_digest((PREFIX + given[len(PREFIX) :]).encode(), expected.encode())
