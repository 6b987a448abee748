"""The dispute rules (app/domain/disputes.py): which event moves a dispute (late, repeated and
out-of-order events never move a closed one back), when money goes back and how much, and the
words and links staff read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import disputes as rules
from app.domain.disputes import CLOSED, STATUSES, UnknownDisputeStatus, takes

T0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def test_a_new_dispute_takes_whatever_the_first_event_says() -> None:
    for status in STATUSES:
        assert takes(None, None, status, T0)


@pytest.mark.parametrize("closed", CLOSED)
def test_a_closed_dispute_never_moves_again_however_new_the_event(closed: str) -> None:
    for status in STATUSES:
        assert not takes(closed, T0, status, LATER)


def test_forward_steps_are_taken_even_at_the_same_second_and_backward_ones_never() -> None:
    assert takes("needs_response", T0, "under_review", T0)
    assert takes("needs_response", LATER, "lost", T0)  # the processor's clock is coarse
    assert takes("warning_under_review", T0, "needs_response", LATER)  # an inquiry escalates
    assert not takes("under_review", T0, "needs_response", LATER)
    assert not takes("needs_response", T0, "warning_needs_response", LATER)


def test_the_same_step_is_taken_only_from_an_event_at_least_as_new() -> None:
    assert takes("needs_response", T0, "needs_response", LATER)  # e.g. a new due date
    assert takes("needs_response", T0, "needs_response", T0)
    assert not takes("needs_response", LATER, "needs_response", T0)


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(UnknownDisputeStatus):
        takes("needs_response", T0, "on_fire", LATER)


@given(st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(0, 100)), min_size=1))
def test_whatever_the_order_a_dispute_once_closed_stays_as_it_closed(
    events: list[tuple[str, int]],
) -> None:
    current: str | None = None
    seen: datetime | None = None
    closed_as: str | None = None
    for status, minute in events:
        at = T0 + timedelta(minutes=minute)
        if takes(current, seen, status, at):
            current, seen = status, at
        if current in CLOSED and closed_as is None:
            closed_as = current
    if closed_as is not None:
        assert current == closed_as


def test_money_goes_back_once_when_the_dispute_becomes_lost() -> None:
    assert rules.reverses("needs_response", "lost")
    assert rules.reverses(None, "lost")  # closed before created
    assert not rules.reverses("lost", "lost")
    assert not rules.reverses("under_review", "won")


def test_a_lost_dispute_takes_back_at_most_what_the_payment_still_holds() -> None:
    assert rules.reversal_cents(18201, 18201, 0, 0) == 18201
    assert rules.reversal_cents(18201, 18201, 5000, 0) == 13201  # refunded in part before
    assert rules.reversal_cents(10000, 18201, 0, 1000) == 10000
    assert rules.reversal_cents(18201, 18201, 18201, 0) == 0


def test_words_and_the_dashboard_link() -> None:
    assert rules.reason_text("product_not_received") == "Product not received"
    assert rules.reason_text("") == "Not given"
    assert rules.status_text("warning_needs_response") == "Inquiry: needs response"
    assert rules.dashboard_url("du_1", livemode=False) == (
        "https://dashboard.stripe.com/test/disputes/du_1"
    )
    assert (
        rules.dashboard_url("du_1", livemode=True) == "https://dashboard.stripe.com/disputes/du_1"
    )
    assert rules.needs_response("needs_response") and not rules.needs_response("under_review")
