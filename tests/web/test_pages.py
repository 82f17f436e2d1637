"""The desk's pages, read as a person reads them: the case list, one case's timeline
across channels, and one customer's whole story."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import inbound, receive_email
from tests.web.conftest import SCRIPT, Story, case_links, entry, entry_ids, visible_text
from threadline.actions import Actor, Env, receive, set_status, switch_channel
from threadline.api.app import create_app
from threadline.channels.base import IncomingFile
from threadline.clock import FrozenClock
from threadline.models import format_ref
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, SwitchReason


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
