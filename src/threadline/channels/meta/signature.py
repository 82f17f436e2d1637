"""Meta's two checks. Subscribing: Meta calls with `hub.mode=subscribe`, our verify token
and a challenge, which is echoed only when the token is ours. Every event: the header
`X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256 of the raw body keyed with the App
Secret.

The HMAC is over the bytes as they arrived: Meta escapes non-ASCII characters as
`\\uXXXX` before signing, so a body decoded and serialised again would no longer match.
Comparisons are in constant time. The legacy SHA-1 `X-Hub-Signature` is not accepted."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta sends with `body`."""
    return PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` (X-Hub-Signature-256 as received) signs `body`."""
    if not header:
        return False
    given = header.strip()
    if given[: len(PREFIX)].lower() != PREFIX:
        return False
    # Meta writes lower-case hex; an upper-case one is the same digest. Bytes, since
    # compare_digest refuses text that is not ASCII (a forged header may be anything).
    claimed = (PREFIX + given[len(PREFIX) :].lower()).encode()
    return hmac.compare_digest(claimed, sign(app_secret, body).encode())


def is_subscription(mode: str, token: str, verify_token: str) -> bool:
    """Whether a verification request is Meta subscribing with our verify token. Bytes
    are compared, since compare_digest refuses non-ASCII text."""
    return mode == "subscribe" and hmac.compare_digest(token.encode(), verify_token.encode())
