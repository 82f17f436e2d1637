"""Reading the header fields of a mail: addresses, dates, Message-IDs, Outlook's
Thread-Index and our case ref in a subject.

Values are taken raw from the parser and decoded here, rather than through the
`email.policy.default` header objects, because those raise on some malformed headers
and a mail must never be refused for a bad header.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from threadline.channels.email.charsets import (
    clean_text,
    decode_words,
    header_text,
    lenient_base64,
    repair_header,
)
from threadline.channels.email.parsed import Address
from threadline.models.cases import REF_PREFIX

_FOLD = re.compile(r"\r?\n|\r")
_COMMENT = re.compile(r"\([^()]*\)")
_ANGLED = re.compile(r"<([^<>]*)>")
_MAILBOX = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")
# Bounded repeats (RFC 5321: 64 for the local part, 255 for the domain) keep the search
# linear on a header that is one long word.
_LOOSE_MAILBOX = re.compile(r"[^\s@<>()\[\],;:\"'\\]{1,64}@[^\s@<>()\[\],;:\"'\\]{1,255}")
_CASE_REF = re.compile(
    rf"\[\s*#?\s*{re.escape(REF_PREFIX.rstrip('-'))}\s*[-#\s]?\s*(\d{{1,12}})\s*\]", re.IGNORECASE
)
_THREAD_INDEX_ROOT_BYTES = 22  # MS-OXOMSG: a 22-byte header names the conversation
_LONGEST_ID = 998  # no header line may be longer (RFC 5322 §2.1.1)


@dataclass(frozen=True)
class Headers:
    """A message's header fields in order, names lower-cased, values unfolded and with
    8-bit bytes read as text, but encoded words still encoded."""

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, message: Message) -> Headers:
        return cls(
            tuple(
                (str(name).strip().lower(), _FOLD.sub("", repair_header(str(value))))
                for name, value in message.raw_items()
            )
        )

    def all(self, name: str) -> list[str]:
        return [value for field, value in self.fields if field == name]

    def first(self, name: str) -> str | None:
        """The first value of `name` that is not blank: a duplicated header is usually
        an empty one added by a broken relay, followed by the real one."""
        for value in self.all(name):
            if value.strip():
                return value
        return None

    def text(self, name: str) -> str:
        """The first value of `name` decoded for reading, or ""."""
        raw = self.first(name)
        return "" if raw is None else header_text(raw)

    def has(self, name: str) -> bool:
        return any(field == name for field, _ in self.fields)

    def names(self) -> list[str]:
        return [field for field, _ in self.fields]


def parse_addresses(raw: str | None) -> tuple[Address, ...]:
    """Every mailbox in an address header, in order, without duplicates or garbage."""
    if not raw:
        return ()
    found: list[Address] = []
    for name, mailbox in getaddresses([raw]):
        address = _mailbox(mailbox)
        if address is None:
            continue
        found.append(Address(address, _display_name(name, address)))
    if not found:
        found.extend(_salvage_addresses(raw))
    seen: set[str] = set()
    unique: list[Address] = []
    for item in found:
        if item.address not in seen:
            seen.add(item.address)
            unique.append(item)
    return tuple(unique)


def first_address(raw: str | None) -> Address | None:
    addresses = parse_addresses(raw)
    return addresses[0] if addresses else None


def _mailbox(value: str) -> str | None:
    address = clean_text(value).strip().strip("<>").strip().lower()
    if len(address) > 320 or not _MAILBOX.match(address):
        return None
    return address


def _display_name(raw_name: str, address: str) -> str | None:
    name = " ".join(clean_text(decode_words(raw_name)).split()).strip("\"' ")
    if not name or name.lower() == address:
        return None
    return name


def _salvage_addresses(raw: str) -> list[Address]:
    """Addresses from a header the address parser could make nothing of, such as
    `Ann Example ann@example.com`: each mailbox-shaped word, the words before it its name."""
    found: list[Address] = []
    position = 0
    for match in _LOOSE_MAILBOX.finditer(raw):
        address = _mailbox(match.group(0))
        if address is not None:
            name = _display_name(raw[position : match.start()].strip(" ,;<[:"), address)
            found.append(Address(address, name))
        position = match.end()
    return found


def mail_date(raw: str | None) -> datetime | None:
    """The Date header as an aware UTC datetime, or None when it is missing, unreadable
    or absurd (before 1970 or after 9998)."""
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(_COMMENT.sub("", raw).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "-0000": the sender did not know its zone
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if not 1970 <= moment.year <= 9998:
        return None
    return moment


def normalise_message_id(value: str) -> str | None:
    """A Message-ID without angle brackets, comments or surrounding whitespace, or None
    when nothing usable is left. Case is kept: the left part is case-sensitive."""
    text = clean_text(repair_header(value))
    text = _COMMENT.sub(" ", _FOLD.sub("", text))
    angled = _ANGLED.search(text)
    candidate = angled.group(1) if angled else text
    candidate = candidate.strip().strip("<>").strip()
    if not candidate or len(candidate) > _LONGEST_ID or any(c.isspace() for c in candidate):
        return None
    return candidate


def message_ids(value: str) -> tuple[str, ...]:
    """Every Message-ID in a References or In-Reply-To header, in order, without
    duplicates. Ids written without angle brackets are accepted when they look like one."""
    text = _COMMENT.sub(" ", _FOLD.sub("", clean_text(repair_header(value))))
    if "<" in text:
        candidates = _ANGLED.findall(text)
    else:
        candidates = [word for word in re.split(r"[\s,]+", text) if "@" in word]
    ids: dict[str, None] = {}  # ordered, and a set for the duplicate check
    for candidate in candidates:
        normal = normalise_message_id(f"<{candidate}>")
        if normal is not None:
            ids.setdefault(normal)
    return tuple(ids)


def thread_index_root(raw: str | None) -> str | None:
    """Outlook's conversation key: the first 22 bytes of Thread-Index, base64 again.

    Outlook drops In-Reply-To on some replies but keeps Thread-Index, whose header names
    the conversation and whose tail grows by 5 bytes a reply."""
    if not raw:
        return None
    data = lenient_base64(raw.strip())
    if len(data) < _THREAD_INDEX_ROOT_BYTES:
        return None
    return base64.b64encode(data[:_THREAD_INDEX_ROOT_BYTES]).decode("ascii")


def case_ref_in_subject(subject: str) -> str | None:
    """The case ref in a subject's brackets, written as we write it: "[TL-1042]",
    "[tl-1042]", "[TL 1042]" and "[#TL-1042]" all give "TL-1042". A ref outside
    brackets is ignored: customers write numbers for other reasons."""
    match = _CASE_REF.search(subject)
    if match is None:
        return None
    return f"{REF_PREFIX}{int(match.group(1))}"
