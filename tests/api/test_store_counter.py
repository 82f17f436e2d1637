"""The shop counter: a clerk finds the customer by phone, email or loyalty card, logs the
visit with what they bought, and it lands on the customer's open case as a channel
switch from where they last were."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Caller
from tests.conftest import table_rows
from threadline.runtime import Runtime
from threadline.vocabulary import Role


def stored(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    """Read in a session of its own, ended at once: on SQLite a transaction the test
    left open would hold back the request's writes (an API token's last use)."""
    with runtime.db.session() as session:
        return {t: table_rows(session, t) for t in ("customers", "touches", "cases")}


def test_a_clerk_finds_an_emailing_customer_by_phone_and_logs_a_purchase(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    agent, clerk = callers[Role.AGENT], callers[Role.CLERK]
    emailed = client.post(
        "/api/v1/inbound",
        headers=agent.headers,
        json={
            "channel": "email",
            "external_id": "<m1@example.com>",
            "from": {"kind": "email", "value": "ann@example.com"},
            "text": "Is the blue teapot back in stock?",
        },
    ).json()
    client.post(
        f"/api/v1/customers/{emailed['customer_id']}/identities",
        headers=agent.headers,
        json={"kind": "phone", "value": "07700 900123"},
    )
    found = client.get(
        "/api/v1/customers", params={"identity": "phone:+447700900123"}, headers=clerk.headers
    ).json()["items"]
    assert [c["id"] for c in found] == [emailed["customer_id"]]

    visit = client.post(
        "/api/v1/store-visits",
        headers=clerk.headers,
        json={
            "customer_id": emailed["customer_id"],
            "topic": "Teapot",
            "note": "Came in to see the teapot; bought it",
            "outcome": "sold",
            "purchase": {"amount": "49.90", "description": "Blue teapot"},
        },
    )
    assert visit.status_code == 201, visit.text
    assert visit.json()["case_id"] == emailed["case_id"]
    case = client.get(f"/api/v1/cases/{emailed['case_id']}", headers=agent.headers).json()
    assert [(s["from_channel"], s["to_channel"]) for s in case["switches"]] == [("email", "store")]
    customer = client.get(
        f"/api/v1/customers/{emailed['customer_id']}", headers=agent.headers
    ).json()
    assert customer["lifetime_value"] in ("49.90", 49.9)
    assert customer["journey_stage"] == "first_purchase"


def test_a_bad_purchase_is_refused_and_changes_nothing(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    clerk = callers[Role.CLERK]
    before = stored(runtime)
    for purchase in ({"amount": "0"}, {"amount": "-5"}, {"amount": "1.234"}, {"amount": "NaN"}):
        refused = client.post(
            "/api/v1/store-visits",
            headers=clerk.headers,
            json={
                "identity": {"kind": "phone", "value": "+447700900555"},
                "topic": "Returns",
                "purchase": purchase,
            },
        )
        assert refused.status_code == 422, purchase
    assert stored(runtime) == before


def test_a_clerk_names_the_customer_a_new_number_makes_and_a_known_one_keeps_theirs(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    clerk = callers[Role.CLERK]
    visit = {
        "identity": {"kind": "phone", "value": "07700 900654"},
        "customer_name": "Nadia Clarke",
        "topic": "Returns",
    }
    first = client.post("/api/v1/store-visits", headers=clerk.headers, json=visit)
    assert first.status_code == 201, first.text
    customer_id = first.json()["customer_id"]
    again = client.post(
        "/api/v1/store-visits",
        headers=clerk.headers,
        json={**visit, "customer_name": "Somebody Else"},
    )
    assert again.json()["customer_id"] == customer_id
    found = client.get(f"/api/v1/customers/{customer_id}", headers=clerk.headers).json()
    assert found["name"] == "Nadia Clarke"
    assert [i["value"] for i in found["identities"]] == ["+447700900654"]
