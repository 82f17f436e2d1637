"""Reading the one line a person needs from a calendar invitation (RFC 5545): what the
meeting is called, so that an invite with no other text still says something."""

from __future__ import annotations

import re

_FOLDED = re.compile(r"\r?\n[ \t]")
_ESCAPED = re.compile(r"\\([\\;,nN])")


def invite_summary(calendar: str) -> str | None:
    """The SUMMARY of the first event (or to-do) in an iCalendar text, unescaped."""
    method = None
    for line in _FOLDED.sub("", calendar).splitlines():
        name, _, value = line.partition(":")
        field = name.split(";", 1)[0].strip().upper()
        if field == "METHOD":
            method = value.strip().upper()
        elif field == "SUMMARY" and value.strip():
            summary = " ".join(_ESCAPED.sub(_unescape, value).split())
            return f"Cancelled: {summary}" if method == "CANCEL" else summary
    return None


def _unescape(match: re.Match[str]) -> str:
    character = match.group(1)
    return " " if character in "nN" else character
