"""What personal data is masked, and what is left readable (order numbers, dates, amounts)."""

from __future__ import annotations

import pytest

from botsvc.redact import Redactor

R = Redactor()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail me at jane.doe+shop@example.co.uk!", "mail me at [EMAIL]!"),
        ("card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please"),
        ("GB82WEST12345698765432", "[IBAN]"),
        ("call (415) 555-2671 or +49 30 901820", "call [PHONE] or [PHONE]"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert R.text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order NW-482913 placed on 2024-05-01 for 123.45 EUR",
        "4111111111111112 fails the Luhn check",  # not a card number
        "DE00 0000 0000 0000 0000 00 is no IBAN",  # fails mod 97
        "tracking 1Z999AA10123456784",
        "see you at 10:30 on 12/05",
    ],
)
def test_what_is_not_personal_data_stays_readable(text: str) -> None:
    assert R.text(text) == text


def test_the_site_names_its_own_patterns() -> None:
    r = Redactor.with_patterns([r"customer_no=C\d{8}", r"\bSSN \d{3}-\d{2}-\d{4}"])
    assert r.text("I am C12345678, SSN 123-45-6789") == "I am [CUSTOMER_NO], [REDACTED]"


def test_json_values_keep_their_shape_and_the_keys_asked_for() -> None:
    value = {
        "text": "reach me at a@b.io",
        "n": 3,
        "items": [{"t": "4111 1111 1111 1111"}],
        "customer": {"email": "a@b.io"},
    }
    assert R.value(value, keep=frozenset({"customer"})) == {
        "text": "reach me at [EMAIL]",
        "n": 3,
        "items": [{"t": "[CARD]"}],
        "customer": {"email": "a@b.io"},
    }
