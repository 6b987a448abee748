"""What a search query means: a number (account start or phone digits), a name, or too short."""

from __future__ import annotations

import pytest

from app.store.search import MIN_CHARS, Needle, needle


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("100002", "100002"),
        ("(512) 555-0102", "5125550102"),
        ("512.555.0102", "5125550102"),
        ("+1 512 555 0102", "5125550102"),
        ("15125550102", "5125550102"),  # the US country code is not part of a stored number
        ("1512555010", "1512555010"),  # ten digits: nothing to drop
        ("25125550102", "25125550102"),
        ("555", "555"),
    ],
)
def test_digits_with_phone_punctuation_are_a_number(typed: str, number: str) -> None:
    assert needle(typed) == Needle(number, number=True)


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Carter", "carter"),
        ("  James   CARTER ", "james carter"),
        ("Carter, James", "carter, james"),
        ("james\x00car", "james car"),  # invisible characters count as spaces
        ("Apt 12", "apt 12"),  # a letter makes it a name
        ("50%", None),
        ("Zoë", "zoë"),
        ("٣٣٣", "٣٣٣"),  # digits of another script are not an account or a phone
    ],
)
def test_anything_else_is_part_of_a_name(typed: str, name: str | None) -> None:
    assert needle(typed) == (Needle(name, number=False) if name else None)


@pytest.mark.parametrize("typed", ["", "  ", "ca", "12", "+1", "1-2", "a b", "%%", "__"])
def test_fewer_than_three_letters_or_digits_do_not_search(typed: str) -> None:
    assert MIN_CHARS == 3 and needle(typed) is None
