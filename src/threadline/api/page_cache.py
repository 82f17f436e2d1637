"""The busiest reads (the inbox, a case's touches, search) answered again from the JSON
they were last answered with, as long as nothing has changed since.

Fifty agents reading the same inbox each ask for the same page; building it costs a few
milliseconds of queries and serialisation, sending it again costs nothing. Whether a
kept page may be sent is decided per request, never by a time limit alone:

- the database's data version (threadline/data_version.py) must be the one read before
  the page was built: any commit, by any process, makes every kept page old;
- a page whose content turns with the clock (a running service-level clock shows as
  breached once its due time passes) says when, and is not sent from then on;
- none is kept longer than MAX_AGE_SECONDS, a bound on any mistake in the above.

The key of a page is everything its answer depends on besides the data: the route, the
arguments of its query, and what the caller's role lets it see. A caller's identity is
in the key only where the answer depends on it (`owner=me`).

When a change makes a busy page old, the requests that arrive together for it do not
each rebuild it: the first builds it, and the others, which read the same data version,
wait for its answer.

A database without a data version (SQLite in memory) keeps nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

import anyio.to_thread
from fastapi import Response
from pydantic import BaseModel

from threadline.data_version import DataVersion

MAX_ENTRIES = 512
MAX_AGE_SECONDS = 5.0
MAX_BODY_BYTES = 512 * 1024  # a larger answer is sent, not kept
JSON = "application/json"
WAIT_SECONDS = 30.0  # for another request building the same page


@dataclass(frozen=True)
class Built:
    """A page's answer, and the moment the clock alone makes it wrong (None: only a
    change of data does)."""

    body: bytes
    stale_at: datetime | None = None


def json_body(model: BaseModel) -> bytes:
    """The JSON the framework would have sent for this response model."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


@dataclass
class _Entry:
    version: str
    body: bytes
    stale_at: datetime | None
    expires: float  # monotonic


@dataclass
class _Building:
    """A page being built for one data version: the requests that want it meanwhile
    wait on `future` (from a thread, or from the event loop without taking a thread)."""

    future: Future[Built] = field(default_factory=Future)


class PageCache:
    def __init__(
        self,
        version: DataVersion | None,
        now: Callable[[], datetime],
        *,
        entries: int = MAX_ENTRIES,
        max_age: float = MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        count: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        self._version = version
        self._now = now
        self._size = entries
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._building: dict[tuple[Hashable, str], _Building] = {}
        # Told of each answer: "kept" (sent again), "shared" (built by another request
        # at the same moment) or "built".
        self._count = count

    async def respond(
        self, key: Hashable, build: Callable[[], Built], version: str | None
    ) -> Response:
        """The answer for a route's page, from an async endpoint, given the data version
        read for this request (api.deps.DataVersionDep). A kept page is sent from the
        event loop, and so is one another request is building for the same version,
        once built; building one happens on a worker thread."""
        if version is None:
            body = await anyio.to_thread.run_sync(self._built_alone, build)
            return Response(body, media_type=JSON)
        now = self._now()
        found, other, mine = self._look(key, version, now)
        if found is not None:
            return Response(found, media_type=JSON)
        if other is not None:
            shared: Built | None
            try:
                # Shielded: a request that goes away must not cancel the others' wait.
                shared = await asyncio.wait_for(
                    asyncio.shield(asyncio.wrap_future(other.future)), WAIT_SECONDS
                )
            except Exception:
                shared = None  # the other request failed, or is stuck: build it here
            if shared is not None:
                self._count("shared")
                return Response(shared.body, media_type=JSON)
        body = await anyio.to_thread.run_sync(self._build, key, version, now, build, mine)
        return Response(body, media_type=JSON)

    def answer(self, key: Hashable, build: Callable[[], Built]) -> bytes:
        """The page for `key`, from a worker thread: kept, built by another request at
        this moment, or built now by `build` (which must read the data only after this
        call began: it runs after the data version is read)."""
        if self._version is None:
            return self._built_alone(build)
        version = self._version.current()
        now = self._now()
        found, other, mine = self._look(key, version, now)
        if found is not None:
            return found
        if other is not None:
            shared: Built | None
            try:
                shared = other.future.result(WAIT_SECONDS)
            except Exception:
                shared = None  # the other request failed, or is stuck: build it here
            if shared is not None:
                self._count("shared")
                return shared.body
        return self._build(key, version, now, build, mine)

    def _look(
        self, key: Hashable, version: str, now: datetime
    ) -> tuple[bytes | None, _Building | None, _Building | None]:
        """One of: the kept page, if it may be sent; the page another request is
        building for this version, to wait for; or the place of the request that builds
        it, taken now by this one."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._fresh(entry, version, now):
                self._entries.move_to_end(key)
                self._count("kept")
                return entry.body, None, None
            other = self._building.get((key, version))
            if other is not None:
                return None, other, None
            mine = self._building[(key, version)] = _Building()
            return None, None, mine

    def _build(
        self,
        key: Hashable,
        version: str,
        now: datetime,
        build: Callable[[], Built],
        mine: _Building | None,
    ) -> bytes:
        """Build the page, and keep it; with `mine`, the place taken in `_look`, hand it
        (or the failure) to the requests waiting for it."""
        try:
            built = build()
        except BaseException as exc:
            if mine is not None:
                mine.future.set_exception(exc)
                self._leave(key, version, mine)
            raise
        self._count("built")
        self._keep(key, version, now, built)
        if mine is not None:
            mine.future.set_result(built)
            self._leave(key, version, mine)
        return built.body

    def _leave(self, key: Hashable, version: str, mine: _Building) -> None:
        with self._lock:
            if self._building.get((key, version)) is mine:
                del self._building[(key, version)]

    def _built_alone(self, build: Callable[[], Built]) -> bytes:
        self._count("built")
        return build().body

    def _fresh(self, entry: _Entry, version: str, now: datetime) -> bool:
        return (
            entry.version == version
            and (entry.stale_at is None or now < entry.stale_at)
            and self._monotonic() < entry.expires
        )

    def _keep(self, key: Hashable, version: str, now: datetime, built: Built) -> None:
        if len(built.body) > MAX_BODY_BYTES:
            return
        if built.stale_at is not None and built.stale_at <= now:
            return
        entry = _Entry(version, built.body, built.stale_at, self._monotonic() + self._max_age)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
