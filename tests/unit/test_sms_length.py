from hypothesis import given
from hypothesis import strategies as st

from app.domain.sms_length import GSM7_BASIC, measure


def test_plain_english_is_gsm7_and_160_fit_one_segment() -> None:
    assert measure("a" * 160).segments == 1 and measure("a" * 160).encoding == "GSM-7"
    assert measure("a" * 161).segments == 2
    assert measure("a" * 306).segments == 2 and measure("a" * 307).segments == 3


def test_extension_characters_count_twice() -> None:
    assert measure("€" * 80).units == 160 and measure("€" * 80).segments == 1
    assert measure("€" * 81).segments == 2


def test_one_accent_outside_gsm7_makes_the_whole_text_ucs2() -> None:
    text = "Pague aquí " + "a" * 60
    assert measure(text).encoding == "UCS-2" and measure(text).segments == 2
    assert measure("é ñ ü à").encoding == "GSM-7"  # these are in the GSM alphabet


@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=1000))
def test_gsm7_segments_hold_every_septet(text: str) -> None:
    length = measure(text)
    capacity = 160 if length.segments == 1 else 153 * length.segments
    assert length.units <= capacity
    assert length.segments == 1 or length.units > 160
