"""The supervisor's wallboard in a real browser: the figures are there on first paint,
and they follow the desk live, without a reload."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Route, expect

from tests.factories import receive_email
from tests.web.browser.conftest import LiveDesk, screenshot, sign_in
from threadline.actions import Actor, assign
from threadline.vocabulary import Role


def test_the_wallboard_count_changes_when_a_case_is_assigned(page: Page, desk: LiveDesk) -> None:
    sign_in(page, desk, Role.SUPERVISOR, next_path="/wallboard")
    expect(page).to_have_url(f"{desk.base_url}/wallboard")
    expect(page.get_by_role("heading", name="Wallboard", exact=True)).to_be_visible()
    waiting = page.locator("#total-waiting-cases")
    before = int(waiting.inner_text())
    page.wait_for_function("document.body.dataset.ready === 'wallboard'")

    with desk.db() as db:
        arrived = receive_email(db, desk.runtime.env, "wanda@example.com", "My parcel never came")
    expect(waiting).to_have_text(str(before + 1))
    email_row = page.locator("table.figures tr[data-key='email']").first
    expect(email_row.locator("[data-figure='waiting-cases']")).to_have_text(re.compile(r"[1-9]"))
    screenshot(page, "wallboard")

    amy = desk.person(Role.AGENT)
    with desk.db() as db:
        assign(db, desk.runtime.env, Actor.agent(amy.agent_id), arrived.case_id, amy.agent_id)
    expect(waiting).to_have_text(str(before))
    amy_row = page.locator(f"table.agents tr[data-agent-id='{amy.agent_id}']")
    expect(amy_row).to_contain_text(re.compile(r"[1-9]\d* of \d+"))


def test_the_wallboard_shows_agents_by_presence_in_words(page: Page, desk: LiveDesk) -> None:
    sign_in(page, desk, Role.ADMIN, next_path="/wallboard")
    page.wait_for_function("document.body.dataset.ready === 'wallboard'")
    me = desk.person(Role.ADMIN)
    row = page.locator(f"table.agents tr[data-agent-id='{me.agent_id}']")
    expect(row).to_contain_text("Offline")
    page.locator("#presence").select_option("online")
    expect(row).to_contain_text("Online")
    expect(page.locator(".presence-counts")).to_contain_text(re.compile(r"[1-9]\d* Online"))
    page.locator("#presence").select_option("offline")
    expect(row).to_contain_text("Offline")


def test_what_happens_before_the_live_stream_opens_still_reaches_the_wallboard(
    page: Page, desk: LiveDesk
) -> None:
    # The page's event stream is held back until a case has arrived: the stream then
    # starts from where it stood when the page was rendered, so the case still counts.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/api/v1/events**", hold)
    sign_in(page, desk, Role.SUPERVISOR, next_path="/wallboard")
    page.wait_for_function("document.body.dataset.ready === 'wallboard'")
    waiting = page.locator("#total-waiting-cases")
    before = int(waiting.inner_text())
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never opened its event stream"

    with desk.db() as db:
        receive_email(db, desk.runtime.env, "vera@example.com", "Wrong size sent")
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/events**")
    expect(waiting).to_have_text(str(before + 1))
