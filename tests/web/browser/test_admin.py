"""The admin page: the people on the desk with their roles, teams, presence and capacity,
the service levels in force, and adding a person from the page. (That an agent is
refused the page is tested in test_sign_in.py.)"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.browser.conftest import LiveDesk, PageWatch, screenshot, sign_in
from threadline.actions.service_level_admin import seed_default_service_levels
from threadline.vocabulary import Role


def test_an_admin_sees_the_agents_and_service_levels(page: Page, desk: LiveDesk) -> None:
    with desk.db() as db:
        seed_default_service_levels(db, desk.runtime.env)
    sign_in(page, desk, Role.ADMIN, next_path="/admin")
    agents = page.locator("table.admin-agents")
    for role in Role:
        person = desk.person(role)
        row = agents.locator(f"tr[data-agent-id='{person.agent_id}']")
        expect(row).to_contain_text(person.name)
        expect(row).to_contain_text(role.label)
    amy = agents.locator(f"tr[data-agent-id='{desk.person(Role.AGENT).agent_id}']")
    expect(amy).to_contain_text("Support")
    expect(amy).to_contain_text("Messaging 12")
    expect(page.get_by_role("heading", name="Service levels")).to_be_visible()
    expect(page.locator("table.admin-policies")).to_contain_text("Contact centre")
    expect(page.locator("table.admin-calendars")).to_contain_text("Europe/London")
    screenshot(page, "admin")


def test_an_admin_adds_a_person_from_the_page(
    page_watch: tuple[Page, PageWatch], desk: LiveDesk
) -> None:
    page, watcher = page_watch
    watcher.allow_console_error("status of 409")
    sign_in(page, desk, Role.ADMIN, next_path="/admin")
    page.wait_for_function("document.body.dataset.ready === 'admin'")
    page.get_by_label("Name").fill("Nia New")
    page.get_by_label("Email").fill("nia@shop.example")
    page.get_by_label("Role").select_option("supervisor")
    page.get_by_label("Teams").fill("Support, Night shift")
    page.get_by_role("button", name="Add person").click()
    row = page.locator("table.admin-agents tr", has_text="Nia New")
    expect(row).to_contain_text("Supervisor")
    expect(row).to_contain_text("Night shift")

    page.reload()
    expect(page.locator("table.admin-agents tr", has_text="nia@shop.example")).to_be_visible()

    # The same email again is refused, and the page says why.
    page.get_by_label("Name").fill("Nia Again")
    page.get_by_label("Email").fill("nia@shop.example")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("alert")).to_contain_text("nia@shop.example")
