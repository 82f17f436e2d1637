"""The case page in a real browser: a mail that came in over SMTP, answered from the
composer and delivered to the relay while its badge moves live; a move to a call with
its reason; a customer's HTML that stays inert; two people on one case; a clerk's view
without internal notes; and a merge of two records with its preview and its undo."""

from __future__ import annotations

import itertools
import re
import smtplib
import time
from email.message import EmailMessage

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.factories import inbound
from tests.web.browser.conftest import (
    SUPPORT_ADDRESS,
    LiveDesk,
    PageWatch,
    opened_page,
    screenshot,
    sign_in,
)
from threadline.actions import Actor, add_identity, add_note, receive
from threadline.models import Case, Identity
from threadline.vocabulary import Channel, IdentityKind, Role

_serial = itertools.count(1)


def unique(name: str) -> str:
    """An address no other test of the module uses (they share one server)."""
    return f"{name}-{next(_serial)}-{time.monotonic_ns()}@example.com"


def mail_in(desk: LiveDesk, sender: str, subject: str, text: str, html: str | None = None) -> int:
    """Send a mail to the support address over SMTP, as a customer's mail server would,
    and answer the id of the case it made."""
    message = EmailMessage()
    message["From"] = f"Customer <{sender}>"
    message["To"] = SUPPORT_ADDRESS
    message["Subject"] = subject
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", desk.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with desk.runtime.db.reading() as db:
            found = db.scalar(
                select(Case.id)
                .join(Identity, Identity.customer_id == Case.customer_id)
                .where(Identity.kind == IdentityKind.EMAIL, Identity.value == sender)
            )
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no case was made for the mail from {sender}")


def open_case(page: Page, desk: LiveDesk, role: Role, case_id: int) -> None:
    sign_in(page, desk, role, next_path=f"/cases/{case_id}")
    expect(page).to_have_url(f"{desk.base_url}/cases/{case_id}")


def test_a_reply_from_the_composer_is_delivered_and_its_badge_moves_live(
    page: Page, desk: LiveDesk
) -> None:
    sender = unique("ann")
    case_id = mail_in(desk, sender, "Where is my lamp?", "Ordered a week ago, nothing yet.")
    sent_before = len(desk.sink.received)
    open_case(page, desk, Role.AGENT, case_id)
    expect(page.get_by_role("heading", name=re.compile("Where is my lamp"))).to_be_visible()
    expect(page.get_by_label("Send on")).to_have_value(f"email|0|email|{sender}")
    expect(page.locator("#switch-row")).to_be_hidden()

    page.goto(f"/cases/{case_id}#reply")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("It left our warehouse today; tracking follows.")
    page.keyboard.press("Control+Enter")

    reply = page.locator("li.entry.dir-out").last
    expect(reply).to_contain_text("It left our warehouse today")
    expect(reply.locator(".delivery")).to_have_text(re.compile(r"Delivery: (Sent|Delivered)"))
    mail = next(m for m in desk.sink.wait_for(sent_before + 1) if sender in m.rcpt_tos)
    assert "It left our warehouse today" in mail.message.get_body().get_content()  # type: ignore[union-attr]
    expect(page.locator("#reply-text")).to_have_value("")
    screenshot(page, "case")


def test_a_public_post_with_a_card_number_is_stopped_and_moved_to_a_call(
    page: Page, desk: LiveDesk
) -> None:
    handle = f"@lamp_fan_{next(_serial)}"
    with desk.db() as db:
        post = receive(
            db,
            desk.runtime.env,
            inbound(Channel.X, IdentityKind.X, handle, "You charged me twice!", public=True),
        )
        add_identity(
            db,
            desk.runtime.env,
            Actor.system(),
            post.customer_id,
            IdentityKind.PHONE,
            f"+4477009{next(_serial):05d}",
        )
    open_case(page, desk, Role.AGENT, post.case_id)
    expect(page.locator("#reply-public")).to_be_visible()
    page.locator("#reply-text").fill("Is 4111 1111 1111 1111 the card you used?")
    page.get_by_role("button", name="Send reply").click()
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text("looks like it contains a card number")
    page.get_by_role("button", name="Move to a private channel").click()
    expect(page.locator("#reply-public")).to_be_hidden()
    expect(page.get_by_label("Why change channel?")).to_have_value("private_data")
    expect(warning).to_be_hidden()

    page.get_by_label("To", exact=True).select_option("phone")
    page.get_by_label("Because").select_option("private_data")
    page.get_by_role("button", name="Announce the move").click()
    marker = page.locator("li.entry.switch").last
    expect(marker).to_contain_text("Moving from X (public) to Phone — private data")
    expect(marker).to_contain_text("waiting for the first contact on Phone")


def test_html_from_a_customer_is_shown_sanitised_and_nothing_runs(
    page: Page, desk: LiveDesk
) -> None:
    sender = unique("mallory")
    html = (
        "<p>Look at <b>this</b></p>"
        "<script>window.pwned = 1; document.title = 'pwned';</script>"
        "<img src=x onerror=\"window.pwned = 2; document.title = 'pwned'\">"
        '<img src="https://tracker.example/pixel.png">'
    )
    case_id = mail_in(desk, sender, "Broken lamp photo", "Look at this", html=html)
    open_case(page, desk, Role.AGENT, case_id)
    title = page.title()
    page.get_by_text("Show the formatted version").click()
    body = page.locator(".html-body").last
    expect(body).to_contain_text("Look at this")
    expect(body.locator("b")).to_have_text("this")
    expect(body.locator("script")).to_have_count(0)
    assert page.evaluate("() => window.pwned") is None
    assert page.title() == title
    for image in body.locator("img").all():
        assert image.get_attribute("onerror") is None
        assert image.get_attribute("src") is None


def test_a_second_agent_on_the_case_is_noticed_viewing_and_typing(
    browser: Browser, page: Page, desk: LiveDesk
) -> None:
    case_id = mail_in(desk, unique("bo"), "Two people, one case", "Hello?")
    open_case(page, desk, Role.AGENT, case_id)
    with opened_page(browser, desk) as (other, _):
        open_case(other, desk, Role.SUPERVISOR, case_id)
        expect(page.locator("#collision")).to_have_text("Sam Supervisor is viewing this case")
        expect(other.locator("#collision")).to_have_text("Amy Agent is viewing this case")
        other.locator("#reply-text").press_sequentially("On it")
        expect(page.locator("#collision")).to_have_text("Sam Supervisor is typing a reply")
        other.goto("/inbox")
    expect(page.locator("#collision")).to_be_hidden()


def test_a_clerk_sees_the_case_without_internal_notes(
    browser: Browser, page: Page, desk: LiveDesk
) -> None:
    case_id = mail_in(desk, unique("cy"), "Returning a lamp", "Can I bring it to the shop?")
    with desk.db() as db:
        add_note(
            db,
            desk.runtime.env,
            Actor.agent(desk.person(Role.AGENT).agent_id),
            case_id,
            "Secret: she is on the fraud watch list",
        )
    open_case(page, desk, Role.AGENT, case_id)
    expect(page.locator("li.entry.dir-internal")).to_contain_text("fraud watch list")
    with opened_page(browser, desk) as (clerk, _):
        open_case(clerk, desk, Role.CLERK, case_id)
        expect(clerk.locator("li.entry")).to_have_count(1)
        expect(clerk.get_by_text("Can I bring it to the shop?")).to_be_visible()
        expect(clerk.get_by_text("fraud watch list")).to_have_count(0)
        expect(clerk.locator(".dir-internal")).to_have_count(0)
        expect(clerk.locator("#reply-text")).to_have_count(0)
        expect(clerk.locator("#case-status")).to_have_count(0)
        screenshot(clerk, "case-clerk")


def test_merging_two_records_with_a_preview_and_undoing_it(
    page_watch: tuple[Page, PageWatch], desk: LiveDesk
) -> None:
    page, _ = page_watch
    first = unique("dora")
    second = unique("dora-work")
    case_id = mail_in(desk, first, "Lamp shade", "Do you sell shades?")
    other_case = mail_in(desk, second, "Lamp bulb", "And bulbs?")
    open_case(page, desk, Role.AGENT, case_id)
    panel = page.locator("#customer-panel")
    expect(panel).to_contain_text("This is their first case.")
    panel.get_by_label(re.compile("Find the other record")).fill(second)
    panel.get_by_role("button", name="Find").click()
    panel.get_by_role("button", name=re.compile(re.escape(second))).click()
    preview = panel.locator("#merge-preview")
    expect(preview).to_contain_text("1 identity: Email " + second)
    expect(preview).to_contain_text("1 case")
    preview.get_by_role("button", name=re.compile("^Merge ")).click()

    expect(panel.get_by_role("button", name=re.compile("Undo the merge"))).to_be_visible()
    expect(panel).to_contain_text(second)
    expect(panel.locator(".other-cases")).to_contain_text("Lamp bulb")
    customer_id = customer_of(desk, case_id)
    assert customer_of(desk, other_case) == customer_id
    page.goto(f"/customers/{customer_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "customer")

    page.get_by_role("button", name=re.compile("Undo the merge")).click()
    expect(page.get_by_role("button", name=re.compile("Undo the merge"))).to_have_count(0)
    expect(page.locator("table.cases")).not_to_contain_text("Lamp bulb")
    assert customer_of(desk, other_case) != customer_id


def customer_of(desk: LiveDesk, case_id: int) -> int:
    with desk.runtime.db.reading() as db:
        customer_id = db.scalar(select(Case.customer_id).where(Case.id == case_id))
        assert customer_id is not None
        return customer_id


def test_status_tags_and_new_mail_reach_every_open_page_live(
    browser: Browser, page: Page, desk: LiveDesk
) -> None:
    sender = unique("eve")
    case_id = mail_in(desk, sender, "Dimmer switch", "Does it take a dimmer?")
    open_case(page, desk, Role.AGENT, case_id)
    with opened_page(browser, desk) as (other, _):
        open_case(other, desk, Role.SUPERVISOR, case_id)
        page.get_by_role("button", name="Take it").click()
        expect(other.get_by_label("Owner", exact=True)).to_have_value(
            str(desk.person(Role.AGENT).agent_id)
        )
        expect(page.get_by_role("button", name="Release")).to_be_visible()
        page.get_by_label("Status", exact=True).select_option("pending")
        expect(other.get_by_label("Status", exact=True)).to_have_value("pending")
        page.get_by_label("Add a tag").fill("Wiring question")
        page.get_by_label("Add a tag").press("Enter")
        expect(other.locator("#tag-list .tag span")).to_have_text("wiring-question")
        page.get_by_role("button", name="Remove tag wiring-question").click()
        expect(other.locator("#tag-list .tag")).to_have_count(0)

        mail_in(desk, sender, "Re: Dimmer switch", "Also: is it warm white?")
        for viewer in (page, other):
            expect(viewer.locator("li.entry.is-new")).to_contain_text("is it warm white?")
