"""Reminders: when one is due, whom the run skips, which words ask for a link, which vehicle a
PAY is about, and the texts themselves (GSM-7, two segments at most, both languages)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import reminders as rules
from app.domain.reminders import Owner, Target
from app.domain.sms_length import measure
from app.services.reminders import short_date
from app.services.texts import Recipient, render_text

TODAY = date(2026, 11, 25)
AROUND = st.text(alphabet=" \t\n.,;:!?¡¿'\"()*-", max_size=5)


def test_a_reminder_is_due_when_paid_through_is_exactly_n_days_away() -> None:
    assert rules.reminder_due_on(TODAY, 3) == date(2026, 11, 28)
    assert rules.is_due(date(2026, 11, 28), TODAY, 3)
    for other in (date(2026, 11, 27), date(2026, 11, 29), TODAY, date(2026, 11, 20)):
        assert not rules.is_due(other, TODAY, 3)
    assert rules.is_due(TODAY, TODAY, 0)


@given(st.dates(), st.integers(min_value=0, max_value=60), st.integers(-90, 90))
def test_exactly_one_day_of_the_year_reminds_a_given_paid_through_date(
    paid_through: date, days_before: int, offset: int
) -> None:
    today = paid_through - timedelta(days=days_before)
    assert rules.is_due(paid_through, today, days_before)
    if offset:
        assert not rules.is_due(paid_through, today + timedelta(days=offset), days_before)


@given(st.booleans(), st.booleans(), st.booleans())
def test_whom_the_run_skips_and_why(accepts: bool, autopay: bool, opted_out: bool) -> None:
    why = rules.skip_reason(accepts_payments=accepts, on_autopay=autopay, opted_out=opted_out)
    if accepts and not autopay and not opted_out:
        assert why is None
    else:
        assert why is not None
        assert (why == "payments_not_accepted") == (not accepts)
        if accepts:
            assert why == ("autopay" if autopay else "opted_out")


@given(st.sampled_from(["PAY", "PAGAR"]), AROUND, AROUND, st.data())
def test_pay_and_pagar_in_any_case_with_punctuation_around(
    word: str, before: str, after: str, data: st.DataObject
) -> None:
    cased = "".join(
        c.lower() if data.draw(st.booleans(), label=f"lower {i}") else c for i, c in enumerate(word)
    )
    assert rules.pay_word(before + cased + after) == word


@pytest.mark.parametrize("body", ["PAY", "pay", "Pay!", "PAY.", " pagar ", "PAGAR", "¡Pagar!"])
def test_the_briefs_examples(body: str) -> None:
    assert rules.pay_word(body) in {"PAY", "PAGAR"}


@pytest.mark.parametrize(
    "body", ["", None, "pay later", "PAYMENT", "paypal", "I will pay", "STOP", "p a y", "PAY 30"]
)
def test_other_replies_are_not_a_request(body: str | None) -> None:
    assert rules.pay_word(body) is None


@given(st.text(max_size=30))
def test_only_the_two_words_ever_match(body: str) -> None:
    word = rules.pay_word(body)
    assert word is None or (word in {"PAY", "PAGAR"} and word in body.upper())


def test_the_vehicle_a_pay_is_about() -> None:
    james = Owner(2, (20, 21))
    maria = Owner(1, (10,))
    # 1. the latest reminder to the number (one of the number's clients)
    assert rules.choose_vehicle(Target(2, 21), [james]) == Target(2, 21)
    assert rules.choose_vehicle(Target(1, 10), [maria, james]) == Target(1, 10)
    # 2. no reminder: the number's one client with one vehicle
    assert rules.choose_vehicle(None, [maria]) == Target(1, 10)
    # 3. otherwise never a guess
    assert rules.choose_vehicle(None, [james]) is None
    assert rules.choose_vehicle(None, [maria, Owner(3, (30,))]) is None
    assert rules.choose_vehicle(None, []) is None
    # a reminder whose client no longer has the number does not count
    assert rules.choose_vehicle(Target(9, 90), [maria]) == Target(1, 10)


def test_paid_since_the_reminder() -> None:
    assert rules.already_paid(date(2026, 12, 28), date(2026, 11, 28))
    assert not rules.already_paid(date(2026, 11, 28), date(2026, 11, 28))
    assert not rules.already_paid(date(2026, 12, 28), None)  # no reminder: nothing to compare


# --- the texts -------------------------------------------------------------------------------


def to(language: str, first: str = "James", last: str = "carter") -> Recipient:
    return Recipient(first, last, language, "America/Chicago", "+18005550199")


LONG = {"first": "Christopher", "last": "Montgomery", "vehicle": "2015 Chevrolet Silverado 2500"}


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("long", [False, True])
def test_the_reminder_is_gsm7_in_two_segments_and_says_what_when_how_much(
    language: str, long: bool
) -> None:
    who = to(language, LONG["first"], LONG["last"]) if long else to(language)
    vehicle = LONG["vehicle"] if long else "2015 Ford F-150"
    ends = short_date(date(2026, 9, 28), language)  # "Sep 28" / "28 sept"
    text = render_text(
        "reminder", who, company="Demo Interlock", vehicle=vehicle, amount=1234567, ends=ends
    )
    length = measure(text)
    assert length.encoding == "GSM-7" and length.segments <= 2, (text, length)
    assert "$12,345.67" in text and ends in text and vehicle in text
    assert "(800) 555-0199" in text and "STOP" in text
    assert ("Reply PAY for a secure payment link" if language == "en" else "Responda PAGAR") in text


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("why", ["unknown", "which", "not_accepted", "limit", "paid"])
def test_each_polite_answer_is_one_gsm7_segment_with_the_help_number(
    language: str, why: str
) -> None:
    who = to(language, LONG["first"], LONG["last"])
    text = render_text(
        "reply", who, company="Demo Interlock", why=why, vehicle=LONG["vehicle"], ends="Nov 28"
    )
    length = measure(text)
    assert length.encoding == "GSM-7" and length.segments == 1, (text, length)
    assert "(800) 555-0199" in text and "/pay/" not in text
    assert text.startswith("Demo Interlock: ")


def test_short_dates_in_each_language() -> None:
    assert short_date(date(2026, 11, 28), "en") == "Nov 28"
    assert short_date(date(2026, 11, 28), "es") == "28 nov"
