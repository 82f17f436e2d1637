"""The inbox in a real browser: a mail sent to the SMTP listener appears without a
reload, j/k/Enter work the list, and a reply can be written with the keyboard alone."""

from __future__ import annotations

import re
import smtplib
import uuid
from email.message import EmailMessage

from playwright.sync_api import Page, expect

from tests.factories import receive_email
from tests.web.browser.conftest import SUPPORT_ADDRESS, LiveDesk, screenshot, sign_in
from threadline.vocabulary import Role


def unique(word: str) -> str:
    """A subject of this test's own: the tests of a module share one desk."""
    return f"{word} {uuid.uuid4().hex[:8]}"


def send_mail(desk: LiveDesk, sender: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT_ADDRESS
    message["Subject"] = subject
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", desk.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def email_case(desk: LiveDesk, subject: str) -> int:
    """A customer's email, received through the real action."""
    address = f"{uuid.uuid4().hex[:10]}@example.com"
    with desk.db() as db:
        return receive_email(
            db, desk.runtime.env, address, f"Hello about {subject}", subject=subject
        ).case_id


def test_a_mail_to_the_smtp_listener_appears_in_the_open_inbox(page: Page, desk: LiveDesk) -> None:
    sign_in(page, desk, Role.AGENT, next_path="/inbox?view=open")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    subject = unique("My parcel never came")

    send_mail(desk, f"Nina <{uuid.uuid4().hex[:10]}@example.com>", subject, "Order 5521 is late.")

    row = page.locator("tr.inbox-row", has_text=subject)
    expect(row).to_be_visible()
    expect(row.locator(".due[data-due]")).to_have_count(1)
    expect(row.locator(".due")).to_have_text(re.compile(r"\d+[hms]"))  # counting down
    expect(row.get_by_text("Email", exact=True)).to_be_attached()  # the icon's label
    expect(page.locator("#inbox-news")).to_contain_text("New in this view")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "inbox")


def test_j_k_move_the_selection_and_enter_opens_the_case(page: Page, desk: LiveDesk) -> None:
    older = email_case(desk, unique("Older question"))
    newer = email_case(desk, unique("Newer question"))
    sign_in(page, desk, Role.AGENT, next_path="/inbox?view=open")
    first, second = page.locator(f"#case-row-{newer}"), page.locator(f"#case-row-{older}")
    expect(first).to_be_visible()

    page.keyboard.press("j")
    expect(first).to_have_attribute("aria-selected", "true")
    expect(first).to_be_focused()
    page.keyboard.press("j")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(first).to_have_attribute("aria-selected", "false")
    page.keyboard.press("k")
    expect(first).to_have_attribute("aria-selected", "true")

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Inbox keys")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Inbox keys")).to_be_hidden()

    # Keys typed into the search box are text, not shortcuts.
    page.keyboard.press("/")
    page.keyboard.type("jk")
    expect(page.locator("#global-search")).to_have_value("jk")
    expect(first).to_have_attribute("aria-selected", "true")
    page.locator("#global-search").blur()

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{desk.base_url}/cases/{newer}")


def test_a_keyboard_only_reply_from_the_inbox(page: Page, desk: LiveDesk) -> None:
    subject = unique("Can I change my size")
    case_id = email_case(desk, subject)
    sign_in(page, desk, Role.AGENT, next_path="/inbox?view=open")
    expect(page.locator(f"#case-row-{case_id}")).to_be_visible()

    page.keyboard.press("j")  # the newest case is the first row
    expect(page.locator(f"#case-row-{case_id}")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("r")
    expect(page).to_have_url(f"{desk.base_url}/cases/{case_id}#reply")
    expect(page.locator("#reply-text")).to_be_focused()
    answer = f"Yes: a size up is on its way ({uuid.uuid4().hex[:6]})."
    page.keyboard.type(answer)
    page.keyboard.press("Control+Enter")

    desk.sink.wait_for_one(answer.encode())
