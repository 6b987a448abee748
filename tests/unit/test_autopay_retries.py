"""AutoPay's retry rules (app/domain/autopay.py): which declines are tried again, on which days,
when the tries are exhausted; and when a card that will expire gets its one warning."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.autopay import (
    DEFAULT_RETRY_DAYS,
    EXPIRY_WARNING_DAYS,
    Attempts,
    after_failure,
    expiry_warning_due,
    is_soft_decline,
    parse_retry_days,
    plan_retry,
    retry_on,
)
from app.domain.cards import expired
from app.domain.sms_length import measure
from app.services.autopay import notices
from app.services.texts import Recipient

FIRST = date(2026, 11, 25)
schedules = st.lists(st.integers(1, 60), min_size=0, max_size=6, unique=True).map(
    lambda days: tuple(sorted(days))
)
soft_codes = st.sampled_from(["insufficient_funds", "processing_error", "try_again_later"])
hard_codes = st.sampled_from(
    ["lost_card", "stolen_card", "expired_card", "do_not_honor", "card_unusable", "generic_decline",
     "something_new", None]
)  # fmt: skip


@pytest.mark.parametrize("code", ["insufficient_funds", "processing_error", "try_again_later"])
def test_soft_declines_are_retried(code: str) -> None:
    assert is_soft_decline(code)


@pytest.mark.parametrize(
    "code", ["lost_card", "stolen_card", "expired_card", "do_not_honor", "card_unusable", None, "x"]
)
def test_hard_and_unknown_declines_are_not(code: str | None) -> None:
    assert not is_soft_decline(code)


def test_the_default_schedule_is_days_1_3_5_after_the_first_failure() -> None:
    assert (
        DEFAULT_RETRY_DAYS == (1, 3, 5) == parse_retry_days("1,3,5") == parse_retry_days(" 1, 3,5 ")
    )
    assert [retry_on(FIRST, n, DEFAULT_RETRY_DAYS) for n in range(5)] == [
        None,  # nothing failed yet: nothing to retry
        date(2026, 11, 26),
        date(2026, 11, 28),
        date(2026, 11, 30),
        None,  # the last retry failed: exhausted
    ]


@pytest.mark.parametrize("text", ["3,1", "1,1", "0", "61", "1,x", "-1"])
def test_a_bad_schedule_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="AUTOPAY_RETRY_DAYS"):
        parse_retry_days(text)


def test_an_empty_schedule_never_retries() -> None:
    assert parse_retry_days("") == ()
    assert plan_retry(Attempts(1, FIRST, "insufficient_funds"), FIRST, ()).why == "exhausted"


def test_a_retry_is_made_on_its_day_not_before_and_late_when_a_run_was_missed() -> None:
    tried = Attempts(failed=1, first_failed_on=FIRST, last_code="insufficient_funds")
    assert plan_retry(tried, FIRST, DEFAULT_RETRY_DAYS).why == "waiting"
    assert plan_retry(tried, FIRST, DEFAULT_RETRY_DAYS).next_on == FIRST + timedelta(days=1)
    on_the_day = plan_retry(tried, FIRST + timedelta(days=1), DEFAULT_RETRY_DAYS)
    assert (on_the_day.attempt, on_the_day.why) == (1, "retry")
    late = plan_retry(tried, FIRST + timedelta(days=2), DEFAULT_RETRY_DAYS)  # a run was missed
    assert (late.attempt, late.why) == (1, "retry")


def test_a_hard_decline_is_never_retried() -> None:
    tried = Attempts(failed=1, first_failed_on=FIRST, last_code="lost_card")
    for offset in range(10):
        plan = plan_retry(tried, FIRST + timedelta(days=offset), DEFAULT_RETRY_DAYS)
        assert (plan.attempt, plan.next_on, plan.why) == (None, None, "hard")


@given(schedules, soft_codes, st.integers(0, 90))
def test_retry_days_are_after_the_first_failure_and_increase(
    days: tuple[int, ...], code: str, offset: int
) -> None:
    first = FIRST + timedelta(days=offset)
    dates = [retry_on(first, n, days) for n in range(1, len(days) + 1)]
    assert all(d is not None and d > first for d in dates)
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert retry_on(first, len(days) + 1, days) is None
    assert after_failure(code, first, len(days) + 1, days) is None  # the last try: no more
    assert after_failure(code, first, 1, days) == (dates[0] if dates else None)


@given(schedules, hard_codes, st.integers(1, 8))
def test_after_a_hard_decline_no_date_is_ever_promised(
    days: tuple[int, ...], code: str | None, failed: int
) -> None:
    assert after_failure(code, FIRST, failed, days) is None


@given(schedules, st.integers(1, 20))
def test_a_daily_run_on_a_card_that_keeps_failing_tries_on_exactly_the_schedules_days(
    days: tuple[int, ...], extra: int
) -> None:
    """Simulate one run a day: attempts on the first day and on each retry day, no other, then
    exhausted; never more than 1 + len(days) attempts."""
    tried_on = [FIRST]
    horizon = (days[-1] if days else 0) + extra
    for offset in range(1, horizon + 1):
        today = FIRST + timedelta(days=offset)
        plan = plan_retry(Attempts(len(tried_on), FIRST, "insufficient_funds"), today, days)
        if plan.attempt is not None:
            assert plan.attempt == len(tried_on)
            tried_on.append(today)
        else:
            assert plan.why in {"waiting", "exhausted"}
    assert tried_on == [FIRST, *(FIRST + timedelta(days=d) for d in days)]
    final = plan_retry(Attempts(len(tried_on), FIRST, "insufficient_funds"), FIRST, days)
    assert final.why == "exhausted"


# -- the expiring card ------------------------------------------------------------------------


def test_a_card_expiring_before_the_next_charge_is_warned_a_week_before() -> None:
    charge_on = date(2026, 12, 2)  # the card (11/2026) works through Nov 30
    assert expiry_warning_due(2026, 11, charge_on, charge_on - timedelta(days=7))
    assert not expiry_warning_due(2026, 11, charge_on, charge_on - timedelta(days=8))  # too soon
    assert not expiry_warning_due(2026, 11, charge_on, charge_on)  # the day itself: too late
    assert not expiry_warning_due(2026, 12, charge_on, charge_on - timedelta(days=7))  # works
    assert not expiry_warning_due(2026, 10, charge_on, charge_on - timedelta(days=7))  # expired


@given(
    st.integers(2026, 2028),
    st.integers(1, 12),
    st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    st.integers(-3, 40),
)
def test_the_warning_only_for_a_working_card_that_will_not_work_on_the_day(
    year: int, month: int, today: date, ahead: int
) -> None:
    charge_on = today + timedelta(days=ahead)
    if expiry_warning_due(year, month, charge_on, today):
        assert not expired(year, month, today) and expired(year, month, charge_on)
        assert 0 < (charge_on - today).days <= EXPIRY_WARNING_DAYS
    elif 0 < ahead <= EXPIRY_WARNING_DAYS and not expired(year, month, today):
        assert not expired(year, month, charge_on)


# -- the texts --------------------------------------------------------------------------------


def _to(language: str) -> Recipient:
    return Recipient("James", "carter", language, "America/Chicago", "+18005550199")


@pytest.mark.parametrize(
    ("language", "retry", "last", "says"),
    [
        ("en", date(2026, 11, 26), False, "We'll try again on Nov 26. Reply PAY for a link now."),
        ("en", None, True, "That was the last try. Reply PAY for a link now."),
        ("en", None, False, "We won't try again. Reply PAY for a link now."),
        ("es", date(2026, 11, 26), False, "Lo intentaremos de nuevo el 26 nov. Responda PAGAR"),
        ("es", None, True, "Fue el ultimo intento. Responda PAGAR por un enlace."),
        ("es", None, False, "No habra otro intento. Responda PAGAR por un enlace."),
    ],
)
def test_a_failure_text_says_whether_and_when_autopay_tries_again(
    language: str, retry: date | None, last: bool, says: str
) -> None:
    text = notices.failed(_to(language), company="Demo Interlock", amount=18201,
                          vehicle="2015 Ford F-150", retry_on=retry, last=last)  # fmt: skip
    assert says in text and "$182.01" in text and "(800) 555-0199" in text
    length = measure(text)
    assert length.encoding == "GSM-7" and length.segments <= 2, (text, length)


@pytest.mark.parametrize(
    ("language", "says"),
    [
        (
            "en",
            "expires before the next payment on Dec 2. Update it in My Account: https://x/account",
        ),
        (
            "es",
            "vence antes del proximo pago el 2 dic. Actualicela en Mi Cuenta: https://x/account",
        ),
    ],
)
def test_the_expiring_card_text_points_at_my_account_in_the_clients_language(
    language: str, says: str
) -> None:
    text = notices.card_expiring(_to(language), company="Demo Interlock", brand="Visa",
                                 last4="4242", vehicle="2015 Ford F-150",
                                 charge_on=date(2026, 12, 2), url="https://x/account")  # fmt: skip
    assert says in text and "4242" in text
    assert measure(text).encoding == "GSM-7"
