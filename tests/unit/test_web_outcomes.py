"""The one map from payment errors and outcomes to what a person sees (app/web/outcomes.py)."""

from __future__ import annotations

import pytest

from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayUnavailable,
    InvalidDays,
    InvalidPaymentMethod,
    StaleSummary,
)
from app.services.cards import CardExpired, CardInUse
from app.services.summary import NotFound, PaymentsNotAccepted
from app.web import outcomes
from app.web.forms import Form
from app.web.outcomes import Channel, Rule, Step


@pytest.mark.parametrize(
    ("exc", "field", "status"),
    [
        (StaleSummary(), "form", 409),
        (PaymentsNotAccepted(), "form", 409),
        (CardDeclined("generic_decline", "Your card was declined."), "card", 402),
        (InvalidPaymentMethod(), "card", 422),
        (CardExpired(), "saved_card", 422),
        (CardInUse(["2019 Honda Civic"]), "saved_card", 422),
        (InvalidDays(), "days", 422),
        (GatewayUnavailable(), "form", 503),
        (NotFound(), "record", 404),
        (DomainError(), "form", 422),
    ],
)
def test_each_error_has_one_field_and_status(exc: DomainError, field: str, status: int) -> None:
    said = outcomes.refusal(exc, Channel())
    assert (said.field, said.status, said.message) == (field, status, exc.message)
    assert said.params == exc.params


def test_a_channel_names_its_fields_words_rules_and_pages() -> None:
    channel = Channel(
        fields={"card": "card_id", "record": "card_id"},
        rules={NotFound: Rule("record", 422)},
        words={CardDeclined: "The card was declined: %(reason)s Nothing was charged."},
        pages={StaleSummary: "pay/stale.html"},
    )
    form = Form()
    status = outcomes.refuse(form, CardDeclined("generic_decline", "Try another card."), channel)
    assert status == 402
    assert form.errors == {
        "card_id": "The card was declined: Try another card. Nothing was charged."
    }
    assert outcomes.refusal(NotFound(), channel).status == 422
    assert outcomes.refusal(StaleSummary(), channel).page == "pay/stale.html"
    assert outcomes.refusal(StaleSummary(), Channel()).page is None
    assert channel.with_fields(card="card-entry").fields["card"] == "card-entry"


@pytest.mark.parametrize(
    ("status", "gateway", "secret", "step"),
    [
        ("succeeded", "stripe", None, Step.RECEIPT),
        ("partially_refunded", "sandbox", None, Step.RECEIPT),
        ("failed", "stripe", None, Step.DECLINED),
        ("requires_action", "sandbox", None, Step.BANK_PAGE),
        ("requires_action", "stripe", "pi_secret", Step.BANK_IN_BROWSER),
        ("requires_action", "stripe", None, Step.CONFIRMING),
        ("processing", "stripe", None, Step.PROCESSING),
        ("unknown", "sandbox", None, Step.CONFIRMING),
        ("pending", "stripe", None, Step.CONFIRMING),
    ],
)
def test_each_outcome_has_one_step(
    status: str, gateway: str, secret: str | None, step: Step
) -> None:
    assert outcomes.step_for(status, gateway=gateway, client_secret=secret) is step
