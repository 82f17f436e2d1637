"""The shop counter on a 10-inch tablet: a clerk finds the customer by whatever they hand
over, sees their open case in brief (never the internal notes), and logs the visit in
three taps; the agent who has the case open sees it arrive live."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.factories import receive_email
from tests.web.browser.conftest import TABLET, LiveDesk, opened_page, screenshot, sign_in
from threadline.actions import Actor, IdentityInput, add_note, assign, create_customer
from threadline.vocabulary import IdentityKind, Role


def test_a_clerk_logs_a_visit_and_it_appears_on_the_agents_case_page_live(
    browser: Browser, page: Page, desk: LiveDesk
) -> None:
    amy = desk.person(Role.AGENT)
    env = desk.runtime.env
    with desk.db() as db:
        customer = create_customer(
            db,
            env,
            Actor.system(),
            name="Nora Counter",
            identities=[
                IdentityInput(IdentityKind.EMAIL, "nora@example.com"),
                IdentityInput(IdentityKind.PHONE, "+44 7700 900456"),
            ],
        )
        mail = receive_email(db, env, "nora@example.com", "The lamp shade arrived cracked")
        assign(db, env, Actor.agent(amy.agent_id), mail.case_id, amy.agent_id)
        add_note(db, env, Actor.agent(amy.agent_id), mail.case_id, "SECRET supplier terms")

    sign_in(page, desk, Role.AGENT, next_path=f"/cases/{mail.case_id}")
    expect(page).to_have_url(f"{desk.base_url}/cases/{mail.case_id}")
    expect(page.get_by_text("The lamp shade arrived cracked").first).to_be_visible()

    with opened_page(browser, desk, viewport=TABLET) as (tablet, _):
        sign_in(tablet, desk, Role.CLERK)
        expect(tablet).to_have_url(f"{desk.base_url}/counter")
        # The customer gives their number as they say it; the server normalises it.
        tablet.get_by_label("Phone, email, loyalty card or name").fill("07700 900456")
        tablet.get_by_role("button", name="Find").click()

        card = tablet.locator(".customer-card")
        expect(card.get_by_role("heading", name=re.compile("Nora Counter"))).to_be_visible()
        expect(card).to_contain_text(f"TL-{mail.case_id + 1000}")
        expect(card).to_contain_text(amy.name)
        expect(card).to_contain_text("The lamp shade arrived cracked")
        expect(tablet.get_by_text("SECRET supplier terms")).to_have_count(0)
        tablet.wait_for_function("document.body.dataset.ready === 'counter'")
        screenshot(tablet, "counter-tablet")

        # Tap 1 was the search result (one match opens it); tap 2 the topic, tap 3 log.
        tablet.get_by_text("Return", exact=True).click()
        tablet.get_by_role("button", name="Log visit").click()
        expect(tablet.get_by_role("status").filter(has_text="Visit logged")).to_contain_text(
            f"TL-{mail.case_id + 1000}"
        )
        logged = re.search(r"logged=(\d+)", tablet.url)
        assert logged is not None
        touch_id = int(logged.group(1))

    # The agent's page was never reloaded: the visit arrived over the live stream.
    visit = page.locator(f"#touch-{touch_id}")
    expect(visit).to_be_visible()
    expect(visit).to_contain_text("visited the shop")
    expect(visit).to_contain_text(f"Logged by {desk.person(Role.CLERK).name}")
    assert customer.id > 0


def test_a_clerk_adds_a_customer_nobody_knows_and_logs_their_visit(
    browser: Browser, desk: LiveDesk
) -> None:
    with opened_page(browser, desk, viewport=TABLET) as (tablet, _):
        sign_in(tablet, desk, Role.CLERK)
        tablet.get_by_label("Phone, email, loyalty card or name").fill("07700 900987")
        tablet.get_by_role("button", name="Find").click()
        expect(tablet.get_by_role("heading", name=re.compile("Nobody found"))).to_be_visible()
        expect(tablet.get_by_label("Phone", exact=True)).to_be_checked()
        tablet.wait_for_function("document.body.dataset.ready === 'counter'")
        tablet.get_by_label("Their name").fill("Nadia Clarke")
        tablet.get_by_text("Product question", exact=True).click()
        tablet.get_by_text("Add a note, outcome or purchase").click()
        tablet.get_by_label("Purchase amount").fill("24.50")
        tablet.get_by_label("What they bought").fill("Linen napkins")
        tablet.get_by_role("button", name="Add customer and log visit").click()
        expect(tablet.get_by_role("status").filter(has_text="Visit logged")).to_be_visible()
        card = tablet.locator(".customer-card")
        expect(card.get_by_role("heading", name=re.compile("Nadia Clarke"))).to_be_visible()
        expect(card).to_contain_text("07700 900987")
        expect(card).to_contain_text("Product question")


def test_a_clerk_is_told_what_went_wrong(browser: Browser, desk: LiveDesk) -> None:
    with opened_page(browser, desk, viewport=TABLET) as (tablet, _):
        sign_in(tablet, desk, Role.CLERK)
        tablet.get_by_label("Phone, email, loyalty card or name").fill("nobody at all")
        tablet.get_by_role("button", name="Find").click()
        expect(tablet.get_by_role("heading", name=re.compile("Nobody found"))).to_be_visible()
        expect(tablet.get_by_text("Search by a phone number")).to_be_visible()
        tablet.get_by_label("Phone, email, loyalty card or name").fill("zoe@example.com")
        tablet.get_by_role("button", name="Find").click()
        tablet.wait_for_function("document.body.dataset.ready === 'counter'")
        tablet.get_by_role("button", name="Add customer and log visit").click()
        expect(tablet.get_by_role("alert")).to_have_text("Type their name.")
        tablet.get_by_label("Their name").fill("Zoe Grant")
        tablet.get_by_role("button", name="Add customer and log visit").click()
        expect(tablet.get_by_role("alert")).to_have_text("Pick what the visit is about.")
