"""Phone numbers: parsed with phonenumbers (region US), stored as E.164, masked in logs."""

from __future__ import annotations

import phonenumbers

from app.domain.errors import InvalidPhone


def normalize(raw: str, region: str = "US") -> str:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("Enter the mobile number to text the link to.")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national(e164: str) -> str:
    """`+15125550101` -> `(512) 555-0101`."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask(e164: str) -> str:
    """For logs: only the last four digits."""
    return "***" + e164[-4:] if e164 else ""


def digits(text: str) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())
