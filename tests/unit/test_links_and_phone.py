from datetime import UTC, datetime, timedelta

import pytest

from app.domain import links, phone
from app.domain.errors import InvalidPhone

T0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def test_tokens_are_256_bit_urlsafe_and_only_the_hash_is_kept() -> None:
    token, digest = links.new_token()
    assert links.well_formed(token)
    assert len(digest) == 64 and token not in digest
    assert links.hash_token(token) == digest
    assert len({links.new_token()[0] for _ in range(200)}) == 200


@pytest.mark.parametrize("bad", ["", "abc", "x" * 42, "x" * 44, "a" * 42 + "/", "../etc/passwd"])
def test_malformed_tokens_are_recognised(bad: str) -> None:
    assert not links.well_formed(bad)


def test_link_expires_exactly_at_ttl() -> None:
    exp = links.expires_at(T0, 600)
    assert not links.is_expired(exp, T0 + timedelta(seconds=599))
    assert links.is_expired(exp, T0 + timedelta(seconds=600))
    assert links.effective_status("opened", exp, T0 + timedelta(seconds=600)) == "expired"
    assert links.effective_status("paid", exp, T0 + timedelta(hours=1)) == "paid"
    assert links.seconds_left(exp, T0 + timedelta(seconds=30)) == 570


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(512) 555-0101", "+15125550101"),
        ("512.555.0102", "+15125550102"),
        ("+1 512 555 0103", "+15125550103"),
        ("15125550104", "+15125550104"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str, e164: str) -> None:
    assert phone.normalize(raw) == e164
    assert phone.national(e164).startswith("(512) 555-01")


@pytest.mark.parametrize("raw", ["", "123", "555-0101", "(000) 555-0101", "not a phone"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        phone.normalize(raw)


def test_masking_keeps_only_last_four() -> None:
    assert phone.mask("+15125550101") == "***0101"
