"""Turning a stored inbound mail into a touch on the right case (or recording why not)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from threadline.actions.base import Env, action
from threadline.vocabulary import MailState


@dataclass(frozen=True)
class MailOutcome:
    mail_id: int
    state: MailState
    touch_id: int | None = None
    case_id: int | None = None
    reason: str | None = None


@action
def process_mail(db: Session, env: Env, mail_id: int) -> MailOutcome:
    """Parse the stored message `mail_id` and land it: a customer's mail through
    receive(), an auto-reply or bounce on the case it concerns, our own mail ignored."""
    raise NotImplementedError
