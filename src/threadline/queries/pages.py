"""Everything one screen shows, gathered in one call so that a route stays one line:
the case page (header, timeline, composer, owners, customer panel) and the customer
page. `private` says whether the reader may see internal notes (READ_PRIVATE); without
it they are left out of every timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from threadline.errors import NotFound
from threadline.identities import takes_messages
from threadline.models import Agent, Case, Customer, Merge
from threadline.queries.cases import (
    CaseHeader,
    CaseRow,
    case_header,
    channels_by_case,
    recent_cases,
)
from threadline.queries.customers import (
    CustomerPanel,
    IdentityView,
    customer_panel,
    identities_by_customer,
)
from threadline.queries.replies import default_recipient, default_reply_channel, previous_facing
from threadline.queries.timeline import Timeline, case_timeline, customer_timeline
from threadline.routing.owners import OWNING_ROLES
from threadline.vocabulary import REACHABLE_BY, Channel, IdentityKind

CUSTOMER_PAGE_CASES = 200
PANEL_MERGES = 10


@dataclass(frozen=True)
class ReplyTarget:
    """One way the composer can answer: a channel, public or not, to one identity."""

    channel: Channel
    public: bool
    kind: IdentityKind
    value: str  # normalised, as the reply route takes it
    display: str  # as the customer gave it

    @property
    def key(self) -> str:
        return f"{self.channel.value}|{int(self.public)}|{self.kind.value}|{self.value}"

    @property
    def label(self) -> str:
        if self.channel is Channel.X:
            how = "public reply to" if self.public else "direct message to"
            return f"X — {how} {self.display}"
        return f"{self.channel.label} — {self.display}"


@dataclass(frozen=True)
class Composer:
    targets: tuple[ReplyTarget, ...]  # the default first
    default: ReplyTarget | None  # where a reply goes unless the agent picks another


@dataclass(frozen=True)
class OwnerOption:
    id: int
    name: str


@dataclass(frozen=True)
class MergeView:
    """A merge into this customer that still stands (and so can be undone)."""

    id: int
    merged_id: int
    merged_name: str
    at: datetime
    by: str | None


@dataclass(frozen=True)
class CustomerSide:
    """The customer panel with what its merge controls need."""

    panel: CustomerPanel
    merges: tuple[MergeView, ...]


@dataclass(frozen=True)
class CasePage:
    case: CaseHeader
    channels: tuple[Channel, ...]
    timeline: Timeline
    customer: CustomerPanel
    merges: tuple[MergeView, ...]
    composer: Composer
    owners: tuple[OwnerOption, ...]


@dataclass(frozen=True)
class CustomerPage:
    customer: CustomerPanel
    merges: tuple[MergeView, ...]
    cases: tuple[CaseRow, ...]
    timeline: Timeline


@dataclass(frozen=True)
class MergePreview:
    """What merging `other` into `survivor` would move."""

    survivor: CustomerPanel
    other: CustomerPanel
    identities: tuple[IdentityView, ...]
    case_count: int


def case_page(db: Session, case_id: int, *, private: bool = False) -> CasePage:
    case = case_header(db, case_id)
    side = customer_side(db, case.customer_id, exclude_case_id=case.id)
    return CasePage(
        case=case,
        channels=channels_by_case(db, [case.id]).get(case.id, ()),
        timeline=case_timeline(db, case.id, private=private),
        customer=side.panel,
        merges=side.merges,
        composer=composer(db, case.id, case.customer_id),
        owners=owner_options(db),
    )


def case_timeline_only(db: Session, case_id: int, *, private: bool) -> Timeline:
    """The timeline alone, for the page's live refresh."""
    if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFound(f"case {case_id} does not exist")
    return case_timeline(db, case_id, private=private)


def customer_page(db: Session, customer_id: int, *, private: bool = False) -> CustomerPage:
    side = customer_side(db, customer_id)
    return CustomerPage(
        customer=side.panel,
        merges=side.merges,
        cases=tuple(recent_cases(db, customer_id=customer_id, limit=CUSTOMER_PAGE_CASES)),
        timeline=customer_timeline(db, customer_id, private=private),
    )


def customer_side(
    db: Session, customer_id: int, *, exclude_case_id: int | None = None
) -> CustomerSide:
    return CustomerSide(
        panel=customer_panel(db, customer_id, exclude_case_id=exclude_case_id),
        merges=standing_merges(db, customer_id),
    )


def standing_merges(db: Session, customer_id: int) -> tuple[MergeView, ...]:
    """Merges into this customer not undone yet, newest first."""
    merged = aliased(Customer)
    rows = db.execute(
        select(Merge.id, Merge.merged_id, Merge.at, merged.name, Agent.name.label("by"))
        .join(merged, merged.id == Merge.merged_id)
        .outerjoin(Agent, Agent.id == Merge.by_agent_id)
        .where(Merge.survivor_id == customer_id, Merge.undone_at.is_(None))
        .order_by(Merge.at.desc(), Merge.id.desc())
        .limit(PANEL_MERGES)
    ).all()
    return tuple(
        MergeView(id=r.id, merged_id=r.merged_id, merged_name=r.name, at=r.at, by=r.by)
        for r in rows
    )


def merge_preview(db: Session, survivor_id: int, other_id: int) -> MergePreview:
    survivor = customer_panel(db, survivor_id)
    other = customer_panel(db, other_id)
    return MergePreview(
        survivor=survivor,
        other=other,
        identities=identities_by_customer(db, [other_id]).get(other_id, ()),
        case_count=other.other_case_count,
    )


def owner_options(db: Session) -> tuple[OwnerOption, ...]:
    """Everyone who may own a case, by name."""
    rows = db.execute(
        select(Agent.id, Agent.name)
        .where(Agent.active.is_(True), Agent.role.in_(OWNING_ROLES))
        .order_by(Agent.name, Agent.id)
    ).all()
    return tuple(OwnerOption(id=r.id, name=r.name) for r in rows)


def composer(db: Session, case_id: int, customer_id: int) -> Composer:
    """Every channel and identity a reply can go to, the default first: the channel of
    the customer's last written message, to the identity they wrote from, public only
    when they wrote in public there (the rule the reply action applies)."""
    identities = identities_by_customer(db, [customer_id]).get(customer_id, ())
    targets: list[ReplyTarget] = []
    for channel, kinds in REACHABLE_BY.items():
        if not channel.written:
            continue
        for kind in kinds:
            for identity in identities:
                if identity.kind is not kind:
                    continue
                if kind is IdentityKind.PHONE and not takes_messages(identity.value):
                    continue
                target = ReplyTarget(channel, False, kind, identity.value, identity.display)
                if channel is Channel.X:
                    targets.append(
                        ReplyTarget(channel, True, kind, identity.value, identity.display)
                    )
                targets.append(target)
    default = _default_target(db, case_id, customer_id, targets)
    if default is not None:
        targets.remove(default)
        targets.insert(0, default)
    return Composer(targets=tuple(targets), default=default)


def _default_target(
    db: Session, case_id: int, customer_id: int, targets: list[ReplyTarget]
) -> ReplyTarget | None:
    channel = default_reply_channel(db, case_id)
    if channel is None:
        return None
    facing = previous_facing(db, case_id)
    public = facing is not None and facing.channel is channel and facing.public
    recipient = default_recipient(db, case_id, customer_id, channel)
    if recipient is None:
        return None
    return next(
        (
            t
            for t in targets
            if (t.channel, t.public, t.kind, t.value)
            == (channel, public, recipient.kind, recipient.value)
        ),
        None,
    )
