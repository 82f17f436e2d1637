"""Callers recognised by their API token a moment ago, recognised again without a
database read while nothing has changed.

Every API request names its token, and looking it up costs more than a kept page does
to send (threadline/api/page_cache.py). A recognised token is kept with the data
version read before its look-up, and used again only for a request that read the same
version: revoking the token, disabling or changing its agent, anything committed since,
sends the next request to the database. It is also looked up again once its last use
is due to be recorded (once a minute). Tokens are kept by their SHA-256, as stored."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from threadline.actions.access import Principal

MAX_TOKENS = 1024


@dataclass(frozen=True)
class _Known:
    version: str
    principal: Principal
    recheck_at: datetime


class KnownTokens:
    def __init__(self, size: int = MAX_TOKENS) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._known: OrderedDict[str, _Known] = OrderedDict()

    def get(self, digest: str, version: str, now: datetime) -> Principal | None:
        with self._lock:
            known = self._known.get(digest)
            if known is None or known.version != version or now >= known.recheck_at:
                return None
            self._known.move_to_end(digest)
            return known.principal

    def keep(self, digest: str, version: str, principal: Principal, recheck_at: datetime) -> None:
        with self._lock:
            self._known[digest] = _Known(version, principal, recheck_at)
            self._known.move_to_end(digest)
            while len(self._known) > self._size:
                self._known.popitem(last=False)
