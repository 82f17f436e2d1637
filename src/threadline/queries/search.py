"""Search behind `GET /api/v1/search`: customers, cases and touches matching the words of a
query, through the databases' full-text indexes (migration 0004), never a scan.

On SQLite the index holds the rows threadline.search_index has reached (migration 0006
took indexing off the write path): call `search_index.refresh()` before opening the
session to search with, as the route does, and a row written a moment ago is found.
PostgreSQL's indexes are always up to date.

How a query matches:
- its words are ANDed, case-insensitively, each matching a whole word: a customer by
  name, a case by subject, a touch by its text. Not the start of a word (`lamp` does
  not find "lamps"): a query is read from the index entries of its words, and one or
  two letters typed as a prefix would read the entries of most words there are;
- a query that is as a whole one of a customer's identities (an email, a phone number in
  any format, an X handle ...), once normalised, finds that customer; one that is a case
  ref (`TL-1042`) finds that case. These exact hits come first;
- after them, the newest records first (highest id). SQLite's FTS5 hands rows back in
  that order, so a search costs the same however many rows match (2-3 ms on 100,000
  cases); PostgreSQL's GIN index finds every match and the ids are then sorted, so
  there the cost follows the number of matches (3 ms for a rare word, about 50 ms for
  a word in a third of 100,000 touches and a sixth of the cases' subjects).

Words are cut into tokens by each database's own rules: SQLite's `unicode61` tokenizer
splits `ann@example.com` into three words and folds accents, PostgreSQL's `simple`
parser keeps an email address whole. A whole address or phrase finds the same rows on
both; a fragment of one may not.

`cases` and `private` are what the caller may read (Permission.READ_CASES and
READ_PRIVATE): without `cases` no case or touch is searched; without `private` only
customer-facing touches are, so the words of an internal note are never found."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from threadline.errors import InvalidInput
from threadline.identities import normalise
from threadline.models import Case, Customer, Identity, Touch, format_ref, parse_ref
from threadline.queries.cases import customer_facing, preview
from threadline.vocabulary import CaseStatus, Channel, Direction, IdentityKind, TouchKind

MAX_WORDS = 10
MAX_LIMIT = 50
SNIPPET_CHARS = 160
# How much of a touch's text the snippet is looked for in: a pasted email can be a
# megabyte, and a snippet is one line.
SNIPPET_SCAN = 20_000
# PostgreSQL indexes the first 100,000 characters of a touch (migration 0004); the
# expression here must be the index's, character for character, or it goes unused.
TOUCH_TEXT_INDEXED = 100_000

_TOKEN = re.compile(r"[^\W_]+")  # letters and digits: what SQLite's unicode61 keeps


@dataclass(frozen=True)
class Terms:
    """A query taken apart: its words, and what it names exactly as a whole."""

    words: tuple[str, ...]
    identities: tuple[tuple[IdentityKind, str], ...]  # (kind, normalised value)
    case_id: int | None

    @property
    def empty(self) -> bool:
        return not self.words and not self.identities and self.case_id is None


@dataclass(frozen=True)
class CustomerHit:
    id: int
    name: str
    segment: str
    exact: bool  # found by an identity the query named


@dataclass(frozen=True)
class CaseHit:
    id: int
    ref: str
    subject: str
    status: CaseStatus
    customer_id: int
    customer_name: str
    updated_at: datetime
    exact: bool  # found by its ref


@dataclass(frozen=True)
class TouchHit:
    id: int
    case_id: int
    case_ref: str
    customer_id: int
    channel: Channel
    direction: Direction
    kind: TouchKind
    occurred_at: datetime
    snippet: str


@dataclass(frozen=True)
class Found:
    customers: tuple[CustomerHit, ...] = ()
    cases: tuple[CaseHit, ...] = ()
    touches: tuple[TouchHit, ...] = ()


def parse(text: str, *, region: str) -> Terms:
    """The words of a query (those with a letter or digit in them, each once), and the
    identities and case the whole query names. InvalidInput past MAX_WORDS words."""
    words: list[str] = []
    seen: set[str] = set()
    for word in text.split():
        if any(ch.isalnum() for ch in word) and word.lower() not in seen:
            seen.add(word.lower())
            words.append(word)
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"search for at most {MAX_WORDS} words at a time")
    whole = " ".join(text.split())
    return Terms(
        words=tuple(words),
        identities=_identities(whole, region) if whole else (),
        case_id=parse_ref(whole) if whole else None,
    )


def _identities(whole: str, region: str) -> tuple[tuple[IdentityKind, str], ...]:
    """Every kind of identity the query is a valid value of, normalised: `07700 900123`
    is a phone number (and a WhatsApp id), `@ann_b` an X handle, `lamp` could be an X
    handle or a chat id. Only values someone actually has will match, by the unique
    (kind, value) index."""
    found: list[tuple[IdentityKind, str]] = []
    for kind in IdentityKind:
        try:
            found.append((kind, normalise(kind, whole, region=region)))
        except InvalidInput:
            continue
    return tuple(found)


def search(db: Session, text: str, *, region: str, cases: bool, private: bool, limit: int) -> Found:
    """At most `limit` customers, cases and touches matching `text` (see the module's
    docstring): about six indexed queries, whatever the size of the database. Reads
    the index as it is: on SQLite, refresh it first (search_index.refresh)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_LIMIT}")
    terms = parse(text, region=region)
    if terms.empty:
        return Found()
    match = _Matcher.for_session(db, terms.words)
    return Found(
        customers=_customers(db, terms, match, limit),
        cases=_cases(db, terms, match, limit) if cases else (),
        touches=_touches(db, terms, match, private=private, limit=limit) if cases else (),
    )


# --- matching words ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Matcher:
    """The words as each database's full-text query."""

    dialect: str
    words: tuple[str, ...]

    @classmethod
    def for_session(cls, db: Session, words: tuple[str, ...]) -> _Matcher:
        return cls(db.get_bind().dialect.name, words)

    def fts5(self) -> str:
        """FTS5 syntax: each word a quoted phrase of its tokens; the phrases ANDed.
        Only letters, digits and spaces go inside the quotes, so no input can be read
        as FTS5 syntax."""
        phrases = [
            '"' + " ".join(tokens) + '"' for w in self.words if (tokens := _TOKEN.findall(w))
        ]
        return " ".join(phrases) or '""'

    def tsquery(self) -> str:
        """to_tsquery syntax: each word quoted (quotes and backslashes escaped), so that
        PostgreSQL's parser cuts it up as it cut the indexed text (an email address
        stays whole); the words ANDed."""
        quoted = ("'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in self.words)
        return " & ".join(quoted)


def _simple(document: SQLColumnExpression[str]) -> ColumnElement[Any]:
    """The indexed expression of migration 0004, spelled with literals (not bound
    parameters) so that PostgreSQL's planner recognises it."""
    return func.to_tsvector(literal_column("'simple'"), document)


def _by_words(
    match: _Matcher,
    query: Select[*tuple[Any, ...]],
    *,
    id_: InstrumentedAttribute[int],
    fts: str,
    document: SQLColumnExpression[str],
    where: Sequence[ColumnElement[bool]] = (),
    limit: int,
) -> Select[*tuple[Any, ...]]:
    """`query` narrowed to the newest `limit` rows (by `id_`) whose `document` matches
    the words and that meet `where`.

    SQLite: the FTS5 table `fts` (rowid = `id_`) drives, in its own rowid order, so
    nothing is sorted and no more is read than the matching index entries up to the
    limit. PostgreSQL: the GIN index finds every match, and the ids are sorted. Left to
    itself the planner would rather walk the primary key newest first and parse each
    row's text until enough match: fast for a common word, but it guesses how many rows
    an unknown word matches, and for a word nobody wrote it parses the whole table
    (seconds on 100,000 touches). Ordering by `id + 0`, which no index provides, keeps
    it on the GIN index: the cost follows the number of matches instead."""
    if match.dialect == "sqlite":
        index = table(fts, column("rowid"), column(fts))
        return (
            query.join(index, index.c.rowid == id_)
            .where(index.c[fts].op("MATCH")(match.fts5()), *where)
            .order_by(index.c.rowid.desc())
            .limit(limit)
        )
    tsquery = func.to_tsquery(literal_column("'simple'"), match.tsquery())
    newest = (
        select(id_)
        .where(_simple(document).op("@@")(tsquery), *where)
        .order_by((id_ + literal_column("0")).desc())
        .limit(limit)
    )
    return query.where(id_.in_(newest.scalar_subquery())).order_by(id_.desc())


# --- customers, cases, touches ------------------------------------------------------------


def _customers(db: Session, terms: Terms, match: _Matcher, limit: int) -> tuple[CustomerHit, ...]:
    base = select(Customer.id, Customer.name, Customer.segment_key)
    standing = Customer.merged_into_id.is_(None)  # the survivor stands for a merged one
    hits: dict[int, CustomerHit] = {}
    if terms.identities:
        exact = (
            base.join(Identity, Identity.customer_id == Customer.id)
            .where(
                standing,
                or_(
                    *(
                        and_(Identity.kind == kind, Identity.value == value)
                        for kind, value in terms.identities
                    )
                ),
            )
            .order_by(Customer.id.desc())
            .limit(limit)
        )
        for row in db.execute(exact):
            hits.setdefault(row.id, CustomerHit(row.id, row.name, row.segment_key, exact=True))
    if terms.words and len(hits) < limit:
        # `limit` more rather than the gap: an exact hit may be among them again.
        named = _by_words(
            match,
            base,
            id_=Customer.id,
            fts="customers_fts",
            document=Customer.name,
            where=(standing,),
            limit=limit,
        )
        for row in db.execute(named):
            hits.setdefault(row.id, CustomerHit(row.id, row.name, row.segment_key, exact=False))
    return tuple(hits.values())[:limit]


def _cases(db: Session, terms: Terms, match: _Matcher, limit: int) -> tuple[CaseHit, ...]:
    base = select(
        Case.id,
        Case.subject,
        Case.status,
        Case.customer_id,
        Case.updated_at,
        Customer.name.label("customer_name"),
    ).join(Customer, Customer.id == Case.customer_id)
    hits: dict[int, CaseHit] = {}
    if terms.case_id is not None:
        for row in db.execute(base.where(Case.id == terms.case_id)):
            hits[row.id] = _case_hit(row, exact=True)
    if terms.words and len(hits) < limit:
        by_subject = _by_words(
            match, base, id_=Case.id, fts="cases_fts", document=Case.subject, limit=limit
        )
        for row in db.execute(by_subject):
            hits.setdefault(row.id, _case_hit(row, exact=False))
    return tuple(hits.values())[:limit]


def _case_hit(row: Any, *, exact: bool) -> CaseHit:
    return CaseHit(
        id=row.id,
        ref=format_ref(row.id),
        subject=row.subject,
        status=row.status,
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        updated_at=row.updated_at,
        exact=exact,
    )


def _touches(
    db: Session, terms: Terms, match: _Matcher, *, private: bool, limit: int
) -> tuple[TouchHit, ...]:
    if not terms.words:
        return ()
    query = select(
        Touch.id,
        Touch.case_id,
        Case.customer_id,
        Touch.channel,
        Touch.direction,
        Touch.kind,
        Touch.occurred_at,
        Touch.outcome,
        func.substr(Touch.text, 1, SNIPPET_SCAN).label("head"),
    ).join(Case, Case.id == Touch.case_id)
    indexed = func.left(Touch.text, literal_column(str(TOUCH_TEXT_INDEXED)))
    found = _by_words(
        match,
        query,
        id_=Touch.id,
        fts="touches_fts",
        document=indexed,
        where=() if private else customer_facing(),
        limit=limit,
    )
    rows = db.execute(found).all()
    return tuple(
        TouchHit(
            id=row.id,
            case_id=row.case_id,
            case_ref=format_ref(row.case_id),
            customer_id=row.customer_id,
            channel=row.channel,
            direction=row.direction,
            kind=row.kind,
            occurred_at=row.occurred_at,
            snippet=snippet(row.head or row.outcome or "", terms.words),
        )
        for row in rows
    )


def snippet(text: str, words: tuple[str, ...], width: int = SNIPPET_CHARS) -> str:
    """One line of at most `width` characters around the first place a word occurs,
    whitespace collapsed; the start of the text when no word occurs as typed (a token
    matched inside an address, or an accent folded away)."""
    line = " ".join(text.split())
    lower = line.lower()
    found = [at for word in words if (at := lower.find(word.lower())) >= 0]
    if not found or len(line) <= width:
        return preview(line, width)
    # A little of what comes before the word, for context.
    start = max(0, min(found) - width // 4)
    if start > 0:
        space = line.rfind(" ", 0, start + 1)
        start = space + 1 if space > start - 20 else start
    piece = line[start:]
    head = "…" if start > 0 else ""
    budget = width - len(head)
    if len(piece) > budget:
        piece = piece[: budget - 1].rstrip() + "…"
    return head + piece
