"""Consent to texts. A number that texted STOP gets no text until it texts START: the
keyword's message lands on its case like any other (receive()); set_sms_consent()
records what it means and stops the replies already queued to that number, and
sms_opt_out() is what reply() asks before queueing another."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.errors import Conflict, InvalidInput
from threadline.identities import normalise
from threadline.models import Identity, OutboxMessage, SmsConsent, Touch
from threadline.vocabulary import Channel, IdentityKind, OutboxState

MAX_KEYWORD = 16


@dataclass(frozen=True)
class ConsentChange:
    """A number's consent after set_sms_consent(): `changed` says whether this call moved
    it; `stopped_outbox_ids` are the queued replies it failed."""

    number: str
    opted_out: bool
    keyword: str
    changed_at: datetime
    touch_id: int | None
    changed: bool
    stopped_outbox_ids: tuple[int, ...] = ()


def sms_opt_out(db: Session, number: str) -> SmsConsent | None:
    """The opt-out of an E.164 number (it texted STOP and not START since), or None
    when texts may go to it."""
    consent = db.scalars(
        select(SmsConsent)
        .where(SmsConsent.number == number)
        .execution_options(populate_existing=True)
    ).first()
    return consent if consent is not None and consent.opted_out else None


def opt_out_reason(consent: SmsConsent) -> str:
    """What an agent is told: who texted which keyword when, and what lifts it."""
    when = consent.changed_at.strftime("%d %b %Y at %H:%M UTC")
    return (
        f"the customer texted {consent.keyword} from {consent.number} on {when}, and no "
        "texts go to that number until they text START"
    )


def refuse_if_opted_out(db: Session, number: str) -> None:
    """Conflict, saying why, when `number` opted out of texts.

    Not locked: reply() holds its case, and set_sms_consent() locks the consent before
    the cases of the replies it stops, so a lock here could deadlock. A reply that
    races a STOP by milliseconds is refused by the provider itself (error 21610, which
    fails it with that reason), and a later STOP stops it as well."""
    consent = sms_opt_out(db, number)
    if consent is not None:
        raise Conflict(
            f"This text was not queued: {opt_out_reason(consent)}. Reply on another channel."
        )


@action
def set_sms_consent(
    db: Session,
    env: Env,
    number: str,
    opted_out: bool,
    keyword: str,
    touch_id: int | None,
    *,
    actor: Actor | None = None,
) -> ConsentChange:
    """Record that `number` texted `keyword` (in the message `touch_id`): STOP and its
    synonyms opt it out, failing the replies still queued to it with the reason on
    their touches; START opts it back in.

    Idempotent and order-proof: a keyword from a message no newer than the one last
    applied changes nothing, so a replayed webhook, or an old STOP retried after a newer
    START, cannot undo what the customer said last."""
    number = normalise(IdentityKind.PHONE, number, region=env.settings.default_region)
    keyword = keyword.strip().upper()
    if not keyword or len(keyword) > MAX_KEYWORD:
        raise InvalidInput(f"a consent keyword is 1-{MAX_KEYWORD} characters")

    def work() -> ConsentChange:
        with unit_of_work(db, env, actor or Actor.channel(Channel.SMS.value)) as unit:
            consent = db.scalars(
                select(SmsConsent)
                .where(SmsConsent.number == number)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).first()
            if consent is not None and _seen(consent, touch_id):
                return _change(consent, changed=False)
            if consent is not None and consent.opted_out == opted_out:
                # Said again: the first time stays the one the agent is told about. A
                # reply queued meanwhile (it raced the first STOP) is stopped all the same.
                consent.touch_id = touch_id if touch_id is not None else consent.touch_id
                stopped = _stop_queued(unit, consent) if opted_out else ()
                return _change(consent, changed=False, stopped=stopped)
            if consent is None:
                consent = SmsConsent(number=number)
                db.add(consent)
            consent.opted_out = opted_out
            consent.keyword = keyword
            consent.changed_at = unit.now
            consent.touch_id = touch_id
            db.flush()
            stopped = _stop_queued(unit, consent) if opted_out else ()
            subject_type, subject_id = _subject(db, number, touch_id)
            unit.audit(
                "sms.opted_out" if opted_out else "sms.opted_in",
                subject_type,
                subject_id,
                number=number,
                keyword=keyword,
                touch_id=touch_id,
                stopped_outbox_ids=list(stopped),
            )
            return _change(consent, changed=True, stopped=stopped)

    return with_retry(work)


def _seen(consent: SmsConsent, touch_id: int | None) -> bool:
    return touch_id is not None and consent.touch_id is not None and consent.touch_id >= touch_id


def _change(consent: SmsConsent, *, changed: bool, stopped: tuple[int, ...] = ()) -> ConsentChange:
    return ConsentChange(
        number=consent.number,
        opted_out=consent.opted_out,
        keyword=consent.keyword,
        changed_at=consent.changed_at,
        touch_id=consent.touch_id,
        changed=changed,
        stopped_outbox_ids=stopped,
    )


def _subject(db: Session, number: str, touch_id: int | None) -> tuple[str, int]:
    """What the audit row is about: the case the keyword came on, else the customer
    the number belongs to."""
    if touch_id is not None:
        case_id = db.scalar(select(Touch.case_id).where(Touch.id == touch_id))
        if case_id is not None:
            return "case", case_id
    customer_id = db.scalar(
        select(Identity.customer_id).where(
            Identity.kind == IdentityKind.PHONE, Identity.value == number
        )
    )
    return ("customer", customer_id) if customer_id is not None else ("sms_consent", 0)


def _stop_queued(unit: Unit, consent: SmsConsent) -> tuple[int, ...]:
    """Fail every text to the number not sent yet (waiting, backing off, held, or
    claimed by a worker that has not answered), each with the usual note on its case.
    A worker that sends one anyway cannot record it, and the provider refuses a number
    that texted it STOP (error 21610)."""
    # Here rather than at the top: actions.outbox imports actions.cases, which imports
    # this module for reply().
    from threadline.actions.outbox import _fail_touch, _touch_and_case

    db = unit.db
    rows = db.scalars(
        select(OutboxMessage)
        .join(Touch, Touch.id == OutboxMessage.touch_id)
        .join(Identity, Identity.id == Touch.identity_id)
        .where(
            OutboxMessage.channel == Channel.SMS,
            OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.HELD)),
            Identity.kind == IdentityKind.PHONE,
            Identity.value == consent.number,
        )
        .order_by(OutboxMessage.id)
        .with_for_update(of=OutboxMessage)
        .execution_options(populate_existing=True)
    ).all()
    reason = f"not sent because {opt_out_reason(consent)}"
    for row in rows:
        touch, case = _touch_and_case(unit, row, lock_case=True)
        row.state = OutboxState.FAILED
        row.claimed_by = None
        row.claimed_until = None
        row.last_error = reason
        _fail_touch(unit, case, touch, row, reason)
    return tuple(row.id for row in rows)
