"""The desk's pages, read as a person reads them: the case list, one case's timeline
across channels, and one customer's whole story."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import inbound, receive_email
from tests.web.conftest import (
    SCRIPT,
    Story,
    case_links,
    entry,
    entry_ids,
    signed_in_client,
    visible_text,
)
from threadline.actions import (
    Actor,
    Env,
    merge_customers,
    receive,
    set_status,
    switch_channel,
)
from threadline.actions.tags import add_tag
from threadline.api.app import create_app
from threadline.channels.base import IncomingFile
from threadline.clock import FrozenClock
from threadline.models import format_ref
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, Role, SwitchReason


def test_home_redirects_to_the_inbox(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"


def test_case_page_tells_one_story_across_channels_in_order(
    client: TestClient, story: Story
) -> None:
    response = client.get(f"/cases/{story.case_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    ids = entry_ids(html)
    touches = [i for i in ids if i.startswith("touch-")]
    assert touches == [
        f"touch-{story.post_id}",
        f"touch-{story.note_id}",
        f"touch-{story.call_id}",
        f"touch-{story.email_id}",
        f"touch-{story.reply_id}",
    ]
    # Each channel switch sits right before the touch on the new channel.
    assert ids[ids.index(f"touch-{story.call_id}") - 1].startswith("switch-")
    assert ids[ids.index(f"touch-{story.email_id}") - 1].startswith("switch-")
    assert sum(i.startswith("switch-") for i in ids) == 2
    badges = {
        touch: visible_text(entry(html, touch)).split()[0]
        for touch in (f"touch-{story.post_id}", f"touch-{story.call_id}", f"touch-{story.email_id}")
    }
    assert badges == {
        f"touch-{story.post_id}": "X",
        f"touch-{story.call_id}": "Phone",
        f"touch-{story.email_id}": "Email",
    }
    text = visible_text(html)
    assert f"{format_ref(story.case_id)} You charged me twice" in text


def test_case_page_marks_switches_with_their_reason(client: TestClient, story: Story) -> None:
    html = client.get(f"/cases/{story.case_id}").text
    switches = [i for i in entry_ids(html) if i.startswith("switch-")]
    first, second = (visible_text(entry(html, s)) for s in switches)
    assert first.startswith("⇄ Moved from X (public) to Phone — private data")
    assert "by Amy Agent" in first
    assert second.startswith("⇄ Moved from Phone to Email — customer choice")


def test_case_page_shows_call_figures(client: TestClient, story: Story) -> None:
    call = visible_text(entry(client.get(f"/cases/{story.case_id}").text, f"touch-{story.call_id}"))
    assert "Call: rang 12 s · waited 40 s · held 0 s · talked 5 min" in call
    assert "+44 7700 900123 called" in call


def test_case_page_marks_notes_internal_and_posts_public(client: TestClient, story: Story) -> None:
    html = client.get(f"/cases/{story.case_id}").text
    note = entry(html, f"touch-{story.note_id}")
    assert "dir-internal" in note
    assert "Internal — never shown to the customer" in visible_text(note)
    assert "Amy Agent added an internal note" in visible_text(note)
    post = entry(html, f"touch-{story.post_id}")
    assert "Public post — anyone can see it" in visible_text(post)
    assert "@ann_b posted in public" in visible_text(post)
    answer = visible_text(entry(html, f"touch-{story.reply_id}"))
    assert "Out Amy Agent replied" in answer
    assert "Delivery: Queued" in answer
    assert "Public post" not in answer
    assert "Internal" not in answer


def test_customer_text_is_escaped_everywhere(client: TestClient, story: Story) -> None:
    for path in (f"/cases/{story.case_id}", "/cases", f"/customers/{story.customer_id}"):
        html = client.get(path).text
        assert "<script>" not in html, path
        assert "&lt;script&gt;" in html, path
        assert SCRIPT in visible_text(html), path


def test_email_html_is_shown_sanitised_behind_the_text(
    client: TestClient, db: Session, env: Env
) -> None:
    received = receive_email(
        db,
        env,
        text="Plain version",
        html='<p>Rich <b>version</b></p><script>steal()</script><img src="x" onerror="steal()">',
        attachments=(IncomingFile("receipt.pdf", "application/pdf", b"%PDF-1.4 " * 300),),
    )
    touch = entry(client.get(f"/cases/{received.case_id}").text, f"touch-{received.touch_id}")
    assert '<div class="text">Plain version</div>' in touch
    assert "<details" in touch
    assert "<p>Rich <b>version</b></p>" in touch
    assert "steal()" not in touch
    assert "receipt.pdf (application/pdf, 3 KB)" in visible_text(touch)


def test_customer_panel_sits_beside_the_timeline(client: TestClient, story: Story) -> None:
    html = client.get(f"/cases/{story.case_id}").text
    panel = visible_text(html[html.index("<aside") : html.index("</aside>")])
    assert panel.startswith("Ann Baker")
    assert "Segment Standard" in panel
    assert "Journey stage Prospect" in panel
    assert "Lifetime value 0.00" in panel
    assert "Email ann@example.com Phone +44 7700 900123 X @ann_b" in panel
    assert "This is their first case." in panel


def test_announced_switch_waits_at_the_end(
    client: TestClient, story: Story, db: Session, env: Env, clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=1))
    switch_channel(
        db, env, Actor.agent(story.agent_id), story.case_id, Channel.PHONE, SwitchReason.CALLBACK
    )
    html = client.get(f"/cases/{story.case_id}").text
    last = entry_ids(html)[-1]
    assert last.startswith("switch-")
    assert visible_text(entry(html, last)).startswith("⇄ Moving from Email to Phone — callback")
    assert "waiting for the first contact on Phone" in visible_text(entry(html, last))


def test_customer_page_tells_the_story_across_cases(
    client: TestClient, story: Story, db: Session, env: Env, clock: FrozenClock
) -> None:
    set_status(db, env, Actor.agent(story.agent_id), story.case_id, CaseStatus.CLOSED)
    clock.advance(timedelta(days=1))
    later = receive(db, env, inbound(Channel.CHAT, IdentityKind.PHONE, "+447700900123", "Hi again"))
    assert later.case_id != story.case_id

    html = client.get(f"/customers/{story.customer_id}").text
    assert case_links(html) == [later.case_id, story.case_id]
    ids = entry_ids(html)
    assert ids[0] == f"touch-{story.post_id}"
    assert ids[-1] == f"touch-{later.touch_id}"
    last = visible_text(entry(html, ids[-1]))
    assert format_ref(later.case_id) in last
    assert "Hi again" in last
    assert "Ann Baker" in visible_text(html[html.index("<h1") : html.index("</h1>")])

    case_html = client.get(f"/cases/{later.case_id}").text
    panel = visible_text(case_html[case_html.index("<aside") : case_html.index("</aside>")])
    assert f"Other cases {format_ref(story.case_id)} Closed" in panel
    assert f"Follows {format_ref(story.case_id)}" in visible_text(case_html)


def test_unknown_case_and_customer_are_404(client: TestClient) -> None:
    for path, noun in (("/cases/999999", "case"), ("/customers/999999", "customer")):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "error": {"code": "not_found", "message": f"{noun} 999999 does not exist"}
        }


def test_a_browser_gets_a_friendly_404_page(client: TestClient) -> None:
    response = client.get("/cases/999999", headers={"accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    text = visible_text(response.text)
    assert "Not found case 999999 does not exist" in text


def test_stylesheet_is_served_from_the_app(client: TestClient) -> None:
    html = client.get("/cases").text
    assert '<link rel="stylesheet" href="/static/desk.css' in html
    assert "//" not in html.split('href="', 2)[1].split('"')[0]  # no CDN, no font host
    css = client.get("/static/desk.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text
    assert "url(" not in css.text


def test_a_stranger_is_sent_to_sign_in(runtime: Runtime) -> None:
    with TestClient(create_app(runtime)) as stranger:
        for path in ("/inbox", "/cases", "/cases/1", "/customers/1", "/admin"):
            answer = stranger.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/sign-in?next={path}"
        assert "Sign in to Threadline" in stranger.get("/").text


CLERK_PASSWORD = "a long enough clerk password"


@pytest.fixture
def clerk_client(runtime: Runtime) -> Iterator[TestClient]:
    """A browser-like client signed in as a shop clerk (no READ_PRIVATE, no WORK_CASES)."""
    with signed_in_client(
        runtime,
        email="clerk@shop.example",
        name="Cal Clerk",
        role=Role.CLERK,
        password=CLERK_PASSWORD,
    ) as test_client:
        yield test_client


def test_a_clerk_never_sees_internal_notes(
    clerk_client: TestClient, client: TestClient, story: Story
) -> None:
    note_text = "Card details needed"
    for path in (
        f"/cases/{story.case_id}",
        f"/cases/{story.case_id}/timeline",
        f"/customers/{story.customer_id}",
    ):
        clerk_html = clerk_client.get(path).text
        assert f'id="touch-{story.note_id}"' not in clerk_html, path
        assert note_text not in clerk_html, path
        assert "dir-internal" not in clerk_html, path
        assert note_text in client.get(path).text, path  # a supervisor reads it
    ids = entry_ids(clerk_client.get(f"/cases/{story.case_id}").text)
    assert f"touch-{story.reply_id}" in ids
    assert sum(i.startswith("switch-") for i in ids) == 2  # the moves stay on the story


def test_a_clerk_gets_no_controls_and_an_agent_gets_them_all(
    clerk_client: TestClient, client: TestClient, story: Story
) -> None:
    clerk = clerk_client.get(f"/cases/{story.case_id}").text
    for control in ('id="reply-text"', 'id="note-text"', 'id="case-status"', 'id="tag-form"'):
        assert control not in clerk
    assert "Status New" in visible_text(clerk) or "Status Open" in visible_text(clerk)
    supervisor = client.get(f"/cases/{story.case_id}").text
    # The anchors the inbox links to: #reply, #note and #assign.
    for anchor in (
        'id="reply"',
        'id="reply-text"',
        'id="note"',
        'id="note-text"',
        'id="assign"',
        'id="assign-owner"',
    ):
        assert anchor in supervisor, anchor
    assert '<option value="open" selected>Open</option>' in supervisor
    assert '<option value="normal" selected>Normal</option>' in supervisor


def test_the_composer_defaults_to_the_customers_last_channel(
    client: TestClient, story: Story
) -> None:
    html = client.get(f"/cases/{story.case_id}").text
    composer = html[
        html.index('id="reply-to"') : html.index("</select>", html.index('id="reply-to"'))
    ]
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', composer)
    assert options[0] == (
        "email|0|email|ann@example.com",
        "Email — ann@example.com (their last channel)",
    )
    assert 'data-default="true" selected' in composer.split("</option>")[0]
    labels = [label for _, label in options]
    assert "X — public reply to @ann_b" in labels
    assert "X — direct message to @ann_b" in labels
    assert "SMS — +44 7700 900123" in labels
    assert 'id="switch-row" hidden' in html  # no reason needed until the channel changes


def test_a_public_post_makes_the_public_reply_the_default(
    client: TestClient, db: Session, env: Env
) -> None:
    post = receive(
        db, env, inbound(Channel.X, IdentityKind.X, "@bo_c", "Where is my parcel?", public=True)
    )
    html = client.get(f"/cases/{post.case_id}").text
    first = html[html.index('id="reply-to"') :].split("</option>")[0]
    assert 'value="x|1|x|bo_c"' in first
    assert "X — public reply to @bo_c (their last channel)" in first
    assert 'id="reply-public" hidden' not in html


def test_tags_and_owner_show_on_the_page(
    client: TestClient, story: Story, db: Session, env: Env
) -> None:
    add_tag(db, env, Actor.agent(story.agent_id), story.case_id, "Double charge")
    html = client.get(f"/cases/{story.case_id}").text
    assert 'aria-label="Remove tag double-charge"' in html
    owner = html[
        html.index('id="assign-owner"') : html.index("</select>", html.index('id="assign-owner"'))
    ]
    assert f'<option value="{story.agent_id}" selected>Amy Agent</option>' in owner
    assert "Rita Reader" in owner  # a supervisor may own cases too


def test_attachments_link_to_their_download(client: TestClient, db: Session, env: Env) -> None:
    received = receive_email(
        db,
        env,
        text="See the photo",
        html='<p>Photo</p><img src="https://tracker.example/p.png"><img src="x">',
        attachments=(IncomingFile("lamp.jpg", "image/jpeg", b"\xff\xd8 lamp"),),
    )
    touch = entry(client.get(f"/cases/{received.case_id}").text, f"touch-{received.touch_id}")
    link = re.search(r'<a href="(/api/v1/attachments/\d+)" download>lamp.jpg</a>', touch)
    assert link is not None
    assert client.get(link.group(1)).content == b"\xff\xd8 lamp"
    # Images that would load from elsewhere keep no source: no tracking, no stray request.
    assert "tracker.example" not in touch
    assert 'src="x"' not in touch


def test_the_timeline_fragment_is_the_timeline_alone(client: TestClient, story: Story) -> None:
    answer = client.get(f"/cases/{story.case_id}/timeline")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<ol class="timeline"')
    assert 'class="site"' not in answer.text  # no page around it
    assert entry_ids(answer.text) == entry_ids(client.get(f"/cases/{story.case_id}").text)
    assert client.get("/cases/999999/timeline").status_code == 404


def test_the_merge_preview_says_what_moves_and_the_panel_offers_undo(
    client: TestClient, story: Story, db: Session, env: Env
) -> None:
    other = receive_email(db, env, "ann.work@example.com", "Second record", name="Ann B")
    preview = visible_text(
        client.get(
            f"/customers/{story.customer_id}/merge-preview", params={"other_id": other.customer_id}
        ).text
    )
    assert preview.startswith("Merge Ann B into Ann Baker?")
    assert "1 identity: Email ann.work@example.com" in preview
    assert "1 case" in preview
    assert "You can undo the merge." in preview

    merge = merge_customers(
        db, env, Actor.agent(story.agent_id), story.customer_id, other.customer_id
    )
    panel = client.get(
        f"/customers/{story.customer_id}/panel", params={"case_id": story.case_id}
    ).text
    assert visible_text(panel).startswith("Ann Baker")
    assert f'data-merge-id="{merge.id}"' in panel
    assert "Merged into this record Ann B" in visible_text(panel)
    assert f"Other cases {format_ref(other.case_id)}" in visible_text(panel)
    again = visible_text(
        client.get(
            f"/customers/{story.customer_id}/merge-preview", params={"other_id": other.customer_id}
        ).text
    )
    assert "merged already" in again


def test_a_clerk_cannot_preview_a_merge(clerk_client: TestClient, story: Story) -> None:
    answer = clerk_client.get(
        f"/customers/{story.customer_id}/merge-preview", params={"other_id": story.customer_id}
    )
    assert answer.status_code == 403
    panel = clerk_client.get(f"/customers/{story.customer_id}/panel").text
    assert 'id="merge-search"' not in panel
