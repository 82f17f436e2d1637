"""Separating what a person newly wrote from the history and signature their mail
client appended, and spotting a forwarded mail inside a body.

Mail clients mark quoted history in a handful of shapes: Gmail and Apple Mail write an
attribution line ("On ..., Ann wrote:") before "> " lines; Outlook writes
"-----Original Message-----", or a rule and a "From: / Sent: / To: / Subject:" block.
The cut is made at the first such mark; a trailing run of "> " lines with no mark is cut
too. Inline answers between quotes are kept whole, and when the cut would leave nothing,
nothing is cut: losing what the customer wrote is worse than showing too much.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from threadline.channels.email.headers import first_address
from threadline.channels.email.parsed import Address

# An attribution line, possibly wrapped over up to three lines by the client.
_ATTRIBUTION = re.compile(
    r"""^\s*(?:
        On\s.{4,300}\swrote\s*:
      | Am\s.{4,300}\sschrieb\s.{0,120}:
      | Le\s.{4,300}\sa\s+écrit\s*:
      | El\s.{4,300}\sescribió\s*:
      | Op\s.{4,300}\sschreef\s.{0,120}:
      | Il\s.{4,300}\sha\s+scritto\s*:
      | Den\s.{4,300}\sskrev\s.{0,120}:
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# "Ann Example <ann@example.com> wrote:" and the like, trusted only before "> " lines.
_LOOSE_ATTRIBUTION = re.compile(r"^.{1,200}\b(?:wrote|writes|schrieb|a écrit)\s*:\s*$", re.I)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine"
    r"|Mensaje original|Messaggio originale|Oorspronkelijk bericht|Originalmeddelande)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD_MARK = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:Forwarded\s+message|Weitergeleitete\s+Nachricht|Message\s+transféré
          |Mensaje\s+reenviado|Messaggio\s+inoltrato|Doorgestuurd\s+bericht)\s*-{2,}
      | Begin\s+forwarded\s+message\s*:
      | Anfang\s+der\s+weitergeleiteten\s+Nachricht\s*:
      | Début\s+du\s+message\s+réexpédié\s*:
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_HEADER_FROM = re.compile(r"^\s*\**\s*(?:From|Von|De|Van|Da|Från|Fra)\s*\**\s*:\s*\**(.*)$", re.I)
_HEADER_SENT = re.compile(
    r"^\s*\**\s*(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha|Verzonden|Inviato|Data"
    r"|Skickat|Sendt)\s*\**\s*:",
    re.IGNORECASE,
)
_HEADER_TO_OR_SUBJECT = re.compile(
    r"^\s*\**\s*(?:To|Subject|An|Betreff|À|A|Para|Asunto|Aan|Onderwerp|Oggetto|Objet"
    r"|Till|Ämne|Til|Emne|Cc)\s*\**\s*:",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*(?:_{3,}|-{3,})\s*$")
_OUTLOOK_RULE = re.compile(r"^\s*_{30,}\s*$")
_MOBILE_SIGNATURE = re.compile(
    r"""^\s*(?:
        Sent\s+from\s+my\s+\S.{0,40}
      | Sent\s+from\s+(?:Mail|Outlook|Yahoo\s+Mail|Gmail|Proton\s*Mail)\b.{0,60}
      | Get\s+Outlook\s+for\s+\S+.{0,20}
      | Sent\s+from\s+Outlook\s+for\s+\S+
      | Von\s+meinem\s+\S+(?:\s+\S+)?\s+gesendet\.?
      | Envoyé\s+de\s+mon\s+\S+.{0,20}
      | Enviado\s+desde\s+mi\s+\S+.{0,20}
      | Verzonden\s+(?:vanaf|met)\s+(?:mijn\s+)?\S+.{0,20}
      | Inviato\s+da\s+\S+.{0,20}
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc|doorst|vs|vb|i)\s*:", re.IGNORECASE)
_MAILTO_BRACKETS = re.compile(r"\[\s*mailto:([^\]\s]+)\s*\]", re.IGNORECASE)
_HEADER_BLOCK_SPAN = 6  # lines after "From:" in which "Sent:" and "To:" must appear
_LOOSE_SIGNATURE_LINES = 10  # "--" without its space is a signature only this short
_TRAILER_LINES = 3  # "Sent from my iPhone" only counts among the last lines


@dataclass(frozen=True)
class Reply:
    """A body cut in two: `text` the person wrote, `quoted` the history and signature."""

    text: str
    quoted: str


def split_reply(body: str, *, subject: str = "") -> Reply:
    """The body cut where quoted history or a signature starts.

    A forwarded mail is never cut: what was forwarded is what the customer wants read.
    `subject` tells a forward ("Fw: ...") from a reply when Outlook uses the same header
    block for both."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if _forward_start(lines, subject) is not None:
        return Reply(body.strip(), "")
    quote = _quote_start(lines)
    end = quote if quote is not None else len(lines)
    signature = _signature_start(lines, end)
    cut = min(end, signature) if signature is not None else end
    text = "\n".join(lines[:cut]).strip()
    if not text or cut >= len(lines):
        return Reply(body.strip(), "")
    return Reply(text, "\n".join(lines[cut:]).strip())


def forwarded_sender(body: str, *, subject: str = "") -> Address | None:
    """Who wrote the mail forwarded inside `body`, from the "From:" line after a forward
    mark ("---------- Forwarded message ---------", "Begin forwarded message:", or an
    Outlook header block in a mail whose subject says it is a forward)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _forward_start(lines, subject)
    if start is None:
        return None
    for line in lines[start : start + _HEADER_BLOCK_SPAN + 3]:
        match = _HEADER_FROM.match(line)
        if match:
            value = _MAILTO_BRACKETS.sub(r"<\1>", match.group(1).replace("*", ""))
            return first_address(value)
    return None


def _forward_start(lines: list[str], subject: str) -> int | None:
    """Where a forwarded mail begins, if it begins before any quoted history."""
    quote = _quote_start(lines)
    limit = quote if quote is not None else len(lines)
    for index in range(limit):
        if _FORWARD_MARK.match(lines[index]):
            return index
    if quote is None or not _FORWARD_SUBJECT.match(subject):
        return None
    # Outlook forwards with the same block it quotes replies with; the cut may sit on
    # the rule above the block.
    for index in range(quote, min(len(lines), quote + 3)):
        if _header_block_at(lines, index):
            return index
    return None


def _quote_start(lines: list[str]) -> int | None:
    """The first line of quoted history, or None."""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _is_attribution(lines, index):
            if _answers_inline(lines, index):
                break  # the person answers between the quoted lines: it is all theirs
            return _include_rule_above(lines, index)
        if _ORIGINAL_MESSAGE.match(line) or _header_block_at(lines, index):
            return _include_rule_above(lines, index)
        if _OUTLOOK_RULE.match(line) and index + 1 < len(lines):
            return index
    return _trailing_quote_start(lines)


def _answers_inline(lines: list[str], start: int) -> bool:
    """Whether unquoted lines follow quoted ones after `start` (before any signature):
    the shape of a reply written between the quoted questions."""
    seen_quote = False
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith(">"):
            seen_quote = True
        elif line == "-- " or stripped == "--":
            return False
        elif stripped and seen_quote:
            return True
    return False


def _is_attribution(lines: list[str], index: int) -> bool:
    joined = lines[index].strip()
    for extra in range(3):
        if extra:
            following = index + extra
            if following >= len(lines) or not lines[following].strip():
                return False
            joined = f"{joined} {lines[following].strip()}"
        if _ATTRIBUTION.match(joined):
            return True
    return False


def _header_block_at(lines: list[str], index: int) -> bool:
    """Whether an Outlook-style "From: / Sent: / To: / Subject:" block starts here."""
    if not _HEADER_FROM.match(lines[index]):
        return False
    following = lines[index + 1 : index + 1 + _HEADER_BLOCK_SPAN]
    return any(_HEADER_SENT.match(line) for line in following) and any(
        _HEADER_TO_OR_SUBJECT.match(line) for line in following
    )


def _include_rule_above(lines: list[str], index: int) -> int:
    """Moves the cut up over the rule (and blank lines) Outlook puts above its block."""
    above = index - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0 and (_RULE.match(lines[above]) or _ORIGINAL_MESSAGE.match(lines[above])):
        return above
    return index


def _trailing_quote_start(lines: list[str]) -> int | None:
    """The start of a run of "> " lines that only blank lines follow, taking in the
    attribution line just above it."""
    start = None
    for index in range(len(lines) - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped.startswith(">"):
            start = index
        elif stripped:
            break
    if start is None:
        return None
    above = start - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0 and _LOOSE_ATTRIBUTION.match(lines[above].strip()):
        return above
    return start


def _signature_start(lines: list[str], end: int) -> int | None:
    """The first line of a signature before line `end`: "-- " (RFC 3676), or a mobile
    "Sent from my iPhone" among the last few lines."""
    for index in range(end - 1, -1, -1):
        line = lines[index]
        if line == "-- " or (line.strip() == "--" and end - index <= _LOOSE_SIGNATURE_LINES):
            return index
    written = [index for index in range(end) if lines[index].strip()]
    for index in written[-_TRAILER_LINES:]:
        if _MOBILE_SIGNATURE.match(lines[index]):
            return index
    return None
