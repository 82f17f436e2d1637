"""Search over customers, cases and touches through the full-text indexes, on SQLite and
PostgreSQL: what matches, in which order, what a caller without the right to read
private touches never finds, and that the indexes follow every change of the rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import agent, inbound, receive_email
from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    add_note,
    create_customer,
    merge_customers,
    receive,
)
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.errors import InvalidInput
from threadline.migrate import downgrade, upgrade
from threadline.models import format_ref
from threadline.queries.search import MAX_WORDS, Found, parse, search, snippet
from threadline.runtime import Runtime
from threadline.search_index import refresh
from threadline.vocabulary import Channel, Direction, IdentityKind, TouchKind


def find(
    runtime: Runtime, q: str, *, private: bool = True, cases: bool = True, limit: int = 10
) -> Found:
    # On SQLite, what the indexer has not reached yet is indexed first, as the route
    # does. A new read session each time: on SQLite an open one keeps its first snapshot.
    refresh(runtime.db)
    with runtime.db.reading() as read:
        return search(read, q, region="GB", cases=cases, private=private, limit=limit)


def touch_texts(found: Found, runtime: Runtime) -> list[str]:
    with runtime.db.reading() as read:
        return [
            read.execute(text("SELECT text FROM touches WHERE id = :id"), {"id": t.id}).scalar_one()
            for t in found.touches
        ]


def test_words_are_anded_case_insensitive_and_match_whole_words(
    db: Session, env: Env, runtime: Runtime, clock: FrozenClock
) -> None:
    receive_email(db, env, "ann@example.com", "My LAMP arrived broken")
    clock.advance(timedelta(minutes=1))
    receive_email(db, env, "bo@example.com", "The lamp arrived fine, the lamps did not")
    clock.advance(timedelta(minutes=1))
    receive_email(db, env, "cy@example.com", "The kettle broke on day one")

    assert touch_texts(find(runtime, "lamp broken"), runtime) == ["My LAMP arrived broken"]
    assert touch_texts(find(runtime, "Lamp"), runtime) == [
        "The lamp arrived fine, the lamps did not",
        "My LAMP arrived broken",
    ]
    assert touch_texts(find(runtime, "ARRIVED"), runtime) == [
        "The lamp arrived fine, the lamps did not",
        "My LAMP arrived broken",
    ]
    assert find(runtime, "lamp kettle").touches == ()
    # Whole words only: not the start of one.
    assert find(runtime, "brok").touches == ()
    assert find(runtime, "lamps").touches != ()


def test_a_touch_hit_names_its_case_and_customer_with_a_snippet(
    db: Session, env: Env, runtime: Runtime
) -> None:
    received = receive_email(db, env, "ann@example.com", "Where is my parcel?", name="Ann")

    (hit,) = find(runtime, "parcel").touches
    assert hit.id == received.touch_id
    assert (hit.case_id, hit.case_ref) == (received.case_id, format_ref(received.case_id))
    assert hit.customer_id == received.customer_id
    assert (hit.channel, hit.direction, hit.kind) == (
        Channel.EMAIL,
        Direction.IN,
        TouchKind.MESSAGE,
    )
    assert hit.snippet == "Where is my parcel?"


def test_customers_by_name_newest_first_merged_ones_left_out(
    db: Session, env: Env, runtime: Runtime
) -> None:
    older = receive_email(db, env, "ann@example.com", "Hi", name="Ann Archer").customer_id
    newer = receive_email(db, env, "ann@work.example", "Hi", name="Archer, Ann B.").customer_id
    receive_email(db, env, "bo@example.com", "Hi", name="Bo Archer")
    receive_email(db, env, "annie@example.com", "Hi", name="Annie Archer")

    found = find(runtime, "ann archer")
    assert [c.id for c in found.customers] == [newer, older]
    assert [c.name for c in found.customers] == ["Archer, Ann B.", "Ann Archer"]
    assert not any(c.exact for c in found.customers)

    merge_customers(db, env, Actor.system(), older, newer)
    assert [c.id for c in find(runtime, "ann archer").customers] == [older]


@pytest.mark.parametrize(
    "typed",
    ["07700 900123", "+44 7700 900123", "(07700) 900-123", "+447700900123", "0044 7700 900123"],
)
def test_a_phone_number_in_any_format_finds_its_customer_first(
    db: Session, env: Env, runtime: Runtime, typed: str
) -> None:
    caller = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "Hi", name="Cy")
    ).customer_id
    # A newer customer whose name holds the same digits: a word hit, after the exact one.
    create_customer(db, env, Actor.system(), name="07700 900123 Ltd", identities=[])

    customers = find(runtime, typed).customers
    assert customers[0].id == caller
    assert customers[0].exact


def test_an_email_address_finds_its_customer_whatever_its_case(
    db: Session, env: Env, runtime: Runtime
) -> None:
    ann = receive_email(db, env, "Ann.Archer@Example.com", "Hi", name="Ann").customer_id
    receive_email(db, env, "bo@example.com", "Hi", name="Bo")

    (hit,) = find(runtime, "  ANN.ARCHER@example.COM ").customers
    assert (hit.id, hit.name, hit.segment, hit.exact) == (ann, "Ann", "standard", True)


def test_an_exact_identity_comes_before_newer_name_hits(
    db: Session, env: Env, runtime: Runtime
) -> None:
    handle = create_customer(
        db,
        env,
        Actor.system(),
        name="Dee Dawson",
        identities=[IdentityInput(IdentityKind.X, "@lampfan")],
    ).id
    named = create_customer(db, env, Actor.system(), name="Lampfan Shop", identities=[]).id

    customers = find(runtime, "lampfan").customers
    assert [(c.id, c.exact) for c in customers] == [(handle, True), (named, False)]
    assert [c.id for c in find(runtime, "lampfan", limit=1).customers] == [handle]


def test_a_case_ref_finds_its_case_first_then_subjects(
    db: Session, env: Env, runtime: Runtime
) -> None:
    first = receive_email(db, env, "ann@example.com", "Hello", subject="Refund", name="Ann")
    ref = format_ref(first.case_id)
    quoting = receive_email(db, env, "bo@example.com", "Hi", subject=f"About {ref} again")

    cases = find(runtime, ref.lower()).cases
    assert [(c.id, c.exact) for c in cases] == [(first.case_id, True), (quoting.case_id, False)]
    hit = cases[0]
    assert (hit.ref, hit.subject, hit.customer_id, hit.customer_name) == (
        ref,
        "Refund",
        first.customer_id,
        "Ann",
    )
    assert hit.status.value == "new"
    assert [c.id for c in find(runtime, "refund").cases] == [first.case_id]
    assert find(runtime, "TL-99999").cases == ()


def test_internal_notes_are_found_only_by_callers_who_may_read_them(
    db: Session, env: Env, runtime: Runtime
) -> None:
    amy = agent(db, env)
    case_id = receive_email(db, env, "ann@example.com", "Where is my zebra lamp?").case_id
    note_id = add_note(db, env, Actor.agent(amy.id), case_id, "Refund code zebra-42, do not share")

    assert [t.id for t in find(runtime, "refund code").touches] == [note_id]
    assert find(runtime, "refund code", private=False).touches == ()
    # A word of both: the customer's message only.
    public = find(runtime, "zebra", private=False).touches
    assert [t.direction for t in public] == [Direction.IN]
    assert len(find(runtime, "zebra").touches) == 2


def test_without_the_right_to_read_cases_only_customers_are_searched(
    db: Session, env: Env, runtime: Runtime
) -> None:
    receive_email(db, env, "ann@example.com", "Lamp", subject="Lamp", name="Lamp Lady")
    found = find(runtime, "lamp", cases=False)
    assert [c.name for c in found.customers] == ["Lamp Lady"]
    assert (found.cases, found.touches) == ((), ())


def test_each_list_is_cut_at_the_limit_newest_first(
    db: Session, env: Env, runtime: Runtime
) -> None:
    made = [
        receive_email(db, env, f"c{i}@example.com", f"Order {i} late", subject=f"Order {i}")
        for i in range(5)
    ]
    found = find(runtime, "order", limit=3)
    assert [t.id for t in found.touches] == [r.touch_id for r in reversed(made)][:3]
    assert [c.id for c in found.cases] == [r.case_id for r in reversed(made)][:3]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "'",
        "\\",
        "lamp'",
        "'lamp",
        'la"mp',
        "lamp*",
        "lamp:*",
        "NEAR(lamp broken)",
        "lamp AND OR NOT",
        "lamp & | ! <->",
        "(lamp",
        "-lamp",
        "+lamp",
        "^lamp",
        "lamp\\'",
        "½ lamp",
        "ß ǅ İ",
        "🙂 lamp",
        "*",
        "---",
        "a" * 200,
    ],
)
def test_no_input_is_read_as_query_syntax(
    db: Session, env: Env, runtime: Runtime, query: str
) -> None:
    receive_email(db, env, "ann@example.com", "My lamp is broken")
    find(runtime, query)  # answers, whatever it finds


def test_punctuation_around_words_is_ignored(db: Session, env: Env, runtime: Runtime) -> None:
    receive_email(db, env, "ann@example.com", "My lamp is broken")
    for query in ("lamp!", "(lamp)", "'lamp'", '"lamp"', "lamp*", "lamp:*"):
        assert len(find(runtime, query).touches) == 1, query


def test_a_query_of_no_words_finds_nothing(db: Session, env: Env, runtime: Runtime) -> None:
    receive_email(db, env, "ann@example.com", "My lamp is broken")
    assert find(runtime, "  ") == Found()
    assert find(runtime, "- * ?") == Found()


def test_too_many_words_are_refused() -> None:
    parse(" ".join(f"w{i}" for i in range(MAX_WORDS)), region="GB")
    with pytest.raises(InvalidInput):
        parse(" ".join(f"w{i}" for i in range(MAX_WORDS + 1)), region="GB")
    # Repeated words count once.
    assert parse("lamp LAMP lamp", region="GB").words == ("lamp",)


def test_the_snippet_is_cut_around_the_first_word_found() -> None:
    long = "Hello there. " * 30 + "The zebra lamp is broken. " + "Thanks, Ann. " * 30
    cut = snippet(long, ("lamp", "zebra"))
    assert "The zebra lamp is broken." in cut
    assert cut.startswith("…")
    assert cut.endswith("…")
    assert len(cut) <= 160
    assert snippet("Short  text\n here", ("absent",)) == "Short text here"
    assert snippet("x" * 300, ("absent",)).endswith("…")


def test_the_indexes_follow_inserts_updates_and_deletes(
    db: Session, env: Env, runtime: Runtime
) -> None:
    received = receive_email(db, env, "ann@example.com", "Old words", subject="Old subject")
    customer_id, case_id = received.customer_id, received.case_id
    with runtime.db.session() as write, write.begin():
        write.execute(
            text("UPDATE customers SET name = 'Renamed Person' WHERE id = :id"),
            {"id": customer_id},
        )
        write.execute(
            text("UPDATE cases SET subject = 'New subject' WHERE id = :id"), {"id": case_id}
        )
        write.execute(
            text("UPDATE touches SET text = 'New words' WHERE id = :id"),
            {"id": received.touch_id},
        )
        # An update that leaves the text alone must leave the index alone too.
        write.execute(
            text("UPDATE cases SET version = version + 1 WHERE id = :id"), {"id": case_id}
        )

    assert [c.id for c in find(runtime, "renamed").customers] == [customer_id]
    assert [c.id for c in find(runtime, "new subject").cases] == [case_id]
    assert [t.id for t in find(runtime, "new words").touches] == [received.touch_id]
    assert find(runtime, "old") == Found()

    with runtime.db.session() as write, write.begin():
        write.execute(text("DELETE FROM touches WHERE id = :id"), {"id": received.touch_id})
    assert find(runtime, "new words").touches == ()
    if runtime.db.dialect == "sqlite":
        with runtime.db.session() as write, write.begin():
            for fts in ("customers_fts", "cases_fts", "touches_fts"):
                # Raises when an external-content index no longer matches its table.
                write.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')"))


def test_the_migration_indexes_rows_that_were_there_before_it(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(env="test", database_url=database_url, data_dir=tmp_path / "data")
    before = Runtime.start(settings)
    try:
        with before.db.session() as db:
            receive_email(db, before.env, "ann@example.com", "Kept lamp", name="Ann Kept")
    finally:
        before.close()
    # Back to before the indexes, with the rows kept (receive() needs today's schema).
    downgrade(database_url, "0003")
    upgrade(database_url)
    after = Runtime.start(settings)
    try:
        found = find(after, "kept")
        assert (len(found.customers), len(found.cases), len(found.touches)) == (1, 1, 1)
    finally:
        after.close()
