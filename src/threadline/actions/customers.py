"""Customers and their identities: creating them, linking another way to reach them,
and merging two records of one person (reversibly)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.actions.text import clean
from threadline.channels.base import IdentityRef
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.identities import normalise
from threadline.models import Case, Customer, Identity, Merge, Segment
from threadline.prepared import Prepared, returned_id
from threadline.vocabulary import IdentityKind, JourneyStage

MAX_NAME = 200


@dataclass(frozen=True)
class IdentityInput:
    kind: IdentityKind
    value: str


def get_customer(db: Session, customer_id: int, *, lock: bool = False) -> Customer:
    customer = db.get(Customer, customer_id, with_for_update=lock, populate_existing=lock)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def _clean_name(name: str) -> str:
    name = " ".join(clean(name).split())
    if not name:
        raise InvalidInput("a customer needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a name is at most {MAX_NAME} characters")
    return name


def _check_segment(db: Session, key: str) -> str:
    if db.get(Segment, key) is None:
        known = ", ".join(db.scalars(select(Segment.key).order_by(Segment.key)))
        raise InvalidInput(f"unknown segment {key!r}; known: {known or 'none'}")
    return key


@dataclass(frozen=True)
class Sender:
    """The customer behind an inbound identity, as the hot path needs it."""

    customer_id: int
    identity_id: int | None
    journey_stage: JourneyStage
    created: bool
    segment: str = "standard"


# Built once: SQLAlchemy compiles each statement once and reuses it for every message.
_FIND_SENDER = Prepared(
    select(Identity.id, Identity.customer_id, Customer.journey_stage, Customer.segment_key)
    .join(Customer, Customer.id == Identity.customer_id)
    .where(Identity.kind == bindparam("kind"), Identity.value == bindparam("value"))
    # Concurrent contacts from one customer queue here, so that two first messages
    # cannot open two cases (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises).
    .with_for_update(of=Customer)
)
_INSERT_CUSTOMER = Prepared(
    insert(Customer).returning(Customer.id),
    (
        "name",
        "segment_key",
        "journey_stage",
        "lifetime_value",
        "merged_into_id",
        "created_at",
        "updated_at",
    ),
)
_INSERT_IDENTITY = Prepared(
    insert(Identity).returning(Identity.id),
    ("customer_id", "kind", "value", "display", "created_at"),
)


def resolve_sender(unit: Unit, sender: IdentityRef, normal: str) -> Sender:
    """The customer behind an identity (`normal` is its normalised value), locked for this
    transaction; a new customer when the identity is unknown."""
    conn = unit.conn
    kind = IdentityKind(sender.kind)
    row = _FIND_SENDER.first(conn, {"kind": kind, "value": normal})
    if row is not None:
        return Sender(
            customer_id=row[1],
            identity_id=row[0],
            journey_stage=row[2],
            created=False,
            segment=row[3],
        )
    name = _clean_name((sender.name or "").strip()[:MAX_NAME] or sender.value[:MAX_NAME])
    customer_id = returned_id(
        _INSERT_CUSTOMER.first(
            conn,
            {
                "name": name,
                "segment_key": "standard",
                "journey_stage": JourneyStage.PROSPECT,
                "lifetime_value": Decimal("0.00"),
                "merged_into_id": None,
                "created_at": unit.now,
                "updated_at": unit.now,
            },
        )
    )
    identity_id = returned_id(
        _INSERT_IDENTITY.first(
            conn,
            {
                "customer_id": customer_id,
                "kind": kind,
                "value": normal,
                "display": sender.value.strip()[:320],
                "created_at": unit.now,
            },
        )
    )
    unit.audit("customer.created", "customer", customer_id, identity=f"{kind.value}:{normal}")
    return Sender(
        customer_id=customer_id,
        identity_id=identity_id,
        journey_stage=JourneyStage.PROSPECT,
        created=True,
    )


@action
def create_customer(
    db: Session,
    env: Env,
    actor: Actor,
    *,
    name: str,
    identities: list[IdentityInput],
    segment: str = "standard",
    journey_stage: JourneyStage = JourneyStage.PROSPECT,
    lifetime_value: Decimal = Decimal("0.00"),
) -> Customer:
    name = _clean_name(name)
    if lifetime_value < 0:
        raise InvalidInput("lifetime value cannot be negative")
    normals = [
        (IdentityKind(i.kind), normalise(i.kind, i.value, region=env.settings.default_region), i)
        for i in identities
    ]
    if len({(k, v) for k, v, _ in normals}) != len(normals):
        raise InvalidInput("the same identity is listed twice")

    def work() -> Customer:
        with unit_of_work(db, env, actor) as unit:
            _check_segment(db, segment)
            for kind, value, _ in normals:
                if _identity_owner(db, kind, value) is not None:
                    raise Conflict(f"{kind.value} {value} already belongs to another customer")
            customer = Customer(
                name=name,
                segment_key=segment,
                journey_stage=journey_stage,
                lifetime_value=lifetime_value,
                created_at=unit.now,
                updated_at=unit.now,
            )
            db.add(customer)
            db.flush()
            for kind, value, given in normals:
                db.add(
                    Identity(
                        customer_id=customer.id,
                        kind=kind,
                        value=value,
                        display=given.value.strip(),
                        created_at=unit.now,
                    )
                )
            db.flush()
            unit.audit(
                "customer.created",
                "customer",
                customer.id,
                identities=[f"{k.value}:{v}" for k, v, _ in normals],
            )
            unit.emit("customer.created", customer_id=customer.id)
            return customer

    return with_retry(work)


def _identity_owner(db: Session, kind: IdentityKind, value: str) -> int | None:
    return db.scalar(
        select(Identity.customer_id).where(Identity.kind == kind, Identity.value == value)
    )


@action
def add_identity(
    db: Session, env: Env, actor: Actor, customer_id: int, kind: IdentityKind | str, value: str
) -> Identity:
    """Link another way to reach a customer. An identity that belongs to someone else is
    a conflict: the two records should be merged instead, which is auditable."""
    normal = normalise(kind, value, region=env.settings.default_region)
    kind = IdentityKind(kind)

    def work() -> Identity:
        with unit_of_work(db, env, actor) as unit:
            customer = get_customer(db, customer_id, lock=True)
            if customer.merged_into_id is not None:
                raise Conflict(f"customer {customer_id} was merged into {customer.merged_into_id}")
            owner = _identity_owner(db, kind, normal)
            if owner == customer.id:
                raise Conflict(f"{kind.value} {normal} is already linked to this customer")
            if owner is not None:
                raise Conflict(
                    f"{kind.value} {normal} belongs to customer {owner}; merge the two instead"
                )
            identity = Identity(
                customer_id=customer.id,
                kind=kind,
                value=normal,
                display=value.strip(),
                created_at=unit.now,
            )
            db.add(identity)
            customer.updated_at = unit.now
            db.flush()
            unit.audit(
                "identity.added",
                "customer",
                customer.id,
                identity_id=identity.id,
                identity=f"{kind.value}:{normal}",
            )
            unit.emit("customer.updated", customer_id=customer.id)
            return identity

    return with_retry(work)


def _snapshot(customer: Customer) -> dict[str, Any]:
    return {
        "name": customer.name,
        "segment_key": customer.segment_key,
        "journey_stage": customer.journey_stage.value,
        "lifetime_value": str(customer.lifetime_value),
        "updated_at": customer.updated_at.isoformat(),
    }


@action
def merge_customers(db: Session, env: Env, actor: Actor, survivor_id: int, other_id: int) -> Merge:
    """Merge `other` into `survivor`: its identities and cases move over, the survivor
    keeps the better-served segment and the summed lifetime value. The merge row keeps
    exactly what moved so that undo_merge() can reverse it."""
    if survivor_id == other_id:
        raise InvalidInput("a customer cannot be merged into itself")
    with unit_of_work(db, env, actor) as unit:
        # Lock in id order so that two opposite merges cannot deadlock.
        first, second = sorted((survivor_id, other_id))
        locked = {cid: get_customer(db, cid, lock=True) for cid in (first, second)}
        survivor, other = locked[survivor_id], locked[other_id]
        for customer in (survivor, other):
            if customer.merged_into_id is not None:
                raise Conflict(
                    f"customer {customer.id} was already merged into {customer.merged_into_id}"
                )
        identity_ids = list(db.scalars(select(Identity.id).where(Identity.customer_id == other.id)))
        case_ids = list(db.scalars(select(Case.id).where(Case.customer_id == other.id)))
        merge = Merge(
            survivor_id=survivor.id,
            merged_id=other.id,
            by_agent_id=actor.agent_id,
            at=unit.now,
            moved={
                "identities": identity_ids,
                "cases": case_ids,
                "survivor_before": _snapshot(survivor),
                "merged_before": _snapshot(other),
            },
        )
        db.add(merge)
        db.execute(
            update(Identity).where(Identity.id.in_(identity_ids)).values(customer_id=survivor.id)
        )
        db.execute(update(Case).where(Case.id.in_(case_ids)).values(customer_id=survivor.id))
        survivor.segment_key = _better_segment(db, survivor.segment_key, other.segment_key)
        survivor.lifetime_value = survivor.lifetime_value + other.lifetime_value
        survivor.updated_at = unit.now
        other.merged_into_id = survivor.id
        other.updated_at = unit.now
        db.flush()
        unit.audit(
            "customer.merged",
            "customer",
            survivor.id,
            merge_id=merge.id,
            merged_id=other.id,
            identities=identity_ids,
            cases=case_ids,
        )
        unit.audit("customer.merged_away", "customer", other.id, merge_id=merge.id)
        unit.emit(
            "customer.merged",
            customer_id=survivor.id,
            merge_id=merge.id,
            merged_id=other.id,
            survivor_id=survivor.id,
        )
    return merge


def _better_segment(db: Session, a: str, b: str) -> str:
    rows = db.execute(select(Segment.key, Segment.rank).where(Segment.key.in_((a, b))))
    ranks: dict[str, int] = dict(rows.all())
    return b if ranks.get(b, 0) > ranks.get(a, 0) else a


@action
def undo_merge(db: Session, env: Env, actor: Actor, merge_id: int) -> Merge:
    """Put back every identity and case the merge moved and both customers' fields as
    they were. Refused while a later change depends on the merge (the survivor merged
    again, or a moved identity since relinked)."""
    with unit_of_work(db, env, actor) as unit:
        merge = db.get(Merge, merge_id, with_for_update=True, populate_existing=True)
        if merge is None:
            raise NotFound(f"merge {merge_id} does not exist")
        if merge.undone_at is not None:
            raise Conflict(f"merge {merge_id} was already undone")
        first, second = sorted((merge.survivor_id, merge.merged_id))
        locked = {cid: get_customer(db, cid, lock=True) for cid in (first, second)}
        survivor, other = locked[merge.survivor_id], locked[merge.merged_id]
        if survivor.merged_into_id is not None:
            raise Conflict(
                f"customer {survivor.id} was merged into {survivor.merged_into_id} since; "
                "undo that merge first"
            )
        if other.merged_into_id != survivor.id:
            raise Conflict(f"customer {other.id} is no longer merged into {survivor.id}")
        identity_ids: list[int] = merge.moved["identities"]
        case_ids: list[int] = merge.moved["cases"]
        strays = db.scalar(
            select(Identity.id)
            .where(Identity.id.in_(identity_ids), Identity.customer_id != survivor.id)
            .limit(1)
        )
        if strays is not None:
            raise Conflict(f"identity {strays} has moved since the merge")
        db.execute(
            update(Identity).where(Identity.id.in_(identity_ids)).values(customer_id=other.id)
        )
        db.execute(
            update(Case)
            .where(Case.id.in_(case_ids), Case.customer_id == survivor.id)
            .values(customer_id=other.id)
        )
        before = merge.moved["survivor_before"]["lifetime_value"]
        merged_value = merge.moved["merged_before"]["lifetime_value"]
        # Whatever the survivor earned since the merge stays with it.
        earned_since = survivor.lifetime_value - Decimal(before) - Decimal(merged_value)
        _restore(survivor, merge.moved["survivor_before"])
        survivor.lifetime_value += earned_since
        _restore(other, merge.moved["merged_before"])
        other.merged_into_id = None
        merge.undone_at = unit.now
        merge.undone_by_agent_id = actor.agent_id
        db.flush()
        unit.audit("customer.merge_undone", "customer", survivor.id, merge_id=merge.id)
        unit.audit("customer.merge_undone", "customer", other.id, merge_id=merge.id)
        unit.emit(
            "customer.unmerged",
            customer_id=survivor.id,
            merge_id=merge.id,
            merged_id=other.id,
            survivor_id=survivor.id,
        )
    return merge


def _restore(customer: Customer, before: dict[str, Any]) -> None:
    customer.name = before["name"]
    customer.segment_key = before["segment_key"]
    customer.journey_stage = JourneyStage(before["journey_stage"])
    customer.lifetime_value = Decimal(before["lifetime_value"])
    customer.updated_at = datetime.fromisoformat(before["updated_at"])
