"""Search from anywhere: `/` focuses the header's box, Enter shows the ranked results,
and each links to its customer or case."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.factories import receive_email
from tests.web.browser.conftest import LiveDesk, screenshot, sign_in
from threadline.actions import Actor, add_note
from threadline.vocabulary import Role


def test_search_from_the_header_finds_customer_case_and_message(page: Page, desk: LiveDesk) -> None:
    word = f"zq{uuid.uuid4().hex[:6]}"  # a word nobody else wrote
    address = f"{word}@example.com"
    with desk.db() as db:
        case_id = receive_email(
            db,
            desk.runtime.env,
            address,
            f"The {word} lamp flickers since Tuesday.",
            subject=f"Lamp {word}",
            name=f"Petra {word.capitalize()}",
        ).case_id
        add_note(
            db,
            desk.runtime.env,
            Actor.agent(desk.person(Role.AGENT).agent_id),
            case_id,
            f"Private {word} remark",
        )
    sign_in(page, desk, Role.AGENT, next_path="/inbox")

    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type(word)
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{desk.base_url}/search?q={word}")
    customers = page.get_by_role("region", name="Customers")
    expect(customers.get_by_role("link", name=f"Petra {word.capitalize()}")).to_be_visible()
    cases = page.get_by_role("region", name="Cases")
    expect(cases.get_by_role("link", name=f"Lamp {word}")).to_be_visible()
    messages = page.get_by_role("region", name="Messages")
    expect(messages.locator("li")).to_have_count(2)  # the customer's mail and the agent's note
    expect(messages.get_by_text("Internal note")).to_be_visible()
    screenshot(page, "search")

    cases.get_by_role("link", name=f"Lamp {word}").click()
    expect(page).to_have_url(f"{desk.base_url}/cases/{case_id}")


def test_a_clerk_searching_never_sees_an_internal_note(page: Page, desk: LiveDesk) -> None:
    word = f"zq{uuid.uuid4().hex[:6]}"
    with desk.db() as db:
        case_id = receive_email(
            db,
            desk.runtime.env,
            f"{uuid.uuid4().hex[:10]}@example.com",
            "Where is my order?",
            subject="Order",
        ).case_id
        add_note(
            db,
            desk.runtime.env,
            Actor.agent(desk.person(Role.AGENT).agent_id),
            case_id,
            f"Secret {word} remark",
        )
    sign_in(page, desk, Role.CLERK, next_path=f"/search?q={word}")
    expect(page.get_by_role("status").filter(has_text="Nothing matches")).to_be_visible()
    expect(page.get_by_text(f"Secret {word}")).to_have_count(0)
