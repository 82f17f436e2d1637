"""Named leases in the `leases` table, so that a periodic job (a service-level sweep, a
mailbox's poll) runs in one process at a time however many workers there are.

Taking a lease is one statement in one transaction: insert it, or take it over when it
has run out (or is already ours, which renews it). On PostgreSQL the upsert's row lock
decides between two processes at once; on SQLite the writing session's BEGIN IMMEDIATE
does. These are coordination records, not the desk's data: no audit row, no event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from threadline.actions.base import Env
from threadline.models import Lease

log = logging.getLogger(__name__)

MAX_NAME = 120
# A kept lease is renewed this many times in each of its spans.
RENEWALS_PER_SPAN = 3


def _check(name: str, holder: str, seconds: float | None = None) -> None:
    if not name or len(name) > MAX_NAME or not holder or len(holder) > MAX_NAME:
        raise ValueError(f"lease names and holders are 1 to {MAX_NAME} characters")
    if seconds is not None and seconds <= 0:
        raise ValueError("a lease lasts a positive number of seconds")


def acquire(db: Session, env: Env, name: str, holder: str, seconds: float) -> bool:
    """Take the lease `name` for `seconds` if it is free, run out, or already
    `holder`'s (then it is renewed). Answers whether `holder` now has it."""
    _check(name, holder, seconds)
    now = env.clock.now()
    values = {"name": name, "holder": holder, "until": now + timedelta(seconds=seconds)}
    dialect = db.get_bind().dialect.name
    insert = pg_insert(Lease) if dialect == "postgresql" else sqlite_insert(Lease)
    statement = (
        insert.values(values)
        .on_conflict_do_update(
            index_elements=[Lease.name],
            set_={"holder": insert.excluded.holder, "until": insert.excluded.until},
            where=(Lease.until <= now) | (Lease.holder == holder),
        )
        .returning(Lease.holder)
    )
    try:
        taken = db.execute(statement).scalar()
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return taken == holder


def release(db: Session, env: Env, name: str, holder: str) -> bool:
    """Give the lease back early, if `holder` still has it. Answers whether it did.
    (`env` is unused; the signature matches acquire()'s.)"""
    _check(name, holder)
    try:
        gone = db.execute(
            delete(Lease).where(Lease.name == name, Lease.holder == holder).returning(Lease.name)
        ).first()
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return gone is not None


def holder_of(db: Session, env: Env, name: str) -> str | None:
    """Who holds the lease now (None when it is free or ran out)."""
    row = db.execute(select(Lease.holder, Lease.until).where(Lease.name == name)).first()
    if row is None or row.until <= env.clock.now():
        return None
    return str(row.holder)


@contextmanager
def kept(
    open_session: Callable[[], AbstractContextManager[Session]],
    env: Env,
    name: str,
    holder: str,
    seconds: float,
) -> Iterator[None]:
    """Keep the lease `name`, which `holder` has just taken for `seconds`, for as long as
    the block runs: a thread renews it every third of that span. A job that outlasts its
    period (a mailbox that answers slowly, a sweep catching up after a stop) is then not
    started a second time beside itself by another worker. Should the renewal fail, or
    find the lease taken over, it is logged and the block runs on."""
    _check(name, holder, seconds)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(seconds / RENEWALS_PER_SPAN):
            try:
                with open_session() as db:
                    if not acquire(db, env, name, holder, seconds):
                        log.warning("lease %s was taken over while %s held it", name, holder)
                        return
            except Exception:
                log.warning("lease %s: renewal failed", name, exc_info=True)

    renewing = threading.Thread(target=renew, name=f"lease {name}", daemon=True)
    renewing.start()
    try:
        yield
    finally:
        done.set()
        renewing.join()
