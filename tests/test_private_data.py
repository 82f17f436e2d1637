"""The private-data heuristic that guards public replies: what it must catch, and the
everyday figures (order numbers, prices, dates) it must leave alone."""

from __future__ import annotations

import pytest

from threadline.private_data import PrivateKind, find_private_data, luhn_valid


def kinds(text: str) -> list[PrivateKind]:
    return [finding.kind for finding in find_private_data(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your card 4111 1111 1111 1111 was charged", [PrivateKind.CARD]),
        ("card 4111-1111-1111-1111", [PrivateKind.CARD]),
        ("card 5555555555554444", [PrivateKind.CARD]),
        ("Amex 3782 822463 10005", [PrivateKind.CARD]),
        ("a long number 1234 5678 9012 3456 that fails the check", [PrivateKind.CARD]),
        ("write to ann.baker+shop@example.co.uk", [PrivateKind.EMAIL]),
        ("call 07700 900123", [PrivateKind.PHONE]),
        ("call +44 7700 900123", [PrivateKind.PHONE]),
        ("call (020) 7946-0018", [PrivateKind.PHONE]),
        ("delivered to 12 Acacia Avenue", [PrivateKind.ADDRESS]),
        ("postcode SW1A 1AA", [PrivateKind.ADDRESS]),
        ("4b High Street, EC1V 9HX", [PrivateKind.ADDRESS, PrivateKind.ADDRESS]),
        (
            "ann@example.com, 07700 900123, 4111 1111 1111 1111",
            [PrivateKind.EMAIL, PrivateKind.PHONE, PrivateKind.CARD],
        ),
    ],
)
def test_private_data_is_found(text: str, expected: list[PrivateKind]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, we will sort it out today",
        "Order 1042 cost 24.99 on 12/03/2026",
        "A refund of 1,299.00 is on its way",
        "Reference TL-1042, version 3.2.1",
        "We open at 09:00 and close at 17:30",
        "Tracking 1Z999AA10123456784",
        "Ten out of 10, 100% sorted",
        "Your 2 items are on the way",
        "",
    ],
)
def test_everyday_text_is_left_alone(text: str) -> None:
    assert find_private_data(text) == []


def test_the_card_check_digit() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_a_finding_quotes_what_it_matched() -> None:
    (finding,) = find_private_data("mine is 4111 1111 1111 1111, thanks")
    assert finding.excerpt == "4111 1111 1111 1111"
    assert finding.kind.label == "a card number"
