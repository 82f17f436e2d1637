"""HTML mail as readable plain text: paragraphs, line breaks, list items, links as
"text (url)", and blockquotes as "> " lines so that quoted history in an HTML-only mail
is found the same way as in a plain-text one. Style and script contents never appear.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from threadline.html import sanitise

# Elements whose content is never text a person reads.
# (Not <head>: a missing </head> would hide the whole mail.)
_HIDDEN = frozenset({"style", "script", "title", "noscript", "template", "xml", "svg"})
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "blockquote", "dl"}
)
_LINE = frozenset(
    {
        "div",
        "tr",
        "li",
        "dt",
        "dd",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "center",
        "figure",
        "form",
        "main",
        "nav",
        "aside",
        "caption",
    }
)
_CELL = frozenset({"td", "th"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"})
_SPACES = re.compile(r"[ \t\r\n\f\u00a0\u200b]+")
_TAG = re.compile(r"<[^>]*>")
# Block elements the sanitiser does not allow: it would drop them and run the text of
# neighbouring blocks together, so they become the <p> or <div> it keeps. ([^<>]*
# rather than [^>]*: an unclosed tag costs only the distance to the next "<".)
_OTHER_BLOCK = re.compile(
    r"<(/?)(h5|h6|dl|center|address|figure|figcaption|caption|section|article|header"
    r"|footer|main|nav|aside|form|dt|dd|fieldset|legend|details|summary)\b[^<>]*>",
    re.IGNORECASE,
)
_PARAGRAPH_LIKE = frozenset({"h5", "h6", "dl", "address", "figure"})
_LONGEST_HTML = 4 * 1024 * 1024  # beyond this nobody reads the text; keep parsing time bounded


class _TextWriter(HTMLParser):
    """Collects text line by line, each line remembering how deep in blockquotes it is."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._line: list[str] = []
        self._line_depth = 0
        self._depth = 0  # blockquote nesting
        self._pending_breaks = 0
        self._hidden: list[str] = []
        self._pre = 0
        self._lists: list[list[int]] = []  # per open list: [is_ordered, items so far]
        self._links: list[tuple[str | None, list[str]]] = []  # href, text seen inside

    # -- structure -------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._hidden:
            if tag in _HIDDEN and tag not in _VOID:
                self._hidden.append(tag)
            return
        if tag in _HIDDEN:
            self._hidden.append(tag)
        elif tag == "br":
            self._hard_break()
        elif tag == "hr":
            self._request_breaks(1)
            self._write_raw("----")
            self._request_breaks(1)
        elif tag == "blockquote":
            self._request_breaks(2)
            self._depth += 1
        elif tag in ("ul", "ol"):
            self._request_breaks(2 if not self._lists else 1)
            self._lists.append([tag == "ol", 0])
        elif tag == "li":
            self._start_item()
        elif tag == "pre":
            self._request_breaks(2)
            self._pre += 1
        elif tag in _PARAGRAPH:
            self._request_breaks(2)
        elif tag in _LINE:
            self._request_breaks(1)
        elif tag in _CELL:
            self._write_text(" ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), []))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._write_text(alt)
                for _, label in self._links:
                    label.append(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            if tag == self._hidden[-1]:
                self._hidden.pop()
            return
        if tag == "blockquote":
            self._request_breaks(2)
            self._depth = max(0, self._depth - 1)
            self._request_breaks(2)
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._request_breaks(2 if not self._lists else 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self._request_breaks(2)
        elif tag in _PARAGRAPH:
            self._request_breaks(2)
        elif tag in _LINE:
            self._request_breaks(1)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        for _, label in self._links:
            label.append(data)
        if self._pre:
            for index, piece in enumerate(data.split("\n")):
                if index:
                    self._hard_break()
                self._write_raw(piece)
            return
        self._write_text(data)

    # -- writing ---------------------------------------------------------------------

    def _start_item(self) -> None:
        self._request_breaks(1)
        if not self._lists:
            self._write_raw("- ")
            return
        current = self._lists[-1]
        current[1] += 1
        indent = "  " * (len(self._lists) - 1)
        self._write_raw(f"{indent}{current[1]}. " if current[0] else f"{indent}- ")

    def _close_link(self, href: str | None, seen: list[str]) -> None:
        """Writes the link's address after its text, unless the text already is it."""
        label = _SPACES.sub(" ", "".join(seen)).strip()
        target = (href or "").strip()
        if not target or target.startswith(("#", "javascript:", "cid:", "data:")):
            return
        shown = target.removeprefix("mailto:")
        if label and shown.rstrip("/") in (
            label.rstrip("/"),
            f"http://{label}",
            f"https://{label}",
        ):
            return
        self._write_text(f" ({shown})" if label else shown)

    def _request_breaks(self, count: int) -> None:
        if self._line or self.lines:
            self._pending_breaks = max(self._pending_breaks, count)

    def _hard_break(self) -> None:
        self._flush_pending()
        self._end_line()

    def _flush_pending(self) -> None:
        breaks, self._pending_breaks = self._pending_breaks, 0
        if breaks == 0:
            return
        if self._line:
            self._end_line()
        blank_depth = min(self._depth, self.lines[-1][0]) if self.lines else 0
        for _ in range(breaks - 1):
            self.lines.append((blank_depth, ""))

    def _end_line(self) -> None:
        self.lines.append((self._line_depth, "".join(self._line).rstrip()))
        self._line = []
        self._line_depth = self._depth

    def _write_text(self, data: str) -> None:
        text = _SPACES.sub(" ", data)
        if not text:
            return
        if text == " " and not self._line:
            return
        self._flush_pending()
        if not self._line:
            text = text.lstrip()
            self._line_depth = self._depth
        elif self._line[-1].endswith(" ") and text.startswith(" "):
            text = text[1:]
        if text:
            self._line.append(text)

    def _write_raw(self, text: str) -> None:
        self._flush_pending()
        if not self._line:
            self._line_depth = self._depth
        self._line.append(text)

    def finish(self) -> str:
        self.close()
        if self._line:
            self._end_line()
        rendered = [
            _quote_prefix(depth) + line if line else _quote_prefix(depth).rstrip()
            for depth, line in self.lines
        ]
        return _tidy("\n".join(rendered))


def _quote_prefix(depth: int) -> str:
    return "> " * depth


def _tidy(text: str) -> str:
    """No trailing spaces, no more than one blank line in a row, no blank edges."""
    lines = [line.rstrip() for line in text.split("\n")]
    kept: list[str] = []
    for line in lines:
        if not line and kept and not kept[-1]:
            continue
        kept.append(line)
    return "\n".join(kept).strip("\n")


def html_to_text(html: str) -> str:
    """Readable text from an HTML body. Never raises: markup the parser chokes on is
    stripped of its tags instead.

    The HTML goes through the sanitiser first. Besides dropping scripts and styles, that
    rewrites any tag soup as well-formed HTML: the standard library's parser rescans
    unclosed tags and comments from the start, and takes minutes on a few hundred
    kilobytes of them."""
    writer = _TextWriter()
    try:
        writer.feed(sanitise(_blocks_kept(without_head(html[:_LONGEST_HTML]))))
        return writer.finish()
    except (AssertionError, ValueError, IndexError, RecursionError):
        return _tidy(_SPACES.sub(" ", _TAG.sub(" ", html)))


def _blocks_kept(html: str) -> str:
    return _OTHER_BLOCK.sub(_as_kept_block, html)


def _as_kept_block(match: re.Match[str]) -> str:
    tag = "p" if match.group(2).lower() in _PARAGRAPH_LIKE else "div"
    return f"<{match.group(1)}{tag}>"


def without_head(html: str) -> str:
    """The HTML without its <head>: the sanitiser drops <title> but keeps its text, which
    is no part of the body. (str.find rather than a regex: linear on any input.)"""
    lowered = html.lower()
    for opening, closing in (("<head", "</head>"), ("<title", "</title>")):
        start = lowered.find(opening)
        end = lowered.find(closing, start)
        if start >= 0 and end >= 0:
            html = html[:start] + html[end + len(closing) :]
            lowered = lowered[:start] + lowered[end + len(closing) :]
    return html
