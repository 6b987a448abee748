"""The sandbox gateway behaves like a processor's test mode: test cards only, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.adapters.payments.sandbox import CardFieldError, SandboxGateway, luhn_ok
from app.clock import FixedClock
from app.domain.errors import CardDeclined, InvalidPaymentMethod

CLOCK = FixedClock(datetime(2026, 11, 25, 16, 0, tzinfo=UTC))


def gw() -> SandboxGateway:
    return SandboxGateway(CLOCK)


def tok(g: SandboxGateway, number: str, exp: str = "12/30", cvc: str = "123") -> str:
    return g.tokenize(number=number, exp=exp, cvc=cvc, postal_code="78701")


async def test_success_card_charges_once_per_idempotency_key() -> None:
    g = gw()
    pm = tok(g, "4242 4242 4242 4242")
    assert "4242424242424242" not in pm and pm.startswith("pm_sandbox_visa_4242_1230_")
    first = await g.charge(
        amount_cents=18201, payment_method=pm, idempotency_key="k1", description="x"
    )
    again = await g.charge(
        amount_cents=18201, payment_method=pm, idempotency_key="k1", description="x"
    )
    assert first == again and first.status == "succeeded"
    assert first.card is not None and (first.card.brand, first.card.last4) == ("Visa", "4242")
    assert g.successful_charge_count == 1 and g.charged_cents == 18201
    await g.charge(amount_cents=100, payment_method=pm, idempotency_key="k2", description="x")
    assert g.successful_charge_count == 2


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ],
)
async def test_decline_cards_decline_with_their_code_and_plain_words(
    number: str, code: str
) -> None:
    g = gw()
    pm = tok(g, number)
    with pytest.raises(CardDeclined) as exc:
        await g.charge(amount_cents=500, payment_method=pm, idempotency_key="k", description="x")
    assert exc.value.code == code and "card" in exc.value.message.lower()
    with pytest.raises(CardDeclined):  # a retry with the same key gives the same answer
        await g.charge(amount_cents=500, payment_method=pm, idempotency_key="k", description="x")
    assert g.successful_charge_count == 0


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"number": "4111 1111 1111 1111"}, "number", "Use a test card"),
        ({"number": "4242 4242 4242 4241"}, "number", "not a valid card"),
        ({"number": ""}, "number", "Enter the card number"),
        ({"exp": "10/26"}, "exp", "in the past"),
        ({"exp": "13/30"}, "exp", "01 to 12"),
        ({"exp": "1230"}, "exp", "MM/YY"),
        ({"cvc": "12"}, "cvc", "3-digit"),
        ({"postal_code": "7870"}, "postal_code", "5-digit"),
    ],
)
def test_tokenizer_refuses_bad_fields_with_a_message_for_that_field(
    fields: dict[str, str], field: str, words: str
) -> None:
    values = {"number": "4242424242424242", "exp": "12/30", "cvc": "123", "postal_code": "78701"}
    values.update(fields)
    with pytest.raises(CardFieldError) as exc:
        gw().tokenize(**values)
    assert exc.value.field == field and words in exc.value.message


async def test_seeded_cards_on_file_and_unknown_references() -> None:
    g = gw()
    card = await g.describe_payment_method("pm_sandbox_mastercard_4444")
    assert (card.brand, card.last4) == ("Mastercard", "4444")
    with pytest.raises(InvalidPaymentMethod):
        await g.charge(
            amount_cents=1, payment_method="4242424242424242", idempotency_key="k", description="x"
        )
    saved = await g.save_card(
        payment_method="pm_sandbox_visa_4242", customer=None, email="a@b.c", name="A"
    )
    assert saved.customer_ref.startswith("cus_sandbox_")
    await g.remove_card("pm_sandbox_visa_4242")
    with pytest.raises(InvalidPaymentMethod):
        await g.charge(
            amount_cents=1,
            payment_method="pm_sandbox_visa_4242",
            idempotency_key="k9",
            description="x",
        )


def test_luhn() -> None:
    assert luhn_ok("4242424242424242") and not luhn_ok("4242424242424241")


async def test_refund_of_the_5126_card_is_made_but_its_answer_is_lost_once() -> None:
    from app.domain.errors import OutcomeUnknown

    g = gw()
    pm = tok(g, "4000 0000 0000 5126")
    charged = await g.charge(
        amount_cents=18201, payment_method=pm, idempotency_key="k", description="x"
    )
    assert charged.status == "succeeded"
    ask = {"processor_ref": charged.processor_ref, "amount_cents": 5000, "reason": "x"}
    with pytest.raises(OutcomeUnknown):
        await g.refund(idempotency_key="r1", **ask)  # type: ignore[arg-type]
    assert g.refunded_cents(charged.processor_ref) == 5000  # it was made
    again = await g.refund(idempotency_key="r1", **ask)  # type: ignore[arg-type]
    assert again.status == "succeeded" and again.amount_cents == 5000
    assert g.refunded_cents(charged.processor_ref) == 5000  # once
