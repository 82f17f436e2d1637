"""Support addresses and the mail that reaches them: adding a mailbox, storing a message
as it arrived (before anything else is done with it), recording where an IMAP poll
stopped, and recording why a stored message could not be processed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, action, unit_of_work, with_retry
from threadline.actions.text import clean
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import InboundMail, Mailbox, Team
from threadline.prepared import Prepared, returned_id
from threadline.vocabulary import MailState

SOURCES = frozenset({"smtp", "imap"})
MAX_REASON = 2000
_IMAP_PORTS = {"imap": 143, "imaps": 993}


@dataclass(frozen=True)
class ImapUrl:
    """Where a mailbox is polled: `imaps://user:pass@host:993/INBOX`."""

    tls: bool
    host: str
    port: int
    user: str
    password: str
    folder: str

    @property
    def safe(self) -> str:
        """The URL without its password, for logs and audit rows."""
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"


def parse_imap_url(url: str) -> ImapUrl:
    """The parts of an IMAP URL, or InvalidInput saying what is wrong with it. User and
    password may be percent-encoded (`%40` for an `@` in a user name); the folder is
    INBOX when the URL names none."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _IMAP_PORTS:
        raise InvalidInput("an IMAP URL looks like imaps://user:pass@host:993/INBOX")
    try:
        port = parts.port or _IMAP_PORTS[parts.scheme]
    except ValueError:
        raise InvalidInput("the IMAP URL's port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise InvalidInput("the IMAP URL names no host")
    if not parts.username or parts.password is None:
        raise InvalidInput("the IMAP URL needs user:password@ before the host")
    if parts.query or parts.fragment:
        raise InvalidInput("the IMAP URL takes no ?query or #fragment")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if any(c in folder for c in "\r\n\x00"):
        raise InvalidInput("the IMAP folder name has control characters")
    return ImapUrl(
        tls=parts.scheme == "imaps",
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
    )


def mailbox_address(address: str) -> str:
    """A support address, checked and lower-cased as identities are. Unlike a
    customer's, it may be on a private domain (`support@threadline.localhost` in the
    demo, `help@shop.lan`): the desk receives that mail itself."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    special = at and any(
        domain.lower() == name or domain.lower().endswith("." + name)
        for name in SPECIAL_USE_DOMAIN_NAMES
    )
    # email-validator refuses special-use domains outright, so such an address is checked
    # with a stand-in domain, and its own domain as plain DNS labels.
    checked = f"{local}@example.com" if special else text
    try:
        valid = validate_email(
            checked, check_deliverability=False, allow_smtputf8=True, globally_deliverable=False
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"{address!r} is not an email address: {exc}") from None
    if not special:
        return valid.normalized.lower()
    labels = domain.lower().split(".")
    if not all(
        label
        and len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isascii() and (c.isalnum() or c == "-") for c in label)
        for label in labels
    ):
        raise InvalidInput(f"{address!r} is not an email address: bad domain {domain!r}")
    return f"{valid.local_part.lower()}@{domain.lower()}"


@action
def add_mailbox(
    db: Session,
    env: Env,
    actor: Actor,
    address: str,
    *,
    team: str | None,
    imap_url: str | None,
) -> Mailbox:
    """A support address: mail to it over SMTP is accepted; with an IMAP URL the mailbox
    is polled too."""
    normalised = mailbox_address(address)
    if "+" in normalised.partition("@")[0]:
        # Plus-addressing maps support+anything@ to support@; a mailbox with a plus in
        # its own name would shadow part of another's addresses.
        raise InvalidInput(f"{address!r}: a support address cannot contain '+'")
    url = parse_imap_url(imap_url) if imap_url is not None else None
    team_name = " ".join(team.split()) if team is not None else None
    if team_name == "":
        raise InvalidInput("the team name is empty")

    def work() -> Mailbox:
        with unit_of_work(db, env, actor) as unit:
            if db.scalar(select(Mailbox.id).where(Mailbox.address == normalised)) is not None:
                raise Conflict(f"a mailbox for {normalised} exists")
            team_id = None
            if team_name is not None:
                team_id = db.scalar(select(Team.id).where(Team.name == team_name))
                if team_id is None:
                    raise NotFound(f"no team named {team_name!r}")
            mailbox = Mailbox(
                address=normalised,
                team_id=team_id,
                imap_url=imap_url.strip() if imap_url is not None else None,
                imap_last_uid=0,
                active=True,
                created_at=unit.now,
            )
            db.add(mailbox)
            db.flush()
            unit.audit(
                "mailbox.added",
                "mailbox",
                mailbox.id,
                address=normalised,
                team_id=team_id,
                imap=url.safe if url else None,
            )
            return mailbox

    # A concurrent twin loses on the unique address; the retry answers it with a conflict.
    return with_retry(work)


@dataclass(frozen=True)
class KeptMail:
    """A message whose bytes are on disk (fsynced, under `sha256`), with its envelope
    checked and cleaned as the row will hold it: what store_mails() writes a row for.
    Made by keep_mail(), outside any transaction, so that the slow part of keeping a
    message (writing and syncing its file) needs no lock and can run for several
    messages at once."""

    sha256: str
    size: int
    source: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    mailbox_id: int | None
    message_id: str | None


def keep_mail(
    env: Env,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    rcpt_to: Sequence[str],
    mailbox_id: int | None,
    message_id: str | None,
) -> KeptMail:
    """The bytes first, fsynced: a file whose row then failed to commit is harmless (the
    store is content-addressed), a row without its file would not be."""
    if source not in SOURCES:
        raise InvalidInput(f"unknown mail source {source!r}")
    return KeptMail(
        sha256=env.files.put(raw),
        size=len(raw),
        source=source,
        mail_from=_envelope_text(mail_from)[:320],
        rcpt_to=tuple(_envelope_text(address)[:320] for address in rcpt_to),
        mailbox_id=mailbox_id,
        message_id=_header_value(message_id, 998),
    )


@action
def store_mail(
    db: Session,
    env: Env,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    rcpt_to: list[str],
    mailbox_id: int | None,
    message_id: str | None,
) -> int:
    """Keep a message exactly as it arrived and answer its id; nothing else. The SMTP
    listener says 250, and an IMAP poll moves on, only once this has committed."""
    kept = keep_mail(
        env,
        raw,
        source=source,
        mail_from=mail_from,
        rcpt_to=rcpt_to,
        mailbox_id=mailbox_id,
        message_id=message_id,
    )
    [mail_id] = store_mails(db, env, [kept])
    return mail_id


_INSERT_MAIL = Prepared(
    insert(InboundMail).returning(InboundMail.id),
    (
        "mailbox_id",
        "source",
        "mail_from",
        "rcpt_to",
        "sha256",
        "size",
        "message_id",
        "state",
        "reason",
        "attempts",
        "touch_id",
        "received_at",
        "processed_at",
    ),
)


@action
def store_mails(db: Session, env: Env, mails: Sequence[KeptMail]) -> list[int]:
    """A row for each kept message, all in one transaction; answers their ids in order.
    The SMTP listener commits the messages whose DATA ended together this way (a group
    commit): one transaction, and on PostgreSQL one WAL flush, instead of one each."""
    for kept in mails:
        # A row must never point at a file that is not there (see keep_mail).
        if not env.files.path_for(kept.sha256).is_file():
            raise InvalidInput(f"mail {kept.sha256} was not kept before it was stored")
    with unit_of_work(db, env, Actor.channel("email")) as unit:
        wanted = {kept.mailbox_id for kept in mails if kept.mailbox_id is not None}
        if wanted:
            found = set(db.scalars(select(Mailbox.id).where(Mailbox.id.in_(wanted))))
            if wanted - found:
                raise NotFound(f"mailbox {min(wanted - found)} does not exist")
        ids: list[int] = []
        for kept in mails:
            mail_id = returned_id(
                _INSERT_MAIL.first(
                    unit.conn,
                    {
                        "mailbox_id": kept.mailbox_id,
                        "source": kept.source,
                        "mail_from": kept.mail_from,
                        "rcpt_to": list(kept.rcpt_to),
                        "sha256": kept.sha256,
                        "size": kept.size,
                        "message_id": kept.message_id,
                        "state": MailState.STORED,
                        "reason": None,
                        "attempts": 0,
                        "touch_id": None,
                        "received_at": unit.now,
                        "processed_at": None,
                    },
                )
            )
            unit.audit(
                "mail.stored",
                "inbound_mail",
                mail_id,
                source=kept.source,
                size=kept.size,
                sha256=kept.sha256,
            )
            ids.append(mail_id)
        return ids


def _envelope_text(value: str) -> str:
    """Envelope and header text as the databases store it: SMTP hands over bytes that
    are not UTF-8 as lone surrogates, and PostgreSQL refuses those and NULs alike."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "replace")
    return clean(raw.decode("utf-8", "replace"))


def _header_value(value: str | None, limit: int) -> str | None:
    text = _envelope_text(value).strip()[:limit] if value else ""
    return text or None


@action
def record_mail_failure(db: Session, env: Env, mail_id: int, *, reason: str) -> None:
    """Processing a stored message broke: keep it, failed, with the reason, and count
    the attempt (retries stop at a cap). A message that meanwhile was processed
    elsewhere is left alone."""
    with unit_of_work(db, env, Actor.system()) as unit:
        mail = db.get(InboundMail, mail_id, with_for_update=True, populate_existing=True)
        if mail is None:
            raise NotFound(f"inbound mail {mail_id} does not exist")
        if mail.state not in {MailState.STORED, MailState.FAILED}:
            return
        mail.state = MailState.FAILED
        mail.reason = clean(reason)[:MAX_REASON]
        mail.attempts += 1
        unit.audit(
            "mail.failed", "inbound_mail", mail.id, attempts=mail.attempts, reason=mail.reason
        )


@action
def record_imap_position(
    db: Session,
    env: Env,
    mailbox_id: int,
    *,
    uidvalidity: int | None,
    last_uid: int,
    error: str | None = None,
) -> None:
    """Where the poll of a mailbox stopped: the folder's UIDVALIDITY and the last UID
    stored, and the error of the last poll (None once one succeeds). A poll that failed
    before it could select the folder passes `uidvalidity=None` and keeps the position.
    Within one UIDVALIDITY the position only moves forward, so a late writer cannot make
    the next poll read messages again."""
    with unit_of_work(db, env, Actor.channel("email")) as unit:
        mailbox = db.get(Mailbox, mailbox_id, with_for_update=True, populate_existing=True)
        if mailbox is None:
            raise NotFound(f"mailbox {mailbox_id} does not exist")
        if uidvalidity is None:
            uidvalidity, last_uid = mailbox.imap_uidvalidity, mailbox.imap_last_uid
        elif uidvalidity == mailbox.imap_uidvalidity:
            last_uid = max(last_uid, mailbox.imap_last_uid)
        error = clean(error)[:MAX_REASON] if error else None
        # Only what an operator would look for is audited: a rebuilt folder, a poll that
        # started or stopped failing. Each message's step forward is not.
        if uidvalidity != mailbox.imap_uidvalidity and mailbox.imap_uidvalidity is not None:
            unit.audit(
                "mailbox.uidvalidity",
                "mailbox",
                mailbox.id,
                old=mailbox.imap_uidvalidity,
                new=uidvalidity,
            )
        if error != mailbox.imap_error:
            unit.audit("mailbox.poll_error", "mailbox", mailbox.id, error=error)
        mailbox.imap_uidvalidity = uidvalidity
        mailbox.imap_last_uid = last_uid
        mailbox.imap_error = error
        mailbox.imap_polled_at = unit.now
