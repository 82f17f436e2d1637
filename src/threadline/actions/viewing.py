"""Who has a case open, and who is typing on it: the desk's collision notice.

This is presence, not history: nothing is written to the database and nothing is
audited. The event goes straight onto the bus; pages that show the case display it and
forget it after VIEWING_TTL seconds without another heartbeat."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env
from threadline.errors import InvalidInput, NotFound
from threadline.events import Event
from threadline.models import Agent, Case

VIEWING_EVENT = "case.viewing"
VIEWING_TTL = 30  # seconds a notice stands without a heartbeat


def note_viewing(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    *,
    typing: bool,
    leaving: bool = False,
    hello: bool = False,
) -> None:
    """Tell everyone watching the case that this agent has it open (typing or not), or
    has just left it. `hello` marks a page that has just opened the case: the others
    answer with a heartbeat of their own, so that the newcomer learns of them at once."""
    if actor.agent_id is None:
        raise InvalidInput("only an agent can view a case")
    row = db.execute(
        select(Case.customer_id, Agent.name)
        .join(Agent, Agent.id == actor.agent_id)
        .where(Case.id == case_id)
    ).first()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    env.bus.publish(
        [
            Event(
                type=VIEWING_EVENT,
                at=env.clock.now(),
                case_id=case_id,
                customer_id=row.customer_id,
                data={
                    "agent_id": actor.agent_id,
                    "name": row.name,
                    "typing": typing and not leaving,
                    "leaving": leaving,
                    "hello": hello and not leaving,
                    "ttl": VIEWING_TTL,
                },
            )
        ]
    )
