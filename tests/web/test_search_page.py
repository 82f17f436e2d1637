"""The search page: customers with their ways to reach them, cases and messages, ranked,
linked, and only what the signed-in role may read."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.conftest import SCRIPT, Story, visible_text
from threadline.actions import Actor, Env, NewAgent, create_agent
from threadline.api.app import create_app
from threadline.models import format_ref
from threadline.runtime import Runtime
from threadline.vocabulary import Role

PASSWORD = "a long enough clerk password"


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_a_name_finds_the_customer_with_identities_and_segment(
    client: TestClient, story: Story
) -> None:
    html = client.get("/search", params={"q": "ann"}).text
    customers = section(html, "found-customers")
    assert (
        f'<a href="/customers/{story.customer_id}" class="hit-title"><mark>Ann</mark> Baker</a>'
        in (customers)
    )
    text = visible_text(customers)
    assert "Standard" in text
    assert "X @ann_b" in text and "Email ann@example.com" in text and "Phone" in text
    # The header's box keeps the query too.
    assert 'id="global-search" name="q"' in html and 'value="ann"' in html


def test_a_case_ref_finds_its_case_first(client: TestClient, story: Story) -> None:
    ref = format_ref(story.case_id)
    html = client.get("/search", params={"q": ref}).text
    cases = section(html, "found-cases")
    assert (
        f'<a href="/cases/{story.case_id}" class="hit-title"><span class="ref">{ref}</span>'
        in cases
    )
    assert "Exact match" in visible_text(cases)


def test_words_find_messages_with_a_link_to_the_touch(client: TestClient, story: Story) -> None:
    html = client.get("/search", params={"q": "refund"}).text
    touches = section(html, "found-touches")
    assert f'href="/cases/{story.case_id}#touch-{story.call_id}"' in touches
    assert "<mark>refund</mark> agreed" in touches
    charged = client.get("/search", params={"q": "charged"}).text
    assert "<script>alert" not in charged
    assert SCRIPT in visible_text(section(charged, "found-touches"))


def test_a_clerk_never_finds_an_internal_note(
    client: TestClient, story: Story, runtime: Runtime, db: Session, env: Env
) -> None:
    supervisor = section(client.get("/search", params={"q": "calling"}).text, "found-touches")
    assert f"#touch-{story.note_id}" in supervisor
    assert "Internal note" in visible_text(supervisor)

    create_agent(
        db,
        env,
        Actor.system(),
        NewAgent(email="cal@shop.example", name="Cal Clerk", role=Role.CLERK, password=PASSWORD),
    )
    with TestClient(create_app(runtime)) as clerk:
        signed = clerk.post(
            "/api/v1/session", json={"email": "cal@shop.example", "password": PASSWORD}
        )
        assert signed.status_code == 200
        html = clerk.get("/search", params={"q": "calling"}).text
        assert "Card details needed" not in html
        assert f"touch-{story.note_id}" not in html
        assert "Nothing matches “calling”" in visible_text(html)
        # The clerk still finds the customer and the customer-facing messages.
        found = clerk.get("/search", params={"q": "refund"}).text
        assert f"#touch-{story.call_id}" in found


def test_an_empty_or_overlong_query_gets_a_clear_message(client: TestClient) -> None:
    empty = visible_text(client.get("/search").text)
    assert "Type a name, an email address, a phone number, a case ref or a few words." in empty
    blank = client.get("/search", params={"q": "   "})
    assert blank.status_code == 200
    assert "Type a name" in visible_text(blank.text)
    long = visible_text(client.get("/search", params={"q": "x" * 201}).text)
    assert "too long to search for: use at most 200 characters" in long
    many = visible_text(client.get("/search", params={"q": " ".join("abcdefghijk")}).text)
    assert "Search for at most 10 words at a time." in many


def test_nothing_found_says_so(client: TestClient, story: Story) -> None:
    text = visible_text(client.get("/search", params={"q": "zeppelin"}).text)
    assert "Nothing matches “zeppelin”." in text
