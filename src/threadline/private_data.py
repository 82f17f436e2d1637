"""A small heuristic that spots private data in text an agent is about to post in
public: card numbers, email addresses, phone numbers and postal addresses. It exists to
warn, not to block: it errs towards warning on what looks like private data, and keeps
order numbers, prices and dates out of its findings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class PrivateKind(StrEnum):
    CARD = "card_number"
    EMAIL = "email_address"
    PHONE = "phone_number"
    ADDRESS = "postal_address"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    PrivateKind.CARD: "a card number",
    PrivateKind.EMAIL: "an email address",
    PrivateKind.PHONE: "a phone number",
    PrivateKind.ADDRESS: "a postal address",
}


@dataclass(frozen=True)
class Finding:
    kind: PrivateKind
    excerpt: str  # the matched text, for the warning to point at


# Digits with single spaces or dashes between them, as cards and phones are written.
_DIGIT_RUN = re.compile(r"(?<![\w.,])\+?\(?\d(?:[\d()]|[ \-.](?=[\d(]))*\d(?![\w]|[.,]\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
# A UK postcode (SW1A 1AA, M1 1AE, EC1V 9HX).
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
# A house number and a street: "12 Acacia Avenue", "4b High Street".
# Street names are written with capitals; "2 items on the way" is no address.
_STREET = re.compile(
    r"(?<![\d.,])\b\d{1,4}[a-z]?,?\s+(?:[A-Z][A-Za-z'-]*\s+){1,3}"
    r"(?i:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|place|pl|crescent|"
    r"court|ct|gardens|terrace|boulevard|blvd|square|sq|hill|grove|mews|row)\b\.?"
)

CARD_DIGITS = range(13, 20)
PHONE_DIGITS = range(9, 16)


def luhn_valid(digits: str) -> bool:
    """The check digit every payment card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _digit_finding(run: str) -> Finding | None:
    digits = re.sub(r"\D", "", run)
    if len(digits) in CARD_DIGITS and luhn_valid(digits) and not run.startswith("+"):
        return Finding(PrivateKind.CARD, run)
    looks_dialled = run.startswith(("+", "0", "(")) or " " in run or "-" in run
    if len(digits) in PHONE_DIGITS and looks_dialled:
        return Finding(PrivateKind.PHONE, run)
    if len(digits) in CARD_DIGITS:
        # A long number that fails the check is still worth a second look in public.
        return Finding(PrivateKind.CARD, run)
    return None


def find_private_data(text: str) -> list[Finding]:
    """What in `text` looks private, in the order it appears; empty when nothing does."""
    found: list[tuple[int, Finding]] = []
    emails = list(_EMAIL.finditer(text))
    for match in emails:
        found.append((match.start(), Finding(PrivateKind.EMAIL, match.group())))
    taken = [(m.start(), m.end()) for m in emails]
    for match in _DIGIT_RUN.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        finding = _digit_finding(match.group())
        if finding is not None:
            found.append((match.start(), finding))
    for pattern in (_STREET, _POSTCODE):
        for match in pattern.finditer(text):
            found.append((match.start(), Finding(PrivateKind.ADDRESS, match.group().strip())))
    return [finding for _, finding in sorted(found, key=lambda pair: pair[0])]
