"""Turning a stored inbound mail into a touch on the right case, or recording why not.

The listener and the IMAP poller store every message before anything else happens
(actions/mailboxes.store_mail); this is the second step. It decides what the mail is:

- a person writing: the customer's mail goes through receive(), threaded by the
  Message-IDs it answers, then the `[TL-1042]` in its subject, then the customer's open
  case; a forward from one of our agents is the forwarded customer's mail;
- a bounce (RFC 3464): the outbound reply it reports on is marked failed, which puts an
  internal note on the case and the case back in front of its owner;
- an auto-reply, list mail or read receipt: recorded on the case it concerns as an event,
  never opening a case, reopening one or counting as the customer's reply;
- our own mail come back (a loop): kept, ignored.

Processing is idempotent: a message processed twice (a retry after a crash between
receive() and the bookkeeping) lands once, because receive() de-duplicates by
Message-ID. That is what lets process_mails() take several messages at once and record
how they all ended in one transaction after landing them one by one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work
from threadline.actions.inbound import receive
from threadline.actions.outbox import record_delivery_report
from threadline.actions.text import clean
from threadline.channels.base import IdentityRef, Inbound, IncomingFile
from threadline.channels.email.outgoing import email_thread_key as email_key
from threadline.channels.email.parse import case_ref_in_subject, parse_mail
from threadline.channels.email.parsed import Address, MailKind, ParsedMail
from threadline.errors import InvalidInput, NotFound
from threadline.identities import normalise
from threadline.models import Agent, Case, InboundMail, Mailbox, OutboxMessage, ThreadKey, Touch
from threadline.models import parse_ref as parse_case_ref
from threadline.prepared import Prepared
from threadline.vocabulary import (
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    MailState,
    TouchKind,
)

log = logging.getLogger(__name__)

MAX_SUBJECT = 300
MAX_EXTERNAL_ID = 250
MAX_QUOTED = 200_000
MAX_REASON = 2000
# A Date header further ahead than this is a wrong clock, not a time to sort by.
FUTURE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class MailOutcome:
    mail_id: int
    state: MailState
    touch_id: int | None = None
    case_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StoredMail:
    """A stored message as processing needs it: its row's facts, and its bytes when
    whoever hands it over still holds them (the SMTP listener, which has just stored
    it); without them they are read from the file store."""

    id: int
    sha256: str
    mail_from: str
    mailbox_address: str | None
    team_id: int | None
    raw: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Ended:
    """How one message ended. `recorded`: its row says so already, written in the
    transaction that landed it; otherwise _record() writes it."""

    outcome: MailOutcome
    recorded: bool = False


_STORED = (
    select(
        InboundMail.id,
        InboundMail.sha256,
        InboundMail.mail_from,
        InboundMail.state,
        InboundMail.touch_id,
        InboundMail.reason,
        Mailbox.address,
        Mailbox.team_id,
    )
    .outerjoin(Mailbox, Mailbox.id == InboundMail.mailbox_id)
    .where(InboundMail.id == bindparam("mail_id"))
)
_MARK = Prepared(
    update(InboundMail)
    .where(InboundMail.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        touch_id=bindparam("b_touch_id"),
        reason=bindparam("b_reason"),
        processed_at=bindparam("b_now"),
    )
)


@action
def process_mail(db: Session, env: Env, mail_id: int) -> MailOutcome:
    """Parse the stored message `mail_id` and land it (see the module's description).
    A message that ended already is answered as it ended."""
    # Read as plain values, not as an ORM object that the marking would leave stale.
    row = db.execute(_STORED, {"mail_id": mail_id}).first()
    db.rollback()  # no transaction (nor SQLite's write lock) held while parsing
    if row is None:
        raise NotFound(f"inbound mail {mail_id} does not exist")
    if row.state in (MailState.PROCESSED, MailState.IGNORED):
        return MailOutcome(row.id, row.state, row.touch_id, None, row.reason)
    stored = StoredMail(row.id, row.sha256, row.mail_from, row.address, row.team_id)
    [result] = process_mails(db, env, [stored])
    if isinstance(result, Exception):
        raise result
    return result


@action
def process_mails(
    db: Session, env: Env, mails: Sequence[StoredMail]
) -> list[MailOutcome | Exception]:
    """Land each of `mails` (freshly stored ones: their state is not checked) and
    record how they ended, all in one transaction at the end. Answers, in order, each
    message's outcome or the exception that stopped it; one message's failure does not
    stop the others, and the caller records it (mailboxes.record_mail_failure).

    Per message this costs receive()'s one transaction and a share of one read and one
    write for the batch, where processing them one at a time costs four."""
    prepared: list[ParsedMail | _Ended | Exception] = [_parsed(env, mail) for mail in mails]
    agents = _agents_among(db, prepared)
    results: list[_Ended | Exception] = []
    for mail, parsed in zip(mails, prepared, strict=True):
        if not isinstance(parsed, ParsedMail):
            results.append(parsed)
            continue
        try:
            results.append(_land(db, env, mail, parsed, agents))
        except Exception as exc:  # the caller records it; the batch goes on
            db.rollback()
            results.append(exc)
    to_record = [r.outcome for r in results if isinstance(r, _Ended) and not r.recorded]
    failed: dict[int, Exception] = {}
    try:
        _record(db, env, to_record)
    except Exception as exc:
        # Landed but not recorded: the retry lands them again, as duplicates of themselves.
        failed = {outcome.mail_id: exc for outcome in to_record}
    return [
        failed.get(r.outcome.mail_id, r.outcome) if isinstance(r, _Ended) else r for r in results
    ]


def _parsed(env: Env, mail: StoredMail) -> ParsedMail | _Ended | Exception:
    """The message parsed; an unreadable one ends here, ignored."""
    try:
        raw = mail.raw if mail.raw is not None else env.files.read(mail.sha256)
    except Exception as exc:
        return exc
    try:
        return parse_mail(raw)
    except InvalidInput as exc:
        return _end(mail.id, MailState.IGNORED, reason=f"unreadable: {exc}")
    except Exception as exc:
        return exc


def _agents_among(db: Session, prepared: Sequence[object]) -> frozenset[str]:
    """Which senders of the batch are our own active agents, in one read."""
    senders = {
        parsed.sender.address.lower()
        for parsed in prepared
        if isinstance(parsed, ParsedMail)
        and parsed.kind is MailKind.PERSON
        and parsed.sender is not None
    }
    if not senders:
        return frozenset()
    found = db.scalars(select(Agent.email).where(Agent.email.in_(senders), Agent.active))
    agents = frozenset(found)
    db.rollback()
    return agents


def _land(
    db: Session, env: Env, stored: StoredMail, parsed: ParsedMail, agents: frozenset[str]
) -> _Ended:
    if _is_ours(parsed, env.settings.mail_domain):
        return _end(stored.id, MailState.IGNORED, reason="our own mail came back")
    if parsed.kind is MailKind.BOUNCE:
        return _bounce(db, env, stored, parsed)
    null_sender = stored.mail_from.strip() in ("", "<>")
    if parsed.kind is not MailKind.PERSON or null_sender:
        reason = parsed.kind_reason if parsed.kind is not MailKind.PERSON else None
        return _automatic(db, env, stored, parsed, reason or "null reverse path")
    return _from_a_person(db, env, stored, parsed, agents)


def _is_ours(parsed: ParsedMail, mail_domain: str) -> bool:
    """Mail Threadline itself sent: our marker header, a Message-ID or a sender on our
    domain. Answering it would start a loop."""
    domain = mail_domain.lower()
    if parsed.marker is not None:
        return True
    if parsed.message_id is not None and parsed.message_id.lower().endswith("@" + domain):
        return True
    return parsed.sender is not None and parsed.sender.address.endswith("@" + domain)


def _from_a_person(
    db: Session, env: Env, stored: StoredMail, parsed: ParsedMail, agents: frozenset[str]
) -> _Ended:
    sender = parsed.sender
    forwarded_by: str | None = None
    if sender is not None and sender.address.lower() in agents:
        if parsed.forwarded_from is None:
            return _end(
                stored.id,
                MailState.IGNORED,
                reason=f"mail from agent {sender.address} that forwards no customer's mail",
            )
        forwarded_by, sender = sender.address, parsed.forwarded_from
    identity = _usable_identity(env, sender, parsed.reply_to, stored.mail_from)
    if identity is None:
        return _end(stored.id, MailState.IGNORED, reason="no usable sender address")
    inbound = _inbound(env, stored, parsed, identity, forwarded_by=forwarded_by)
    received = receive(db, env, inbound)
    reason = f"duplicate of touch {received.touch_id}" if received.duplicate else None
    return _end(
        stored.id,
        MailState.PROCESSED,
        touch_id=received.touch_id,
        case_id=received.case_id,
        reason=reason,
    )


def _usable_identity(
    env: Env, sender: Address | None, reply_to: Address | None, envelope: str
) -> IdentityRef | None:
    """The first of From, Reply-To and the envelope sender that is a real address."""
    candidates = [sender, reply_to]
    bare = envelope.strip().strip("<>")
    if bare:
        candidates.append(Address(bare.lower()))
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            normalise(IdentityKind.EMAIL, candidate.address, region=env.settings.default_region)
        except InvalidInput:
            continue
        return IdentityRef(IdentityKind.EMAIL, candidate.address, candidate.name)
    return None


def _answered_keys(parsed: ParsedMail) -> tuple[str, ...]:
    """The thread keys this mail names, nearest first: In-Reply-To, then References
    from the newest back, then its Outlook conversation."""
    ids = [*parsed.in_reply_to, *reversed(parsed.references)]
    keys = [email_key(i) for i in dict.fromkeys(ids)]
    if parsed.thread_index_root:
        keys.append(f"outlook:{parsed.thread_index_root}")
    return tuple(keys)


def _inbound(
    env: Env,
    stored: StoredMail,
    parsed: ParsedMail,
    identity: IdentityRef,
    *,
    forwarded_by: str | None,
) -> Inbound:
    now = env.clock.now()
    occurred_at = parsed.date if parsed.date and parsed.date <= now + FUTURE_SLACK else None
    message_id = parsed.message_id if parsed.message_id else None
    if message_id is not None and len(email_key(message_id)) > 500:
        message_id = None  # longer than a thread key may be: fall back to the digest
    external_id = message_id if message_id else f"sha256:{stored.sha256}"
    meta: dict[str, Any] = {
        "mail_id": stored.id,
        "message_id": message_id,
        "references": [*parsed.references, *parsed.in_reply_to][-50:],
        "mailbox": stored.mailbox_address,
        "to": [a.address for a in parsed.to][:50],
        "cc": [a.address for a in parsed.cc][:50],
    }
    if parsed.quoted:
        meta["quoted"] = clean(parsed.quoted[:MAX_QUOTED])
    if parsed.damaged:
        meta["damaged"] = True
    if forwarded_by:
        meta["forwarded_by"] = forwarded_by
    return Inbound(
        channel=Channel.EMAIL,
        external_id=external_id[:MAX_EXTERNAL_ID],
        sender=identity,
        text=parsed.text,
        subject=parsed.subject[:MAX_SUBJECT] or None,
        html=parsed.html,
        occurred_at=occurred_at,
        case_ref=case_ref_in_subject(parsed.subject),
        thread_key=email_key(message_id) if message_id else None,
        more_thread_keys=(
            (f"outlook:{parsed.thread_index_root}",) if parsed.thread_index_root else ()
        ),
        references=_answered_keys(parsed),
        team_id=stored.team_id,
        attachments=tuple(
            IncomingFile(f.filename, f.content_type, f.content, inline=f.inline)
            for f in parsed.attachments
        ),
        meta=meta,
    )


def _concerned_case(db: Session, parsed: ParsedMail) -> tuple[int, int | None] | None:
    """The case (and the touch) an automatic mail is about: by the Message-IDs it names,
    else by the case ref in its subject."""
    keys = list(_answered_keys(parsed))
    if parsed.receipt_for:
        keys.insert(0, email_key(parsed.receipt_for))
    if parsed.bounce is not None and parsed.bounce.original_message_id:
        keys.insert(0, email_key(parsed.bounce.original_message_id))
    if keys:
        row = db.execute(
            select(ThreadKey.case_id, ThreadKey.touch_id)
            .where(ThreadKey.key.in_(keys))
            .order_by(ThreadKey.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            return int(row[0]), row[1]
    ref = case_ref_in_subject(parsed.subject)
    case_id = parse_case_ref(ref) if ref else None
    if case_id is not None and db.get(Case, case_id) is not None:
        return case_id, None
    return None


def _automatic(
    db: Session, env: Env, stored: StoredMail, parsed: ParsedMail, reason: str
) -> _Ended:
    """An auto-reply, list mail or read receipt: an event on the case it concerns."""
    found = _concerned_case(db, parsed)
    db.rollback()
    if found is None:
        return _end(
            stored.id,
            MailState.IGNORED,
            reason=f"{parsed.kind.value.replace('_', ' ')} ({reason}) about no known case",
        )
    case_id, _ = found
    who = parsed.sender.address if parsed.sender else (stored.mail_from or "unknown sender")
    label = {
        MailKind.AUTO_REPLY: "Automatic reply",
        MailKind.BULK: "List or bulk mail",
        MailKind.RECEIPT: "Read receipt",
    }.get(parsed.kind, "Automatic mail")
    text = f"{label} from {who}: {parsed.subject}".strip()
    if parsed.text.strip():
        text += "\n\n" + parsed.text.strip()
    return _record_event(db, env, stored, case_id, text, kind=parsed.kind.value, why=reason)


def _bounce(db: Session, env: Env, stored: StoredMail, parsed: ParsedMail) -> _Ended:
    """A delivery status notification: the reply it reports on failed (or was delayed)."""
    bounce = parsed.bounce
    found = _concerned_case(db, parsed)
    outbox = None
    if found is not None and found[1] is not None:
        outbox = db.scalar(select(OutboxMessage).where(OutboxMessage.touch_id == found[1]))
    provider_ref = outbox.provider_ref if outbox is not None else None
    touch_id = found[1] if found is not None else None
    db.rollback()
    detail = "; ".join(
        part
        for part in (
            bounce.final_recipient if bounce else None,
            bounce.status if bounce else None,
            bounce.diagnostic if bounce else None,
        )
        if part
    )
    if found is None:
        return _end(stored.id, MailState.IGNORED, reason=f"bounce about no known mail: {detail}")
    case_id = found[0]
    permanent = bounce.permanent if bounce else True
    if permanent and provider_ref is not None and touch_id is not None:
        record_delivery_report(
            db, env, provider_ref=provider_ref, status=Delivery.FAILED, error=detail or "bounced"
        )
        return _end(
            stored.id,
            MailState.PROCESSED,
            case_id=case_id,
            reason=f"bounce for touch {touch_id}: {detail}",
        )
    what = "Delivery failed" if permanent else "Delivery delayed"
    return _record_event(
        db, env, stored, case_id, f"{what}: {detail}".strip(), kind="bounce", why=detail
    )


def _record_event(
    db: Session, env: Env, stored: StoredMail, case_id: int, text: str, *, kind: str, why: str
) -> _Ended:
    """An automatic mail as an event touch on its case: visible to agents, never a
    customer's message (no reopening, no switch, no clock)."""
    with unit_of_work(db, env, Actor.channel("email")) as unit:
        case = db.get(Case, case_id)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        touch = Touch(
            case_id=case_id,
            channel=Channel.EMAIL,
            direction=Direction.IN,
            kind=TouchKind.EVENT,
            public=False,
            text=clean(text)[:10_000],
            occurred_at=unit.now,
            created_at=unit.now,
            meta={"mail_id": stored.id, "automatic": kind},
        )
        db.add(touch)
        db.flush()
        reason = _mark(unit, stored.id, MailState.PROCESSED, touch.id, f"{kind}: {why}")
        unit.audit("mail.recorded", "case", case_id, mail_id=stored.id, kind=kind)
        unit.emit(
            "touch.created",
            case_id=case_id,
            customer_id=case.customer_id,
            touch_id=touch.id,
            channel=Channel.EMAIL.value,
            direction=Direction.IN.value,
        )
        # Marked in the event's own transaction: a retry must not record the event twice.
        outcome = MailOutcome(stored.id, MailState.PROCESSED, touch.id, case_id, reason)
        return _Ended(outcome, recorded=True)


def _end(
    mail_id: int,
    state: MailState,
    *,
    touch_id: int | None = None,
    case_id: int | None = None,
    reason: str | None = None,
) -> _Ended:
    """How the message ended (processed into a touch, or ignored with why), as its row
    will say it."""
    stored_reason = clean(reason)[:MAX_REASON] if reason else None
    return _Ended(MailOutcome(mail_id, state, touch_id, case_id, stored_reason))


def _record(db: Session, env: Env, outcomes: Sequence[MailOutcome]) -> None:
    """Write how each message ended on its row, with its audit row, in one transaction."""
    if not outcomes:
        return
    with unit_of_work(db, env, Actor.channel("email")) as unit:
        _MARK.execute_many(
            unit.conn,
            [
                {
                    "b_id": outcome.mail_id,
                    "b_state": outcome.state,
                    "b_touch_id": outcome.touch_id,
                    "b_reason": outcome.reason,
                    "b_now": unit.now,
                }
                for outcome in outcomes
            ],
        )
        for outcome in outcomes:
            unit.audit(
                "mail." + outcome.state.value,
                "inbound_mail",
                outcome.mail_id,
                reason=outcome.reason,
            )
    for outcome in outcomes:
        if outcome.state is MailState.IGNORED:
            log.info("inbound mail %s ignored: %s", outcome.mail_id, outcome.reason)


def _mark(
    unit: Unit, mail_id: int, state: MailState, touch_id: int | None, reason: str | None
) -> str | None:
    """Record on the stored message how it ended; answers the reason as stored."""
    mail = unit.db.get(InboundMail, mail_id, with_for_update=True, populate_existing=True)
    if mail is None:
        raise NotFound(f"inbound mail {mail_id} does not exist")
    mail.state = state
    mail.touch_id = touch_id
    mail.reason = clean(reason)[:MAX_REASON] if reason else None
    mail.processed_at = unit.now
    return mail.reason
