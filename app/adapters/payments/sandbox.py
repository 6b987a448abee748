"""The sandbox gateway: behaves like a card processor's test mode, with no network.

It can fail the way a processor does, so anyone can see those paths with `make run`:
`4000 0027 6000 3184` always asks for 3-D Secure (a sandbox challenge page with Complete and
Fail; closing it abandons the payment) and `4000 0000 0000 0408` is charged but its answer is
lost on the way back (OutcomeUnknown until `lookup` finds the charge); `4000 0000 0000 5126` is
charged normally, but each refund of it is made and its answer lost (OutcomeUnknown; asking
again with the same key gets the refund that was made); `4000 0000 0000 0259` is charged, then
disputed as fraudulent (see "Disputes" below). For AutoPay's retries, `4000 0000 0000 9995`
declines for insufficient funds and `4000 0000 0000 0119` with a processing error (soft declines,
tried again on AUTOPAY_RETRY_DAYS), `4000 0000 0000 9987` as a lost card (a hard decline, never
tried again), each with Stripe's decline code. Like a real processor
it keeps its own ledger of charges and refunds, idempotent per key, outside the app's memory: a
small SQLite file (SANDBOX_LEDGER), so the server, `monitorpay reconcile` and a second instance
see the same charges, and a restart forgets nothing. `:memory:` keeps it in one process.

Card fields go only to the sandbox's own tokenizing endpoint (`app/web/sandbox.py`), as hosted
fields would; `tokenize` turns a documented test card into a payment-method reference and
forgets the number. Everything after that sees the reference only. A reference carries the
brand, last 4 and expiry (never the number): `pm_sandbox_visa_4242_1230_k3j9x2ab`. The seeded
cards on file use the short form `pm_sandbox_visa_4242`.

Disputes: the card's bank is played here. A dispute is kept in the ledger with the events a
processor would post about it (Stripe's shapes: `charge.dispute.created`, `.closed`), queued
until the app takes them (`undelivered_events`, `mark_delivered`: reconcile and the
supervisors' sandbox control deliver them); `close_dispute` decides it lost or won. A lost
dispute takes the disputed amount off the charge, as the card's bank does; a disputed charge
cannot be refunded, as at Stripe.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.adapters.payments.pacing import RateLimiter, Unlimited
from app.adapters.payments.port import CardDetails, ChargeResult, RefundResult, SavedCard
from app.clock import Clock
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    InvalidPaymentMethod,
    OutcomeUnknown,
    ProcessorBusy,
)
from app.i18n import N_

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
    "4000000000009995": "insufficient_funds",  # a soft decline: AutoPay tries it again
    "4000000000009987": "lost_card",  # a hard decline: AutoPay never tries it again
    "4000000000000119": "processing_error",  # a soft decline
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
}
CHALLENGE_CARD = "4000002760003184"  # always asks for 3-D Secure
LOST_ANSWER_CARD = "4000000000000408"  # charged, but the answer never arrives
REFUND_LOST_ANSWER_CARD = "4000000000005126"  # refunded, but the refund's answer never arrives
DISPUTE_CARD = "4000000000000259"  # charged, then disputed as fraudulent
EVIDENCE_DAYS = 7  # a sandbox dispute's evidence is due this many days after it opens
DECLINE_MESSAGES = {
    "generic_decline": N_("Your card was declined. Try another card or call your bank."),
    "insufficient_funds": N_("Your card has insufficient funds. Try another card."),
    "expired_card": N_("Your card has expired. Check the expiry date or use another card."),
    "incorrect_cvc": N_("Your card's security code is incorrect. Check it and try again."),
    "lost_card": N_("Your card was declined. Use another card or call your bank."),
    "processing_error": N_("Your bank could not process the card just now. Try again later."),
    "authentication_required": (
        "Your bank needs you to confirm this payment. Pay from the payment link or My Account"
        " instead."
    ),
}
# Outcomes are decided by last 4, which is unique among the test cards above.
_DECLINE_BY_LAST4 = {number[-4:]: code for number, code in DECLINE_CARDS.items()}
_REF = re.compile(
    r"^pm_sandbox_(visa|mastercard|amex|discover)_([0-9]{4})(?:_([0-9]{2})([0-9]{2})_[a-z0-9]{8})?$"
)
_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
}
USE_A_TEST_CARD = "This is a test system. Use a test card, like 4242 4242 4242 4242."
_NUMBER_BY_LAST4 = {
    number[-4:]: number
    for number in (
        *SUCCESS_CARDS,
        *DECLINE_CARDS,
        CHALLENGE_CARD,
        LOST_ANSWER_CARD,
        REFUND_LOST_ANSWER_CARD,
        DISPUTE_CARD,
    )
}


def fingerprint(last4: str) -> str | None:
    """As a processor does: a stable hash of the card number, the same whenever the same test
    card is typed (last 4 is unique among the test cards); never the number itself."""
    number = _NUMBER_BY_LAST4.get(last4)
    return hashlib.sha256(f"sandbox-card:{number}".encode()).hexdigest()[:32] if number else None


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS charge (
    key TEXT PRIMARY KEY, intent TEXT UNIQUE NOT NULL, payment_id TEXT, status TEXT NOT NULL,
    amount INTEGER NOT NULL, brand TEXT, last4 TEXT, exp_month INTEGER, exp_year INTEGER,
    secret TEXT, decline TEXT, refunded INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS charge_payment ON charge (payment_id);
CREATE TABLE IF NOT EXISTS refund (
    key TEXT PRIMARY KEY, ref TEXT NOT NULL, intent TEXT NOT NULL, amount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dispute (
    id TEXT PRIMARY KEY, intent TEXT NOT NULL, amount INTEGER NOT NULL, reason TEXT NOT NULL,
    status TEXT NOT NULL, created INTEGER NOT NULL, due_by INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dispute_intent ON dispute (intent);
CREATE TABLE IF NOT EXISTS event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0);
"""
_COLUMNS = (
    "key, intent, payment_id, status, amount, brand, last4, exp_month, exp_year, secret, decline"
)


class RateWindow:
    """A processor's rate limit: at most `rate` requests in any second (a sliding window, by
    the process's monotonic clock: the sandbox's own, not the app's injected clock). Past it a
    request is refused with 429's meaning: ProcessorBusy, nothing done."""

    def __init__(self, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        self.rate, self._now = rate, now
        self._seen: deque[float] = deque()
        self._lock = threading.Lock()
        self.refused = 0  # requests answered "busy"

    def admit(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._now()
            while self._seen and self._seen[0] <= now - 1.0:
                self._seen.popleft()
            if len(self._seen) >= self.rate:
                self.refused += 1
                raise ProcessorBusy(retry_after=round(self._seen[0] + 1.0 - now, 3))
            self._seen.append(now)


def _decline_code(ref: _Ref, today: date, off_session: bool) -> str | None:
    """Why the sandbox's bank refuses this card today, or None: the card's own decline, an
    expired card, or 3-D Secure asked of a payer who is not there (off session)."""
    code = _DECLINE_BY_LAST4.get(ref.last4)
    if code is None and ref.exp_year is not None and ref.exp_month is not None:
        if (ref.exp_year, ref.exp_month) < (today.year, today.month):
            code = "expired_card"
    if code is None and ref.last4 == CHALLENGE_CARD[-4:] and off_session:
        code = "authentication_required"
    return code


class SandboxGateway:
    """Test-mode processor. Idempotent per key; its ledger says what it actually charged and
    refunded. With `rate_limit`, it refuses requests past that many a second as a processor's
    test mode does (SANDBOX_RATE_LIMIT_PER_SECOND; 0: no limit)."""

    name = "sandbox"

    def __init__(
        self,
        clock: Clock,
        ledger: str = ":memory:",
        *,
        rate_limit: float = 0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._clock = clock
        self.window = RateWindow(rate_limit)
        self.limiter: RateLimiter = limiter or Unlimited()  # what AutoPay paces itself to
        self._db = sqlite3.connect(ledger, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=10000")
        if ledger != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            # No fsync per charge (4.4 ms on the event loop each): WAL keeps the ledger whole if
            # the process dies; only a power cut could lose the last charges of a test mode.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._removed: set[str] = set()

    @property
    def successful_charge_count(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM charge WHERE status='succeeded'").fetchone()[0]
        )

    @property
    def charged_cents(self) -> int:
        row = self._db.execute(
            "SELECT coalesce(sum(amount), 0) FROM charge WHERE status='succeeded'"
        )
        return int(row.fetchone()[0])

    def refunded_cents(self, intent: str) -> int:
        row = self._db.execute("SELECT refunded FROM charge WHERE intent=?", (intent,)).fetchone()
        return int(row[0]) if row else 0

    def _row(self, where: str, value: str) -> tuple[Any, ...] | None:
        query = f"SELECT {_COLUMNS} FROM charge WHERE {where}=?"  # noqa: S608 - our own names
        found: tuple[Any, ...] | None = self._db.execute(query, (value,)).fetchone()
        return found

    @staticmethod
    def _result(row: tuple[Any, ...]) -> ChargeResult:
        _key, intent, _pid, status, amount, brand, last4, month, year, secret, _decline = row
        card = (
            CardDetails(brand=brand, last4=last4, exp_month=month, exp_year=year) if brand else None
        )
        return ChargeResult(
            status=status,
            processor_ref=intent,
            amount_cents=amount,
            card=card,
            client_secret=secret if status == "requires_action" else None,
        )

    # -- the tokenizing endpoint's side (card data lives only inside this call) --------------
    def tokenize(self, *, number: str, exp: str, cvc: str, postal_code: str) -> str:
        digits = re.sub(r"[\s-]", "", number or "")
        if not digits:
            raise CardFieldError("number", "Enter the card number.")
        if not re.fullmatch(r"[0-9]{13,19}", digits) or not luhn_ok(digits):
            raise CardFieldError("number", "Check the card number; it is not a valid card.")
        if digits not in SUCCESS_CARDS | {
            CHALLENGE_CARD,
            LOST_ANSWER_CARD,
            REFUND_LOST_ANSWER_CARD,
            DISPUTE_CARD,
        } and (digits not in DECLINE_CARDS):
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
        self.window.admit()
        if amount_cents <= 0:
            raise GatewayError("The amount must be more than $0.00.")
        ref = _parse_ref(payment_method)
        if payment_method in self._removed:
            raise InvalidPaymentMethod()
        intent = f"pi_sandbox_{secrets.token_hex(8)}"
        code = _decline_code(ref, self._clock.now().date(), off_session)
        challenge = code is None and ref.last4 == CHALLENGE_CARD[-4:]
        status = "failed" if code else "requires_action" if challenge else "succeeded"
        card = self._details(ref)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            previous = self._row("key", idempotency_key)
            if previous is None:  # the first request with this key: do the work once
                self._db.execute(
                    f"INSERT INTO charge ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
                    (
                        idempotency_key, intent, (metadata or {}).get("payment_id"), status,
                        amount_cents, card.brand, card.last4, card.exp_month, card.exp_year,
                        f"{intent}_secret_{secrets.token_hex(4)}", code,
                    ),
                )  # fmt: skip
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        row = previous or self._row("key", idempotency_key)
        assert row is not None
        if previous is None and status == "succeeded" and ref.last4 == DISPUTE_CARD[-4:]:
            self._open_dispute(intent, amount_cents)  # the card's bank disputes it at once
        if row[10]:  # declined, now or the first time
            raise CardDeclined(
                row[10], DECLINE_MESSAGES[row[10]], processor_ref=row[1], brand=row[5], last4=row[6]
            )
        if previous is None and ref.last4 == LOST_ANSWER_CARD[-4:]:
            raise OutcomeUnknown()  # charged; the answer is lost on the way back
        return self._result(row)

    # -- the sandbox challenge page's side (the payer's bank) --------------------------------
    def challenge(self, intent: str) -> ChargeResult | None:
        """The charge waiting for 3-D Secure, or None."""
        row = self._row("intent", intent)
        return self._result(row) if row and row[3] == "requires_action" else None

    def _finish_challenge(self, intent: str, status: str) -> ChargeResult:
        self._db.execute(
            "UPDATE charge SET status=? WHERE intent=? AND status='requires_action'",
            (status, intent),
        )
        row = self._row("intent", intent)
        if row is None:
            raise GatewayError("No such payment at the processor.")
        return self._result(row)

    def complete_challenge(self, intent: str) -> ChargeResult:
        return self._finish_challenge(intent, "succeeded")

    def fail_challenge(self, intent: str) -> ChargeResult:
        return self._finish_challenge(intent, "failed")

    async def retrieve(self, processor_ref: str) -> ChargeResult:
        self.window.admit()
        row = self._row("intent", processor_ref)
        if row is None:
            raise GatewayError("No such payment at the processor.")
        return self._result(row)

    async def lookup(self, *, idempotency_key: str, payment_id: int) -> ChargeResult | None:
        self.window.admit()
        row = self._row("key", idempotency_key) or self._row("payment_id", str(payment_id))
        return self._result(row) if row else None

    async def cancel(self, processor_ref: str) -> ChargeResult:
        self.window.admit()
        return self._finish_challenge(processor_ref, "failed")

    async def refund(
        self, *, processor_ref: str, amount_cents: int, idempotency_key: str, reason: str
    ) -> RefundResult:
        self.window.admit()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            earlier = self._db.execute(
                "SELECT ref, amount FROM refund WHERE key=?", (idempotency_key,)
            ).fetchone()
            done = earlier or self._refund_once(processor_ref, amount_cents, idempotency_key)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        charge = self._row("intent", processor_ref)
        if earlier is None and charge is not None and charge[6] == REFUND_LOST_ANSWER_CARD[-4:]:
            raise OutcomeUnknown()  # refunded; the answer is lost on the way back
        return RefundResult(refund_ref=done[0], amount_cents=done[1], status="succeeded")

    def _refund_once(
        self, processor_ref: str, amount_cents: int, idempotency_key: str
    ) -> tuple[str, int]:
        """The first request with this key: check and record the refund (in the caller's
        transaction)."""
        charge = self._row("intent", processor_ref)
        if charge is None or charge[3] != "succeeded":
            raise GatewayError("Only a payment that went through can be refunded.")
        if self._disputed(processor_ref):
            raise GatewayError(
                "This payment is disputed by the card's bank; it cannot be refunded."
            )
        if not 0 < amount_cents <= charge[4] - self.refunded_cents(processor_ref):
            raise GatewayError("The refund is more than what is left of the payment.")
        ref = f"re_sandbox_{secrets.token_hex(8)}"
        self._db.execute(
            "INSERT INTO refund (key, ref, intent, amount) VALUES (?,?,?,?)",
            (idempotency_key, ref, processor_ref, amount_cents),
        )
        self._db.execute(
            "UPDATE charge SET refunded = refunded + ? WHERE intent=?",
            (amount_cents, processor_ref),
        )
        return ref, amount_cents

    async def describe_payment_method(self, payment_method: str) -> CardDetails:
        return self._details(_parse_ref(payment_method))

    async def save_card(
        self, *, payment_method: str, customer: str | None, email: str, name: str
    ) -> SavedCard:
        ref = _parse_ref(payment_method)
        return SavedCard(
            customer_ref=customer or f"cus_sandbox_{secrets.token_hex(6)}",
            payment_method_ref=payment_method,
            card=self._details(ref),
            fingerprint=fingerprint(ref.last4),
        )

    async def remove_card(self, payment_method: str) -> None:
        _parse_ref(payment_method)
        self._removed.add(payment_method)

    async def aclose(self) -> None:
        await self.limiter.aclose()

    def _details(self, ref: _Ref) -> CardDetails:
        year = ref.exp_year or self._clock.now().year + 3
        return CardDetails(
            brand=_BRANDS[ref.brand],
            last4=ref.last4,
            exp_month=ref.exp_month or 12,
            exp_year=year,
        )

    # -- the card's bank: disputes and the events a processor posts about them ---------------

    def _disputed(self, intent: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM dispute WHERE intent=? AND status<>'won'", (intent,)
        ).fetchone()
        return found is not None

    def lost_cents(self, intent: str) -> int:
        """What lost disputes took back of the charge."""
        row = self._db.execute(
            "SELECT coalesce(sum(amount), 0) FROM dispute WHERE intent=? AND status='lost'",
            (intent,),
        ).fetchone()
        return int(row[0])

    def _open_dispute(self, intent: str, amount_cents: int) -> None:
        created = int(self._clock.now().timestamp())
        due_by = created + int(timedelta(days=EVIDENCE_DAYS).total_seconds())
        ref = f"du_sandbox_{secrets.token_hex(8)}"
        self._db.execute(
            "INSERT INTO dispute (id, intent, amount, reason, status, created, due_by)"
            " VALUES (?,?,?,?,?,?,?)",
            (ref, intent, amount_cents, "fraudulent", "needs_response", created, due_by),
        )
        self._post("charge.dispute.created", ref)

    def disputes(self) -> list[dict[str, Any]]:
        """Every dispute, newest first, as Stripe's Dispute objects."""
        rows = self._db.execute("SELECT id FROM dispute ORDER BY created DESC, id").fetchall()
        return [self._dispute(ref) for (ref,) in rows]

    def _dispute(self, ref: str) -> dict[str, Any]:
        intent, amount, reason, status, created, due_by = self._db.execute(
            "SELECT intent, amount, reason, status, created, due_by FROM dispute WHERE id=?",
            (ref,),
        ).fetchone()
        return {
            "id": ref,
            "object": "dispute",
            "amount": amount,
            "charge": intent.replace("pi_", "ch_", 1),
            "payment_intent": intent,
            "created": created,
            "currency": "usd",
            "evidence_details": {
                "due_by": due_by
                if status in ("needs_response", "warning_needs_response")
                else None,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "reason": reason,
            "status": status,
        }

    def close_dispute(self, ref: str, outcome: str) -> bool:
        """The card's bank decides an open dispute: `lost` (the money goes back to the
        cardholder) or `won`. False when there is no such open dispute."""
        if outcome not in ("lost", "won"):
            raise ValueError(outcome)
        done = self._db.execute(
            "UPDATE dispute SET status=? WHERE id=? AND status NOT IN ('won', 'lost')",
            (outcome, ref),
        )
        if done.rowcount != 1:
            return False
        self._post("charge.dispute.closed", ref)
        return True

    def _post(self, kind: str, ref: str) -> None:
        """Queue an event about dispute `ref`, as Stripe would post it to a webhook."""
        event_id = f"evt_sandbox_{secrets.token_hex(8)}"
        body = {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(self._clock.now().timestamp()),
            "livemode": False,
            "data": {"object": self._dispute(ref)},
        }
        self._db.execute("INSERT INTO event (id, body) VALUES (?, ?)", (event_id, json.dumps(body)))

    def undelivered_events(self) -> list[dict[str, Any]]:
        """Events not yet taken by the app, oldest first."""
        rows = self._db.execute("SELECT body FROM event WHERE delivered=0 ORDER BY seq")
        return [json.loads(body) for (body,) in rows.fetchall()]

    def mark_delivered(self, event_id: str) -> None:
        self._db.execute("UPDATE event SET delivered=1 WHERE id=?", (event_id,))
