"""Identity normalisation: one person's address always matches itself, and nothing a
customer might type crashes it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.errors import InvalidInput
from threadline.identities import normalise
from threadline.vocabulary import IdentityKind

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
uk_mobile_tail = st.text("0123456789", min_size=6, max_size=6)


@given(st.emails())
def test_email_is_lowercased_and_stable(address: str) -> None:
    try:
        normal = normalise(IdentityKind.EMAIL, address)
    except InvalidInput:
        return  # hypothesis' addresses include some that RFC 5321 allows but we refuse
    assert normal == normal.lower()
    assert normalise(IdentityKind.EMAIL, normal) == normal
    assert normalise(IdentityKind.EMAIL, f"  {address.upper()} ") == normal


@given(uk_mobile_tail)
def test_every_way_of_writing_a_phone_number_is_one_identity(tail: str) -> None:
    spaced = f"{tail[:3]} {tail[3:]}"
    forms = [
        f"07700 {spaced}",
        f"07700{tail}",
        f"+44 7700 {spaced}",
        f"+447700{tail}",
        f"0044 7700 {tail}",
        f"(07700) {tail[:3]}-{tail[3:]}",
    ]
    normals = {normalise(IdentityKind.PHONE, form, region="GB") for form in forms}
    assert normals == {f"+447700{tail}"}


@given(st.text(min_size=1, max_size=20))
def test_phone_normal_form_is_e164_and_idempotent(text: str) -> None:
    try:
        normal = normalise(IdentityKind.PHONE, text, region="US")
    except InvalidInput:
        return
    assert E164.match(normal)
    assert normalise(IdentityKind.PHONE, normal, region="GB") == normal


@given(st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True))
def test_x_handles_ignore_at_sign_and_case(handle: str) -> None:
    assert normalise(IdentityKind.X, f"@{handle}") == handle.lower()
    assert normalise(IdentityKind.X, handle.upper()) == handle.lower()


@given(st.sampled_from(list(IdentityKind)), st.text(max_size=60))
def test_any_text_either_normalises_or_is_refused_clearly(kind: IdentityKind, text: str) -> None:
    try:
        normal = normalise(kind, text)
    except InvalidInput as exc:
        refusal = exc.message
        assert refusal
        return
    assert normal
    assert normal == normal.strip()
    assert normalise(kind, normal) == normal


def test_loyalty_cards_ignore_spaces_dashes_and_case() -> None:
    assert normalise(IdentityKind.LOYALTY_CARD, "hv-2041 7788") == "HV20417788"


def test_whatsapp_ids_are_phone_digits() -> None:
    assert normalise(IdentityKind.WHATSAPP, "whatsapp:+447700900123") == "447700900123"
    assert normalise(IdentityKind.WHATSAPP, "447700900123") == "447700900123"


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("email", "ann", "not an email address"),
        ("email", "", "empty"),
        ("phone", "call me", "not a phone number"),
        ("phone", "+44 12", "not a possible phone number"),
        ("x", "@way_too_long_for_x_handles", "not an X handle"),
        ("telegram", "ann", "unknown identity kind"),
        ("loyalty_card", "??", "not a loyalty-card number"),
    ],
)
def test_refusals_say_what_is_wrong(kind: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        normalise(kind, value)
