"""Idempotency keys for replies: a client that got no answer sends the same request again
with the same `Idempotency-Key` and is told about the reply it already made, instead of
the customer getting that reply twice.

A key belongs to the acting agent, so two agents' clients may choose the same one. The
unique index on (agent, key) settles two copies of one request sent at once: the one
that loses rolls back and answers as a repeat. Shared by reply(); not a public action
itself."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.actions.base import Unit
from threadline.channels.base import IdentityRef
from threadline.errors import Conflict, InvalidInput
from threadline.models import ReplyKey
from threadline.vocabulary import Channel, SwitchReason

MAX_KEY = 200
_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY}}}")  # printable ASCII
KEY_PATTERN = f"^{_KEY.pattern}$"  # for the API's header


@dataclass(frozen=True)
class ReplyRequest:
    """A reply request sent with an Idempotency-Key: the key, and a hash of everything
    else the request says, by which a retry is told from another request reusing it."""

    key: str
    request_hash: str

    @classmethod
    def of(
        cls,
        key: str,
        *,
        case_id: int,
        text: str,
        channel: Channel | None,
        to: IdentityRef | None,
        switch_reason: SwitchReason | None,
        public: bool | None,
    ) -> ReplyRequest:
        if not _KEY.fullmatch(key):
            raise InvalidInput(f"an Idempotency-Key is 1 to {MAX_KEY} printable ASCII characters")
        request = {
            "case_id": case_id,
            "text": text,
            "channel": None if channel is None else str(channel),
            "to": None if to is None else [str(to.kind), to.value],
            "switch_reason": None if switch_reason is None else str(switch_reason),
            "public": public,
        }
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
        return cls(key, hashlib.sha256(canonical.encode()).hexdigest())


def earlier_reply(db: Session, agent_id: int, request: ReplyRequest) -> int | None:
    """The touch that this agent's request with this key already made, if any. A key
    used for a different request is a Conflict: answering with that other reply would
    tell the client its message was sent when it was not."""
    found = db.execute(
        select(ReplyKey.touch_id, ReplyKey.request_hash).where(
            ReplyKey.agent_id == agent_id, ReplyKey.key == request.key
        )
    ).first()
    if found is None:
        return None
    if found.request_hash != request.request_hash:
        raise Conflict("this Idempotency-Key was used for another request; use a new key")
    return int(found.touch_id)


def keep_key(unit: Unit, agent_id: int, request: ReplyRequest, touch_id: int) -> None:
    """Record the key against the reply's touch, in the reply's transaction. Flushed at
    once, so that a copy of the request that got here first stops this one before it
    does any more work."""
    unit.db.add(
        ReplyKey(
            agent_id=agent_id,
            key=request.key,
            touch_id=touch_id,
            request_hash=request.request_hash,
            created_at=unit.now,
        )
    )
    unit.db.flush()
