"""The sandbox gateway: behaves like a card processor's test mode, with no network.

It can fail the way a processor does, so anyone can see those paths with `make run`:
`4000 0027 6000 3184` always asks for 3-D Secure (a sandbox challenge page with Complete and
Fail; closing it abandons the payment) and `4000 0000 0000 0408` is charged but its answer is
lost on the way back (OutcomeUnknown until `lookup` finds the charge). It keeps its own ledger
of charges and refunds, idempotent per key, in this process's memory.

Card fields go only to the sandbox's own tokenizing endpoint (`app/web/sandbox.py`), as hosted
fields would; `tokenize` turns a documented test card into a payment-method reference and
forgets the number. Everything after that sees the reference only. A reference carries the
brand, last 4 and expiry (never the number): `pm_sandbox_visa_4242_1230_k3j9x2ab`. The seeded
cards on file use the short form `pm_sandbox_visa_4242`.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from datetime import date

from app.adapters.payments.port import CardDetails, ChargeResult, RefundResult, SavedCard
from app.clock import Clock
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    InvalidPaymentMethod,
    OutcomeUnknown,
)

# The documented test cards. Any other number is refused, as a processor's test mode does.
SUCCESS_CARDS = frozenset(
    {
        "4242424242424242",  # Visa
        "4000056655665556",  # Visa (debit)
        "4012888888881881",  # Visa
        "5555555555554444",  # Mastercard
        "2223003122003222",  # Mastercard (2-series)
        "5200828282828210",  # Mastercard (debit)
        "378282246310005",  # American Express
        "6011111111111117",  # Discover
    }
)
DECLINE_CARDS = {
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
}
CHALLENGE_CARD = "4000002760003184"  # always asks for 3-D Secure
LOST_ANSWER_CARD = "4000000000000408"  # charged, but the answer never arrives
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined. Try another card or call your bank.",
    "insufficient_funds": "Your card has insufficient funds. Try another card.",
    "expired_card": "Your card has expired. Check the expiry date or use another card.",
    "incorrect_cvc": "Your card's security code is incorrect. Check it and try again.",
    "authentication_required": (
        "Your bank needs you to confirm this payment. Pay from the payment link or My Account"
        " instead."
    ),
}
# Outcomes are decided by last 4, which is unique among the test cards above.
_DECLINE_BY_LAST4 = {number[-4:]: code for number, code in DECLINE_CARDS.items()}
_REF = re.compile(
    r"^pm_sandbox_(visa|mastercard|amex|discover)_(\d{4})(?:_(\d{2})(\d{2})_[a-z0-9]{8})?$"
)
_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
}
USE_A_TEST_CARD = "This is a test system. Use a test card, like 4242 4242 4242 4242."


class CardFieldError(DomainError):
    """A card field the tokenizer cannot accept; `field` is number, exp, cvc or postal_code."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    return "unknown"


def parse_expiry(raw: str, today: date) -> tuple[int, int]:
    """'MM/YY' (or 'MM / YYYY') → (month, year). A card works through its expiry month."""
    m = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", raw or "")
    if not m:
        raise CardFieldError("exp", "Enter the expiry date as MM/YY.")
    month, year = int(m.group(1)), int(m.group(2))
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise CardFieldError("exp", "Enter a month from 01 to 12.")
    if (year, month) < (today.year, today.month):
        raise CardFieldError("exp", "This card's expiry date is in the past.")
    if year > today.year + 20:
        raise CardFieldError("exp", "Check the expiry year.")
    return month, year


@dataclass(frozen=True)
class _Ref:
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None


def _parse_ref(payment_method: str) -> _Ref:
    m = _REF.fullmatch(payment_method or "")
    if not m:
        raise InvalidPaymentMethod()
    mm, yy = m.group(3), m.group(4)
    return _Ref(
        brand=m.group(1),
        last4=m.group(2),
        exp_month=int(mm) if mm else None,
        exp_year=2000 + int(yy) if yy else None,
    )


class SandboxGateway:
    """In-memory test-mode processor. Idempotent per key; keeps a ledger of what it actually
    charged and refunded."""

    name = "sandbox"

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_key: dict[str, ChargeResult | CardDeclined] = {}
        self._by_ref: dict[str, ChargeResult] = {}
        self._by_payment: dict[str, str] = {}  # our payment_id metadata -> intent
        self._refunds: dict[str, RefundResult] = {}  # idempotency key -> refund
        self.refunded: dict[str, int] = {}  # intent -> cents refunded
        self._removed: set[str] = set()
        self.successful_charge_count = 0
        self.charged_cents = 0

    # -- the tokenizing endpoint's side (card data lives only inside this call) --------------
    def tokenize(self, *, number: str, exp: str, cvc: str, postal_code: str) -> str:
        digits = re.sub(r"[\s-]", "", number or "")
        if not digits:
            raise CardFieldError("number", "Enter the card number.")
        if not digits.isdigit() or not 13 <= len(digits) <= 19 or not luhn_ok(digits):
            raise CardFieldError("number", "Check the card number; it is not a valid card.")
        if digits not in SUCCESS_CARDS | {CHALLENGE_CARD, LOST_ANSWER_CARD} and (
            digits not in DECLINE_CARDS
        ):
            raise CardFieldError("number", USE_A_TEST_CARD)
        brand = brand_of(digits)
        month, year = parse_expiry(exp, self._clock.now().date())
        cvc_len = 4 if brand == "amex" else 3
        if not re.fullmatch(rf"\d{{{cvc_len}}}", (cvc or "").strip()):
            raise CardFieldError("cvc", f"Enter the {cvc_len}-digit security code.")
        if not re.fullmatch(r"\d{5}", (postal_code or "").strip()):
            raise CardFieldError("postal_code", "Enter the 5-digit ZIP code.")
        return (
            f"pm_sandbox_{brand}_{digits[-4:]}_{month:02d}{year % 100:02d}_{secrets.token_hex(4)}"
        )

    # -- the port --------------------------------------------------------------------------
    async def charge(
        self,
        *,
        amount_cents: int,
        payment_method: str,
        idempotency_key: str,
        description: str,
        customer: str | None = None,
        off_session: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> ChargeResult:
        if amount_cents <= 0:
            raise GatewayError("The amount must be more than $0.00.")
        previous = self._by_key.get(idempotency_key)
        if isinstance(previous, CardDeclined):
            raise previous
        if previous is not None:
            return previous
        ref = _parse_ref(payment_method)
        if payment_method in self._removed:
            raise InvalidPaymentMethod()
        intent = f"pi_sandbox_{secrets.token_hex(8)}"
        code = _DECLINE_BY_LAST4.get(ref.last4)
        today = self._clock.now().date()
        if code is None and ref.exp_year is not None and ref.exp_month is not None:
            if (ref.exp_year, ref.exp_month) < (today.year, today.month):
                code = "expired_card"
        if code is None and ref.last4 == CHALLENGE_CARD[-4:] and off_session:
            code = "authentication_required"
        if code is not None:
            declined = CardDeclined(code, DECLINE_MESSAGES[code], processor_ref=intent)
            self._by_key[idempotency_key] = declined
            raise declined
        payment_id = (metadata or {}).get("payment_id")
        if payment_id:
            self._by_payment[payment_id] = intent
        if ref.last4 == CHALLENGE_CARD[-4:]:
            waiting = ChargeResult(
                status="requires_action",
                processor_ref=intent,
                amount_cents=amount_cents,
                card=self._details(ref),
                client_secret=f"{intent}_secret_{secrets.token_hex(4)}",
            )
            self._by_key[idempotency_key] = self._by_ref[intent] = waiting
            return waiting
        result = self._charged(intent, amount_cents, self._details(ref))
        self._by_key[idempotency_key] = result
        if ref.last4 == LOST_ANSWER_CARD[-4:]:
            raise OutcomeUnknown()  # charged; the answer is lost on the way back
        return result

    def _charged(self, intent: str, amount_cents: int, card: CardDetails | None) -> ChargeResult:
        result = ChargeResult(
            status="succeeded", processor_ref=intent, amount_cents=amount_cents, card=card
        )
        self._by_ref[intent] = result
        self.successful_charge_count += 1
        self.charged_cents += amount_cents
        return result

    # -- the sandbox challenge page's side (the payer's bank) --------------------------------
    def challenge(self, intent: str) -> ChargeResult | None:
        """The charge waiting for 3-D Secure, or None."""
        found = self._by_ref.get(intent)
        return found if found is not None and found.status == "requires_action" else None

    def complete_challenge(self, intent: str) -> ChargeResult:
        waiting = self.challenge(intent)
        if waiting is None:
            return self._by_ref[intent]
        return self._charged(intent, waiting.amount_cents, waiting.card)

    def fail_challenge(self, intent: str) -> ChargeResult:
        waiting = self.challenge(intent)
        if waiting is None:
            return self._by_ref[intent]
        failed = dataclasses.replace(waiting, status="failed", client_secret=None)
        self._by_ref[intent] = failed
        return failed

    async def retrieve(self, processor_ref: str) -> ChargeResult:
        try:
            return self._by_ref[processor_ref]
        except KeyError:
            raise GatewayError("No such payment at the processor.") from None

    async def lookup(self, *, idempotency_key: str, payment_id: int) -> ChargeResult | None:
        previous = self._by_key.get(idempotency_key)
        if isinstance(previous, CardDeclined):
            ref = previous.processor_ref or ""
            return ChargeResult(status="failed", processor_ref=ref, amount_cents=0, card=None)
        intent = previous.processor_ref if previous else self._by_payment.get(str(payment_id))
        return self._by_ref.get(intent) if intent else None

    async def cancel(self, processor_ref: str) -> ChargeResult:
        current = await self.retrieve(processor_ref)
        if current.status == "requires_action":
            return self.fail_challenge(processor_ref)
        return current

    async def refund(
        self, *, processor_ref: str, amount_cents: int, idempotency_key: str, reason: str
    ) -> RefundResult:
        earlier = self._refunds.get(idempotency_key)
        if earlier is not None:
            return earlier
        charge = self._by_ref.get(processor_ref)
        if charge is None or charge.status != "succeeded":
            raise GatewayError("Only a payment that went through can be refunded.")
        left = charge.amount_cents - self.refunded.get(processor_ref, 0)
        if not 0 < amount_cents <= left:
            raise GatewayError("The refund is more than what is left of the payment.")
        self.refunded[processor_ref] = self.refunded.get(processor_ref, 0) + amount_cents
        result = RefundResult(
            refund_ref=f"re_sandbox_{secrets.token_hex(8)}",
            amount_cents=amount_cents,
            status="succeeded",
        )
        self._refunds[idempotency_key] = result
        return result

    async def describe_payment_method(self, payment_method: str) -> CardDetails:
        return self._details(_parse_ref(payment_method))

    async def save_card(
        self, *, payment_method: str, customer: str | None, email: str, name: str
    ) -> SavedCard:
        card = self._details(_parse_ref(payment_method))
        return SavedCard(
            customer_ref=customer or f"cus_sandbox_{secrets.token_hex(6)}",
            payment_method_ref=payment_method,
            card=card,
        )

    async def remove_card(self, payment_method: str) -> None:
        _parse_ref(payment_method)
        self._removed.add(payment_method)

    def _details(self, ref: _Ref) -> CardDetails:
        year = ref.exp_year or self._clock.now().year + 3
        return CardDetails(
            brand=_BRANDS[ref.brand],
            last4=ref.last4,
            exp_month=ref.exp_month or 12,
            exp_year=year,
        )
