"""Customers over the API: finding, creating, linking identities, merging and undoing,
with every refusal leaving the database as it was."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from threadline.actions import Actor, Env, IdentityInput, create_customer
from threadline.runtime import Runtime
from threadline.vocabulary import IdentityKind, Role

WATCHED = (
    "customers",
    "identities",
    "merges",
    "cases",
    "touches",
    "audit_log",
    "agents",
    "teams",
    "agent_teams",
)


def stored(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    """What the tables a refused request might touch hold, for comparing before/after."""
    with runtime.db.reading() as read:
        return {
            table: [
                tuple(row) for row in read.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
            ]
            for table in WATCHED
        }


def customer(db: Session, env: Env, name: str, *identities: tuple[IdentityKind, str]) -> int:
    made = create_customer(
        db,
        env,
        Actor.system(),
        name=name,
        identities=[IdentityInput(kind, value) for kind, value in identities],
    )
    return made.id


def is_rfc3339(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() is not None


def test_an_agent_creates_a_customer_and_reads_it_back(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    answer = client.post(
        "/api/v1/customers",
        headers=callers[Role.AGENT].headers,
        json={
            "name": "  Ann   Archer ",
            "segment": "vip",
            "identities": [
                {"kind": "email", "value": "Ann@Example.com"},
                {"kind": "phone", "value": "07700 900123"},
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["name"] == "Ann Archer"
    assert body["segment"] == "vip"
    assert body["journey_stage"] == "prospect"
    assert body["lifetime_value"] == "0.00"
    assert body["merged_into"] is None
    assert is_rfc3339(body["created_at"])
    assert [(i["kind"], i["value"], i["display"]) for i in body["identities"]] == [
        ("email", "ann@example.com", "Ann@Example.com"),
        ("phone", "+447700900123", "07700 900123"),
    ]
    again = client.get(f"/api/v1/customers/{body['id']}", headers=callers[Role.CLERK].headers)
    assert again.status_code == 200
    assert again.json() == body
    with runtime.db.reading() as read:
        audit = read.execute(text("SELECT action, agent_id FROM audit_log")).all()
    assert [tuple(row) for row in audit][-1] == ("customer.created", callers[Role.AGENT].agent_id)


def test_creating_is_refused_without_changing_anything(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env, runtime: Runtime
) -> None:
    customer(db, env, "Ann", (IdentityKind.EMAIL, "ann@example.com"))
    before = stored(runtime)
    agent = callers[Role.AGENT].headers
    refusals = [
        (None, {"name": "Bo"}, 401, "unauthorized"),
        (callers[Role.CLERK].headers, {"name": "Bo"}, 403, "forbidden"),
        (agent, {"name": "Bo", "identities": [{"kind": "email", "value": "nope"}]}, 422, None),
        (agent, {"name": "Bo", "identities": [{"kind": "fax", "value": "1"}]}, 422, None),
        (agent, {"name": "Bo", "segment": "platinum"}, 422, None),
        (agent, {"name": "   "}, 422, None),
        (agent, {"name": "Bo\x00"}, 422, None),  # PostgreSQL text cannot hold NUL
        (agent, {"identities": []}, 422, None),
        (
            agent,
            {"name": "Bo", "identities": [{"kind": "email", "value": "ANN@example.com"}]},
            409,
            "conflict",
        ),
    ]
    for headers, body, status, code in refusals:
        answer = client.post("/api/v1/customers", headers=headers, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["code"] == (code or "invalid_input")
        assert answer.json()["error"]["message"]
    malformed = client.post(
        "/api/v1/customers",
        headers={**agent, "content-type": "application/json"},
        content=b'{"name": "Bo",',
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "invalid_input"
    assert stored(runtime) == before


def test_unknown_and_malformed_customer_ids(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    headers = callers[Role.CLERK].headers
    missing = client.get("/api/v1/customers/999999", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    for bad in ("abc", "0", str(2**63)):
        answer = client.get(f"/api/v1/customers/{bad}", headers=headers)
        assert answer.status_code == 422, bad
    assert client.get("/api/v1/customers/1").status_code == 401


def test_finding_by_identity_words_and_segment(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    ann = customer(db, env, "Ann Archer", (IdentityKind.PHONE, "+44 7700 900123"))
    bob = customer(db, env, "Bob Baker", (IdentityKind.EMAIL, "bob@archer-trading.example"))
    cat = create_customer(db, env, Actor.system(), name="Cat", identities=[], segment="vip").id
    headers = callers[Role.CLERK].headers

    def ids(**params: str) -> list[int]:
        answer = client.get("/api/v1/customers", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert ids(identity="phone:07700 900123") == [ann]  # normalised before matching
    assert ids(identity="email:BOB@archer-trading.example") == [bob]
    assert ids(identity="email:nobody@example.com") == []
    assert ids(q="ARCHER") == [ann, bob]  # a name, and an identity
    assert ids(q="7700900") == [ann]
    assert ids(q="50%") == []  # LIKE's wildcards are plain characters here
    assert ids(segment="vip") == [cat]
    assert ids(q="archer", segment="standard") == [ann, bob]
    assert ids() == [ann, bob, cat]
    assert ids(identity="", q=" ", segment="") == [ann, bob, cat]  # a form left empty
    for params in (
        {"identity": "nocolon"},
        {"identity": "fax:1"},
        {"identity": "email:x"},
        {"q": "a\x00"},
    ):
        answer = client.get("/api/v1/customers", headers=headers, params=params)
        assert answer.status_code == 422, params
        assert answer.json()["error"]["code"] == "invalid_input"
    assert client.get("/api/v1/customers").status_code == 401


def test_pages_walk_every_customer_once(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    made = [customer(db, env, f"Customer {n}") for n in range(7)]
    headers = callers[Role.AGENT].headers
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/customers", headers=headers, params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    for params in ({"limit": 0}, {"limit": 201}, {"cursor": "garbage!"}, {"cursor": "WyJ4Il0"}):
        answer = client.get("/api/v1/customers", headers=headers, params=params)
        assert answer.status_code == 422, params


def test_linking_an_identity(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env, runtime: Runtime
) -> None:
    ann = customer(db, env, "Ann", (IdentityKind.EMAIL, "ann@example.com"))
    bob = customer(db, env, "Bob", (IdentityKind.X, "bob"))
    agent = callers[Role.AGENT].headers
    linked = client.post(
        f"/api/v1/customers/{ann}/identities",
        headers=agent,
        json={"kind": "x", "value": "@Ann_Archer"},
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["kind"] == "x"
    assert linked.json()["value"] == "ann_archer"
    assert linked.json()["display"] == "@Ann_Archer"
    shown = client.get(f"/api/v1/customers/{ann}", headers=agent).json()
    assert [i["id"] for i in shown["identities"]][-1] == linked.json()["id"]

    before = stored(runtime)
    refusals = [
        (ann, callers[Role.CLERK].headers, {"kind": "x", "value": "new1"}, 403),
        (ann, {}, {"kind": "x", "value": "new1"}, 401),
        (ann, agent, {"kind": "x", "value": "@BOB"}, 409),  # Bob's: merge instead
        (ann, agent, {"kind": "email", "value": "ann@example.com"}, 409),  # already hers
        (ann, agent, {"kind": "phone", "value": "123"}, 422),
        (ann, agent, {"kind": "x"}, 422),
        (999999, agent, {"kind": "x", "value": "new1"}, 404),
    ]
    for customer_id, headers, body, status in refusals:
        answer = client.post(
            f"/api/v1/customers/{customer_id}/identities", headers=headers, json=body
        )
        assert answer.status_code == status, (body, answer.text)
    conflict = client.post(
        f"/api/v1/customers/{ann}/identities", headers=agent, json={"kind": "x", "value": "bob"}
    )
    assert f"customer {bob}" in conflict.json()["error"]["message"]
    assert stored(runtime) == before


def test_merging_and_undoing(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env, runtime: Runtime
) -> None:
    ann = customer(db, env, "Ann", (IdentityKind.EMAIL, "ann@example.com"))
    dup = customer(db, env, "Ann A.", (IdentityKind.PHONE, "+447700900123"))
    agent = callers[Role.AGENT].headers
    merged = client.post(f"/api/v1/customers/{ann}/merge", headers=agent, json={"other_id": dup})
    assert merged.status_code == 200, merged.text
    record = merged.json()
    assert (record["survivor_id"], record["merged_id"], record["undone_at"]) == (ann, dup, None)
    assert is_rfc3339(record["at"])
    survivor = client.get(f"/api/v1/customers/{ann}", headers=agent).json()
    assert {i["kind"] for i in survivor["identities"]} == {"email", "phone"}
    away = client.get(f"/api/v1/customers/{dup}", headers=agent).json()
    assert (away["merged_into"], away["identities"]) == (ann, [])
    found = client.get("/api/v1/customers", headers=agent, params={"q": "ann"}).json()
    assert [item["id"] for item in found["items"]] == [ann]

    undone = client.post(f"/api/v1/merges/{record['id']}/undo", headers=agent)
    assert undone.status_code == 200, undone.text
    assert undone.json()["id"] == record["id"]
    assert is_rfc3339(undone.json()["undone_at"])
    back = client.get(f"/api/v1/customers/{dup}", headers=agent).json()
    assert back["merged_into"] is None
    assert [i["value"] for i in back["identities"]] == ["+447700900123"]

    before = stored(runtime)
    again = client.post(f"/api/v1/merges/{record['id']}/undo", headers=agent)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    clerk = callers[Role.CLERK].headers
    refusals = [
        (f"/api/v1/customers/{ann}/merge", clerk, {"other_id": dup}, 403),
        (f"/api/v1/merges/{record['id']}/undo", clerk, None, 403),
        (f"/api/v1/customers/{ann}/merge", {}, {"other_id": dup}, 401),
        (f"/api/v1/customers/{ann}/merge", agent, {"other_id": ann}, 422),
        (f"/api/v1/customers/{ann}/merge", agent, {"other_id": "x"}, 422),
        (f"/api/v1/customers/{ann}/merge", agent, {}, 422),
        (f"/api/v1/customers/{ann}/merge", agent, {"other_id": 999999}, 404),
        ("/api/v1/customers/999999/merge", agent, {"other_id": ann}, 404),
        ("/api/v1/merges/999999/undo", agent, None, 404),
    ]
    for path, headers, body, status in refusals:
        answer = client.post(path, headers=headers, json=body)
        assert answer.status_code == status, (path, body, answer.text)
    assert stored(runtime) == before


def test_a_merged_away_customer_cannot_be_merged_again(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    ann, dup, third = (customer(db, env, name) for name in ("Ann", "Dup", "Third"))
    agent = callers[Role.SUPERVISOR].headers
    assert (
        client.post(
            f"/api/v1/customers/{ann}/merge", headers=agent, json={"other_id": dup}
        ).status_code
        == 200
    )
    answer = client.post(f"/api/v1/customers/{third}/merge", headers=agent, json={"other_id": dup})
    assert answer.status_code == 409
    assert "already merged" in answer.json()["error"]["message"]
