"""Named leases: one holder at a time, taken over once run out, renewed by their holder,
and decided correctly when many processes ask at the same moment, on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from threadline.actions import Env
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.leases import acquire, holder_of, release
from threadline.runtime import Runtime


def test_one_holder_at_a_time_until_it_runs_out(db: Session, env: Env, clock: FrozenClock) -> None:
    assert acquire(db, env, "sla-sweep", "w1", 60)
    assert holder_of(db, env, "sla-sweep") == "w1"
    assert not acquire(db, env, "sla-sweep", "w2", 60)
    # Its holder renews it.
    clock.advance(timedelta(seconds=50))
    assert acquire(db, env, "sla-sweep", "w1", 60)
    clock.advance(timedelta(seconds=50))
    assert not acquire(db, env, "sla-sweep", "w2", 60)
    # Run out: anyone may take it.
    clock.advance(timedelta(seconds=11))
    assert holder_of(db, env, "sla-sweep") is None
    assert acquire(db, env, "sla-sweep", "w2", 60)
    assert holder_of(db, env, "sla-sweep") == "w2"
    # Other names are other leases.
    assert acquire(db, env, "mailbox:1", "w1", 60)


def test_release_gives_it_back_only_for_its_holder(db: Session, env: Env) -> None:
    assert acquire(db, env, "job", "w1", 600)
    assert not release(db, env, "job", "w2")
    assert holder_of(db, env, "job") == "w1"
    assert release(db, env, "job", "w1")
    assert not release(db, env, "job", "w1")
    assert acquire(db, env, "job", "w2", 600)


def test_bad_leases_are_refused(db: Session, env: Env) -> None:
    with pytest.raises(ValueError, match="characters"):
        acquire(db, env, "", "w1", 60)
    with pytest.raises(ValueError, match="characters"):
        acquire(db, env, "x" * 121, "w1", 60)
    with pytest.raises(ValueError, match="positive"):
        acquire(db, env, "job", "w1", 0)


@pytest.mark.parametrize("expired", [False, True], ids=["free", "run-out"])
def test_of_many_asking_at_once_exactly_one_gets_it(
    db: Session, env: Env, settings: Settings, clock: FrozenClock, expired: bool
) -> None:
    if expired:
        assert acquire(db, env, "sweep", "old-holder", 30)
        clock.advance(timedelta(seconds=31))
    winners: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def contender(name: str) -> None:
        runtime = Runtime.start(settings, clock=clock)  # an engine of its own
        try:
            start.wait()
            with runtime.db.session() as session:
                if acquire(session, runtime.env, "sweep", name, 60):
                    winners.append(name)
        except BaseException as exc:
            errors.append(exc)
        finally:
            runtime.close()

    threads = [threading.Thread(target=contender, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(winners) == 1
    assert holder_of(db, env, "sweep") == winners[0]
