"""HTML mail made readable: structure kept as line breaks, links as "text (url)",
blockquotes as "> " lines, and nothing from <style> or <script>."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.channels.email.htmltext import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("one<br>two<br/>three", "one\ntwo\nthree"),
        ("<p>one<br><br>two</p>", "one\n\ntwo"),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ("<ol><li>a</li><li>b</li></ol>", "1. a\n2. b"),
        ("<ul><li>a<ul><li>inner</li></ul></li></ul>", "- a\n  - inner"),
        ("<li>stray item</li>", "- stray item"),
        ('<a href="https://x.example/p">the page</a>', "the page (https://x.example/p)"),
        ('<a href="https://x.example/">https://x.example/</a>', "https://x.example/"),
        ('<a href="https://x.example">x.example</a>', "x.example"),
        ('<a href="mailto:a@x.example">a@x.example</a>', "a@x.example"),
        ('<a href="mailto:a@x.example">write to us</a>', "write to us (a@x.example)"),
        ('<a href="#top">top</a> <a href="javascript:x()">js</a>', "top js"),
        (
            '<a href="https://x.example/i"><img src="i.png" alt="Logo"></a>',
            "Logo (https://x.example/i)",
        ),
        ('<a href="https://x.example/e"></a>', "https://x.example/e"),
        ("<style>p{color:red}</style><p>shown</p>", "shown"),
        ("<script>alert('no')</script>shown", "shown"),
        ("<title>Title</title><p>shown</p>", "shown"),
        ("<head><meta charset=utf-8></head><body>shown</body>", "shown"),
        ("a &amp; b &lt;c&gt; &nbsp;d&#8364;", "a & b <c> d€"),
        ("  lots   of \n\n spaces  ", "lots of spaces"),
        ("<pre>  keep\n    indent</pre>", "  keep\n    indent"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("<h1>Title</h1>text", "Title\n\ntext"),
        ("<p>para</p><hr><p>after</p>", "para\n\n----\n\nafter"),
        ("<blockquote>quoted</blockquote>", "> quoted"),
        (
            "<p>new</p><blockquote><p>old</p><blockquote>older</blockquote></blockquote>",
            "new\n\n> old\n>\n> > older",
        ),
        ("", ""),
        ("plain text only", "plain text only"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("<style>never closed p{}", ""),
        ("<!-- comment -->shown<![CDATA[x]]>", "shown"),
        ("<section>one</section><section>two</section>", "one\ntwo"),
        ("<h5>Small title</h5>text", "Small title\n\ntext"),
        ("<dl><dt>Size</dt><dd>Large</dd></dl>", "Size\nLarge"),
        ("<center>middle</center>after", "middle\nafter"),
        ("<span>in</span><font>line</font>", "inline"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_a_gmail_reply_keeps_its_attribution_above_the_quote() -> None:
    html = (
        '<div dir="ltr">Fixed, thanks!</div><br><div class="gmail_quote"><div class="gmail_attr">'
        "On Mon, 3 Nov 2026 at 10:02, Ann &lt;ann@x.example&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Did it help?</blockquote></div>'
    )
    assert html_to_text(html) == (
        "Fixed, thanks!\n\n"
        "On Mon, 3 Nov 2026 at 10:02, Ann <ann@x.example> wrote:\n\n"
        "> Did it help?"
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(
                [
                    "<p>",
                    "</p>",
                    "<br>",
                    "<blockquote>",
                    "</blockquote>",
                    "<style>",
                    "</style>",
                    "<script>",
                    "</script>",
                    "<a href='x'>",
                    "</a>",
                    "<li>",
                    "<ul>",
                    "</ul>",
                    "<ol>",
                    "<pre>",
                    "</pre>",
                    "<",
                    ">",
                    "&",
                    "&#",
                    "&#x110000;",
                    "<!--",
                    "<![",
                    "<img alt='a'>",
                ]
            ),
        ),
        max_size=40,
    )
)
def test_html_to_text_never_raises(pieces: list[str]) -> None:
    text = html_to_text("".join(pieces))
    assert isinstance(text, str)
    assert "<script>" not in text
