"""Which ended links may offer the payer "Text me a new link" (app/domain/links.py)."""

from __future__ import annotations

import pytest

from app.domain.links import FINAL_STATUSES, LIVE_STATUSES, renewal_refusal


def test_an_expired_link_may_be_renewed() -> None:
    assert renewal_refusal("expired", renewed=False, accepts_payments=True, opted_out=False) is None


@pytest.mark.parametrize("status", [s for s in (*LIVE_STATUSES, *FINAL_STATUSES) if s != "expired"])
def test_only_a_link_whose_time_ran_out(status: str) -> None:
    # paid, cancelled, superseded (replaced), locked, failed, and live links: never
    reason = renewal_refusal(status, renewed=False, accepts_payments=True, opted_out=False)
    assert reason == "not_expired"


def test_once_per_expired_link() -> None:
    for status in ("expired", "superseded"):
        reason = renewal_refusal(status, renewed=True, accepts_payments=True, opted_out=False)
        assert reason == "renewed"


def test_not_where_no_link_could_be_sent() -> None:
    assert (
        renewal_refusal("expired", renewed=False, accepts_payments=False, opted_out=False)
        == "payments_not_accepted"
    )
    assert (
        renewal_refusal("expired", renewed=False, accepts_payments=True, opted_out=True)
        == "opted_out"
    )
