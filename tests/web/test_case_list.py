"""The inbox's rows, and the old case list's address, which now leads to the inbox."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.conftest import SCRIPT, Story, visible_text
from threadline.models import format_ref


def inbox_ids(html: str) -> list[int]:
    """The case ids of the inbox's rows, in page order."""
    return [
        int(found)
        for found in re.findall(r'<tr class="inbox-row[^"]*"[^>]* data-case-id="(\d+)"', html)
    ]


def row(html: str, case_id: int) -> str:
    start = html.index(f'id="case-row-{case_id}"')
    return html[start : html.index("</tr>", start)]


def test_a_row_shows_channels_customer_segment_subject_owner_clock_and_update(
    client: TestClient, story: Story
) -> None:
    html = client.get("/inbox?view=open").text
    assert inbox_ids(html) == [story.case_id]
    markup = row(html, story.case_id)
    text = visible_text("<tr " + markup)
    # Icons read as their names: what a screen reader says.
    x_icon = "\N{MATHEMATICAL DOUBLE-STRUCK CAPITAL X}"
    ref = format_ref(story.case_id)
    assert text.startswith(f"{x_icon} X ☎ Phone ✉ Email Ann Baker Standard {ref}")
    assert "Of course: 24.99 is on its way back to you." in text  # the latest touch
    assert "Amy Agent" in text
    # The next running clock (resolution: the replies are met) as a countdown for clock.js.
    assert 'class="due due-ok" data-due="2026-11-28T10:00:00+00:00"' in markup
    assert 'data-warn="' in markup
    assert "Resolution" in text
    assert text.endswith("23 Nov 2026, 10:20")
    # Each channel icon carries its name for a screen reader and a tooltip.
    assert 'title="Phone"><span aria-hidden="true">' in markup
    assert '<span class="visually-hidden">Email</span>' in markup


def test_customer_text_is_escaped_in_the_inbox(client: TestClient, story: Story) -> None:
    for path in ("/inbox?view=open", "/inbox/rows?view=open"):
        html = client.get(path).text
        assert "<script>alert" not in html, path
        assert SCRIPT in visible_text(html), path


def test_the_old_case_list_leads_to_the_matching_view(client: TestClient) -> None:
    for path, target in (
        ("/cases", "/inbox?view=open"),
        ("/cases?status=new", "/inbox?view=open"),
        ("/cases?status=pending", "/inbox?view=pending"),
        ("/cases?status=resolved", "/inbox?view=resolved"),
        ("/cases?status=closed", "/inbox?view=resolved"),
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == target, path


def test_the_old_case_list_rejects_an_unknown_status(client: TestClient) -> None:
    response = client.get("/cases?status=lost")
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "invalid_input"
    assert "status" in body["error"]["message"]
