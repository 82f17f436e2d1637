"""Cutting quoted history and signatures off what a person wrote, finding forwarded
mail in a body, and undoing format=flowed. The one rule above all: nothing is lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.channels.email.flowed import unflow
from threadline.channels.email.parse import Address
from threadline.channels.email.quoting import Reply, forwarded_sender, split_reply

GMAIL = """Thanks, that fixed it.

On Mon, 3 Nov 2026 at 10:02, Ann Example <ann@example.com> wrote:

> Did the reset help?
> Ann
"""
GMAIL_WRAPPED = """Thanks, that fixed it.

On Mon, 3 Nov 2026 at 10:02, Ann Example From Support With A Long Name <
ann@example.com> wrote:
> Did the reset help?
"""
APPLE = """Thanks, that fixed it.

> On 3 Nov 2026, at 10:02, Ann <ann@example.com> wrote:
>
> Did the reset help?
"""
OUTLOOK_ORIGINAL = """Thanks, that fixed it.

-----Original Message-----
From: Ann <ann@example.com>
Sent: Monday, November 3, 2026 10:02 AM
Subject: Reset

Did the reset help?
"""
OUTLOOK_BLOCK = """Thanks, that fixed it.

From: Ann <ann@example.com>
Sent: Monday, November 3, 2026 10:02 AM
To: Bob <bob@example.com>
Subject: Reset

Did the reset help?
"""
OUTLOOK_RULE = """Thanks, that fixed it.

________________________________
From: Ann <ann@example.com>
Sent: Monday, November 3, 2026 10:02 AM
To: Bob <bob@example.com>
Subject: Reset

Did the reset help?
"""
OUTLOOK_RULE_ALONE = """Thanks, that fixed it.
________________________________
Did the reset help?
"""
FRENCH = """Merci, c'est réglé.

Le lun. 3 nov. 2026 à 10:02, Ann <ann@example.com> a écrit :
> Le reset a aidé ?
"""
GERMAN_OUTLOOK = """Danke, das war es.

Von: Ann <ann@example.com>
Gesendet: Montag, 3. November 2026 10:02
An: Bob <bob@example.com>
Betreff: Reset

Hat der Reset geholfen?
"""
SPANISH = """Gracias, ya funciona.

El lun, 3 nov 2026 a las 10:02, Ann (<ann@example.com>) escribió:
> ¿Ayudó el reinicio?
"""
LOOSE = """Thanks, that fixed it.

Ann Example <ann@example.com> wrote:
> Did the reset help?
"""
NO_ATTRIBUTION = """Thanks, that fixed it.

> Did the reset help?
> Ann
"""


@pytest.mark.parametrize(
    ("body", "quoted_starts"),
    [
        (GMAIL, "On Mon, 3 Nov 2026"),
        (GMAIL_WRAPPED, "On Mon, 3 Nov 2026"),
        (APPLE, "> On 3 Nov 2026"),
        (OUTLOOK_ORIGINAL, "-----Original Message-----"),
        (OUTLOOK_BLOCK, "From: Ann"),
        (OUTLOOK_RULE, "________________________________"),
        (OUTLOOK_RULE_ALONE, "________________________________"),
        (LOOSE, "Ann Example <ann@example.com> wrote:"),
        (NO_ATTRIBUTION, "> Did the reset help?"),
    ],
)
def test_each_client_shape_of_quoted_history_is_cut(body: str, quoted_starts: str) -> None:
    reply = split_reply(body)
    assert reply.text == "Thanks, that fixed it."
    assert reply.quoted.startswith(quoted_starts)
    assert "Did the reset help?" in reply.quoted


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (FRENCH, "Merci, c'est réglé."),
        (GERMAN_OUTLOOK, "Danke, das war es."),
        (SPANISH, "Gracias, ya funciona."),
    ],
)
def test_other_languages_are_cut_too(body: str, text: str) -> None:
    assert split_reply(body).text == text


@pytest.mark.parametrize(
    ("body", "text", "quoted"),
    [
        ("Hello\n\n-- \nAnn\nACME", "Hello", "-- \nAnn\nACME"),
        ("Hello\n--\nAnn", "Hello", "--\nAnn"),
        ("Hello\n\nSent from my iPhone", "Hello", "Sent from my iPhone"),
        ("Hello\n\nSent from my Galaxy", "Hello", "Sent from my Galaxy"),
        ("Hello\n\nGet Outlook for iOS", "Hello", "Get Outlook for iOS"),
        ("Hallo\n\nVon meinem iPhone gesendet", "Hallo", "Von meinem iPhone gesendet"),
        (
            "Hello\n\nSent from my iPhone\n\nOn 3 Nov 2026, at 10:02, Ann wrote:\n> hi",
            "Hello",
            "Sent from my iPhone\n\nOn 3 Nov 2026, at 10:02, Ann wrote:\n> hi",
        ),
    ],
)
def test_signatures_are_cut(body: str, text: str, quoted: str) -> None:
    assert split_reply(body) == Reply(text, quoted)


@pytest.mark.parametrize(
    "body",
    [
        "On Mon, 3 Nov 2026 at 10:02, Ann <ann@example.com> wrote:\n> only a quote",
        "> only quoted lines\n> and more",
        "-- \nonly a signature",
        "Sent from my iPhone",
        "-----Original Message-----\nFrom: a\nSent: b\nTo: c\n\nold",
        "",
    ],
)
def test_when_everything_would_be_cut_nothing_is(body: str) -> None:
    assert split_reply(body) == Reply(body.strip(), "")


def test_inline_answers_between_quotes_are_kept_whole() -> None:
    body = "> Which colour?\n\nGreen.\n\n> Which size?\n\nLarge."
    assert split_reply(body) == Reply(body, "")


def test_answers_written_between_quoted_lines_are_not_cut_below_the_attribution() -> None:
    body = (
        "Answers below.\n\nOn Mon, 3 Nov 2026 at 10:02, Ann <ann@example.com> wrote:\n"
        "> Which colour?\nGreen.\n> Which size?\nLarge.\n"
    )
    assert split_reply(body) == Reply(body.strip(), "")


def test_a_signature_under_the_quote_does_not_count_as_an_answer() -> None:
    body = "Thanks!\n\nOn Mon, 3 Nov 2026, Ann wrote:\n> hi\n\n-- \nBob"
    assert split_reply(body) == Reply("Thanks!", "On Mon, 3 Nov 2026, Ann wrote:\n> hi\n\n-- \nBob")


def test_a_long_text_after_a_double_dash_is_not_a_signature() -> None:
    body = "Intro\n--\n" + "\n".join(f"point {n}" for n in range(20))
    assert split_reply(body).quoted == ""


def test_a_sent_from_line_in_the_middle_is_not_a_signature() -> None:
    body = "Sent from my iPhone\nis how I write most mail.\nBut this one\nhas\nmany lines."
    assert split_reply(body).quoted == ""


def test_crlf_bodies_are_cut_the_same() -> None:
    assert split_reply(GMAIL.replace("\n", "\r\n")).text == "Thanks, that fixed it."


@pytest.mark.parametrize(
    ("body", "subject", "sender"),
    [
        (
            "FYI\n\n---------- Forwarded message ---------\nFrom: Ann Example <ann@example.com>\n"
            "Date: Mon, 3 Nov 2026\nSubject: hi\n\nold text",
            "Fwd: hi",
            Address("ann@example.com", "Ann Example"),
        ),
        (
            "Begin forwarded message:\n\nFrom: Ann <Ann@Example.com>\nSubject: hi\n\nold text",
            "Fwd: hi",
            Address("ann@example.com", "Ann"),
        ),
        (
            "See below\n\nFrom: Ann Example [mailto:ann@example.com]\nSent: Monday\nTo: Bob\n"
            "Subject: hi\n\nold text",
            "FW: hi",
            Address("ann@example.com", "Ann Example"),
        ),
        (
            "See below\n\n________________________________\nFrom: *Ann* <ann@example.com>\n"
            "Sent: Monday\nTo: Bob\nSubject: hi\n\nold text",
            "WG: hi",
            Address("ann@example.com", "Ann"),
        ),
        (
            "-------- Weitergeleitete Nachricht --------\nVon: Ann <ann@example.com>\n\nalt",
            "",
            Address("ann@example.com", "Ann"),
        ),
    ],
)
def test_forwarded_sender_and_the_forward_is_never_cut(
    body: str, subject: str, sender: Address
) -> None:
    assert forwarded_sender(body, subject=subject) == sender
    assert split_reply(body, subject=subject) == Reply(body.strip(), "")


def test_an_outlook_block_in_a_reply_is_history_not_a_forward() -> None:
    assert forwarded_sender(OUTLOOK_BLOCK, subject="RE: Reset") is None
    assert split_reply(OUTLOOK_BLOCK, subject="RE: Reset").text == "Thanks, that fixed it."


def test_a_forward_inside_quoted_history_is_not_this_mails_forward() -> None:
    body = (
        "Thanks!\n\nOn Mon, 3 Nov 2026 at 10:02, Ann <ann@example.com> wrote:\n"
        "> ---------- Forwarded message ---------\n> From: Zed <zed@example.com>\n> hi"
    )
    assert forwarded_sender(body) is None
    assert split_reply(body).text == "Thanks!"


def test_a_forward_mark_without_a_from_line_gives_no_sender() -> None:
    assert forwarded_sender("Begin forwarded message:\n\nno headers here") is None


lines = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40),
        st.sampled_from(
            [
                "> quoted",
                "-- ",
                "--",
                "Sent from my iPhone",
                "On Mon, 3 Nov 2026 at 10:02, Ann <a@x.com> wrote:",
                "-----Original Message-----",
                "________________________________",
                "From: Ann <a@x.com>",
                "Sent: Monday",
                "To: Bob",
                "Subject: hi",
                "---------- Forwarded message ---------",
                "",
            ]
        ),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(lines, st.sampled_from(["", "Re: x", "Fwd: x", "FW: x"]))
def test_text_and_quoted_together_keep_every_character(body_lines: list[str], subject: str) -> None:
    body = "\n".join(body_lines)
    reply = split_reply(body, subject=subject)
    assert "".join((reply.text + reply.quoted).split()) == "".join(body.split())
    assert reply.text.strip() or not body.strip() or not reply.quoted
    assert isinstance(forwarded_sender(body, subject=subject), Address | None)


@pytest.mark.parametrize(
    ("flowed", "delsp", "expected"),
    [
        ("one \ntwo \nthree\nfour", False, "one two three\nfour"),
        ("one\ntwo", False, "one\ntwo"),
        ("hyphen-\nated", False, "hyphen-\nated"),
        ("del \nsp", True, "delsp"),
        ("> quoted \n> more\nnew", False, "> quoted more\nnew"),
        (">> deep \n> shallow", False, ">> deep \n> shallow"),
        (" From stuffed", False, "From stuffed"),
        ("sig \n-- \nAnn", False, "sig \n-- \nAnn"),
        ("text\n-- \nAnn", False, "text\n-- \nAnn"),
        ("trailing \n", False, "trailing "),
    ],
)
def test_format_flowed_is_undone(flowed: str, delsp: bool, expected: str) -> None:
    assert unflow(flowed, delsp=delsp) == expected
