"""Signing in and out, and what each role may open."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.browser.conftest import PASSWORD, LiveDesk, PageWatch, screenshot, sign_in
from threadline.vocabulary import Role


def test_a_page_sends_a_stranger_to_sign_in_and_back(page: Page, desk: LiveDesk) -> None:
    page.goto("/admin")
    expect(page).to_have_url(f"{desk.base_url}/sign-in?next=/admin")
    screenshot(page, "sign-in")
    who = desk.person(Role.ADMIN)
    page.get_by_label("Email address").fill(who.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{desk.base_url}/admin")
    expect(page.get_by_role("heading", name="People on the desk")).to_be_visible()
    expect(page.locator("header.site .who")).to_have_text(who.name)


def test_a_wrong_password_is_refused_with_a_message(
    page_watch: tuple[Page, PageWatch], desk: LiveDesk
) -> None:
    page, watcher = page_watch
    watcher.allow_console_error("status of 401")
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(desk.person(Role.AGENT).email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email address")).to_have_value(desk.person(Role.AGENT).email)
    assert page.context.cookies() == []


def test_sign_out_ends_the_session(page: Page, desk: LiveDesk) -> None:
    sign_in(page, desk, Role.ADMIN, next_path="/admin")
    expect(page).to_have_url(f"{desk.base_url}/admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{desk.base_url}/sign-in")
    page.goto("/admin")
    expect(page).to_have_url(f"{desk.base_url}/sign-in?next=/admin")


def test_an_agent_cannot_open_the_admin_page(
    page_watch: tuple[Page, PageWatch], desk: LiveDesk
) -> None:
    page, watcher = page_watch
    watcher.allow_console_error("status of 403")
    sign_in(page, desk, Role.AGENT)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    answer = page.goto("/admin")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="Something is wrong (403)")).to_be_visible()
    expect(page.get_by_text("People on the desk")).to_have_count(0)


def test_pages_carry_a_strict_content_security_policy(page: Page, desk: LiveDesk) -> None:
    answer = page.goto("/sign-in")
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
