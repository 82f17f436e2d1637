"""`X-Twilio-Signature`: HMAC-SHA1, keyed with the auth token, over the URL exactly as
called followed by every form parameter (names sorted, each name then its value; the
values of a repeated name sorted). A JSON body is covered instead by a `bodySHA256`
query parameter holding the hex SHA-256 of the raw body.

The provider may have called the URL with or without the default port, so both spellings
are tried. Comparison is in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute_signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature the provider sends for `params` posted to `url`."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    data = url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_spellings(url: str) -> list[str]:
    """The URL as given, with its default port written out, and without it."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    spellings = [url]
    if default is not None and parts.port in (None, default):
        for netloc in (f"{prefix}{host}:{default}", f"{prefix}{host}"):
            spelled = urlunsplit(parts._replace(netloc=netloc))
            if spelled not in spellings:
                spellings.append(spelled)
    return spellings


def is_valid(
    token: str,
    url: str,
    signature: str | None,
    *,
    form: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
) -> bool:
    """Whether `signature` is the provider's for this request. `form` is the posted form
    (empty for a GET or a JSON body); `body`, for a JSON request, is its raw bytes, whose
    digest must match the URL's `bodySHA256`."""
    if not signature:
        return False
    params = list(form)
    if body is not None:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        claimed = query.get("bodySHA256", "")
        actual = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(claimed.lower(), actual):
            return False
        params = []
    given = signature.strip().encode()
    return any(
        hmac.compare_digest(compute_signature(token, spelled, params).encode(), given)
        for spelled in _url_spellings(url)
    )
