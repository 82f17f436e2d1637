"""Normalising identities, so that one person's address always matches itself: emails
lower-cased and checked, phone numbers in E.164, handles without `@`. Pure functions."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from threadline.errors import InvalidInput
from threadline.vocabulary import IdentityKind

_X_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,200}$")
_CARD = re.compile(r"^[A-Z0-9]{4,32}$")


def normalise(kind: IdentityKind | str, value: str, *, region: str = "GB") -> str:
    """The canonical form of `value` for `kind`, or InvalidInput saying what is wrong."""
    if not isinstance(kind, str):
        raise InvalidInput(f"unknown identity kind {kind!r}")
    if not isinstance(value, str):
        raise InvalidInput(f"{kind} identity must be text")
    return _normalise(kind, value, region)


# Customers write again and again from the same address: the checks (email-validator,
# phonenumbers) cost tens of microseconds each, so answers are remembered. Refusals are
# exceptions, which the cache does not keep.
@lru_cache(maxsize=65_536)
def _normalise(kind: IdentityKind | str, value: str, region: str) -> str:
    try:
        kind = IdentityKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in IdentityKind)
        raise InvalidInput(f"unknown identity kind {kind!r}; use one of: {known}") from None
    if not isinstance(value, str):
        raise InvalidInput(f"{kind.value} identity must be text")
    text = value.strip()
    if not text:
        raise InvalidInput(f"{kind.value} identity is empty")
    match kind:
        case IdentityKind.EMAIL:
            return _email(text)
        case IdentityKind.PHONE:
            return _phone(text, region)
        case IdentityKind.WHATSAPP:
            # WhatsApp ids are phone numbers without `+` (wa_id) or business-scoped ids.
            digits = text.removeprefix("whatsapp:").removeprefix("+")
            if digits.isdigit():
                return _phone("+" + digits, region).removeprefix("+")
            return _opaque(kind, text)
        case IdentityKind.X:
            handle = text.removeprefix("@")
            if not _X_HANDLE.match(handle):
                raise InvalidInput(
                    f"{value!r} is not an X handle (1-15 letters, digits or underscores)"
                )
            return handle.lower()
        case IdentityKind.LOYALTY_CARD:
            card = re.sub(r"[\s\-]", "", text).upper()
            if not _CARD.match(card):
                raise InvalidInput(f"{value!r} is not a loyalty-card number")
            return card
        case _:
            return _opaque(kind, text)


def _email(text: str) -> str:
    try:
        checked = validate_email(
            text, check_deliverability=False, allow_smtputf8=True, globally_deliverable=False
        )
    except EmailNotValidError as exc:
        raise InvalidInput(f"{text!r} is not an email address: {exc}") from None
    # Lower-case all of it: mailboxes that differ only in case are one person in practice.
    return checked.normalized.lower()


def _phone(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"{text!r} is not a phone number: {exc}") from None
    # "Possible" rather than "valid": a number the metadata does not know yet may still be
    # a real customer calling, and refusing it would lose their message.
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(f"{text!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _opaque(kind: IdentityKind, text: str) -> str:
    if not _OPAQUE_ID.match(text):
        raise InvalidInput(f"{text!r} is not a valid {kind.value} id")
    return text


_LANDLINE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
    }
)


def takes_messages(e164: str) -> bool:
    """Whether a normalised phone number may receive SMS: anything but a number known to
    be a landline (unknown ranges are given the benefit of the doubt)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) not in _LANDLINE_TYPES
