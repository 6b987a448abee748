"""A small fake of the Stripe API on 127.0.0.1, for running the real SDK in tests.

Outcomes follow Stripe's test PaymentMethods: `pm_card_visa` and `pm_card_mastercard` succeed,
`pm_card_chargeDeclined*` are refused with a 402 card_error, `pm_card_authenticationRequired`
needs 3-D Secure on session and is refused off session. `pm_card_processing` (fake only)
leaves the intent `processing` until `settle()`.

Endpoints: PaymentIntents (create, retrieve, search by `metadata['key']:'value'`, cancel),
refunds (create), PaymentMethods (retrieve, attach, detach), customers (create), payment method
domains (create, list by `domain_name`, update `enabled`, validate). It refuses what
Stripe refuses: a confirming create without `return_url` unless redirects are off
(`automatic_payment_methods[enabled]=true` and `[allow_redirects]=never`) or
`payment_method_types` are given; a cancel once the intent succeeded, is processing or was
canceled (`payment_intent_unexpected_state`); a refund of more than remains (`amount_too_large`)
or of an intent with no successful charge.

`enter_card()` makes a new PaymentMethod from a test card, as the Payment Element does for a
typed card; `enter_wallet_card()` makes one as Apple Pay or Google Pay do: still `type: card`,
with `card.wallet` ({"type": "apple_pay", "apple_pay": {}, "dynamic_last4": ...}); either
charges, declines or asks for 3-D Secure as its test card does. A payment method domain's Apple
Pay is `active` while `apple_pay_verifies` is true (Stripe reached the association file), else
`inactive` with Stripe's reason.

Every request is recorded in `.requests`; POSTs honor Idempotency-Key as Stripe does (same key,
same parameters: the first response again). `.charges` and `.refunds` are the ledgers of money
moved, and `net_charged(pi_id)` is what an intent kept. `.events` records what Stripe would send
as intents change (`payment_intent.succeeded`, `.processing`, `.requires_action`,
`.payment_failed`, `.canceled`, `charge.refunded`); `event()` builds one and `deliver()` posts it
signed, so a test chooses when, how often and in which order events arrive.

Disputes: `pm_card_createDispute` (Stripe's 4000 0000 0000 0259) charges, then the bank disputes
it at once as fraudulent (`charge.dispute.created`, status `needs_response`, evidence due in 7
days); `update_dispute()` and `close_dispute()` move it as the card's bank does (`.updated`,
`.closed`). A lost dispute takes its amount off what the intent kept (`_lost`).

A rate limit, as Stripe's (25 requests a second in test mode): with `rate_per_second`, a request
past that many in the last second (a sliding window over every request) is answered 429 before
any work, with `Retry-After` (whole seconds until a slot frees) and `rate_limit_headers`; nothing
is stored under its idempotency key, so the same request may be sent again. `rate_limited`
counts those answers; `peak_per_second()` is the most requests it did work for in any second.
The `rate_limit` knob's 429s carry `rate_limit_headers` too (e.g. Stripe-Should-Retry: false).

Failures, each a count of requests it hits (only requests to `fault_path`, when set):
`drop_connections`, `fail_500` and `rate_limit` (429) fail before any work is done;
`lose_answers` (close without answering) and `fail_500_after` (answer 500) fail after the work is
done and its idempotent result stored, as a timeout or a 500 at Stripe can. `slow_seconds` delays
every answer after the work (past a small client timeout). `unsearchable` hides intents from
search, as Stripe's search index lags behind writes.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

Json = dict[str, Any]

API_VERSION = "2024-06-20"

# id -> (brand, last4, outcome); outcome is "succeed", "processing", "3ds" or a decline
TEST_CARDS: dict[str, tuple[str, str, str]] = {
    "pm_card_visa": ("visa", "4242", "succeed"),
    "pm_card_mastercard": ("mastercard", "4444", "succeed"),
    "pm_card_amex": ("amex", "8431", "succeed"),
    "pm_card_discover": ("discover", "9424", "succeed"),
    "pm_card_processing": ("visa", "0077", "processing"),
    "pm_card_authenticationRequired": ("visa", "3184", "3ds"),
    "pm_card_chargeDeclined": ("visa", "0002", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_chargeDeclinedLostCard": ("visa", "9987", "lost_card"),
    "pm_card_chargeDeclinedProcessingError": ("visa", "0119", "processing_error"),
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069", "expired_card"),
    "pm_card_chargeDeclinedIncorrectCvc": ("visa", "0127", "incorrect_cvc"),
    "pm_card_createDispute": ("visa", "0259", "dispute"),  # charged, then disputed
}
DECLINES: dict[str, tuple[str, str]] = {  # decline_code -> (code, message)
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "lost_card": ("card_declined", "Your card was declined."),
    "processing_error": (
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "authentication_required": (
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
RETURN_URL_REQUIRED = (
    "This PaymentIntent is configured to accept payment methods enabled in your Dashboard,"
    " because some of these payment methods might redirect your customer off of your page, you"
    " must provide a `return_url`. If you don't want to accept redirect-based payment methods,"
    " set `automatic_payment_methods[enabled]` to `true` and"
    " `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and"
    " Payment Intents."
)
CANCELABLE = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
)
API_ERROR: Json = {"error": {"type": "api_error", "message": "Something went wrong."}}
RATE_LIMITED: Json = {
    "error": {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Request rate limit exceeded. Learn more about rate limits here"
        " https://stripe.com/docs/rate-limits.",
    }
}
# Faults in the order they are taken: the first three before any work, the last two after.
FAULTS = ("drop_connections", "fail_500", "rate_limit", "lose_answers", "fail_500_after")
SEARCH_CLAUSE = re.compile(
    r"^\s*(?:metadata\['(?P<key>[^']+)'\]|(?P<field>[a-z_]+))\s*:\s*'(?P<value>[^']*)'\s*$"
)


class StripeErrorResponse(Exception):
    def __init__(self, status: int, error: Json) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> Exception:
    return StripeErrorResponse(
        400, {"type": "invalid_request_error", "message": message, "param": param, "code": code}
    )


def _missing(kind: str, ident: str, *, param: str | None = None, status: int = 404) -> Exception:
    return StripeErrorResponse(
        status,
        {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such {kind}: '{ident}'",
            "param": param or "id",
        },
    )


def _search_clause(text: str) -> Callable[[Json], bool]:
    """One `field:'value'` or `metadata['key']:'value'` clause of a search query."""
    m = SEARCH_CLAUSE.match(text)
    if m is None:
        raise _invalid(f"Invalid search query: {text!r}.", param="query")
    key, name, value = m.group("key"), m.group("field"), m.group("value")
    if key is not None:
        return lambda obj: obj["metadata"].get(key) == value
    return lambda obj: str(obj.get(name)) == value


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    form: dict[str, str]  # form-decoded body (POST) or query string (GET)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def expand(self) -> set[str]:
        return set(self.nested("expand").values())

    def nested(self, prefix: str) -> dict[str, str]:
        """Keys like `metadata[payment_id]` as {"payment_id": ...}."""
        pattern = re.compile(rf"^{re.escape(prefix)}\[([^\]]+)\]$")
        return {m.group(1): v for k, v in self.form.items() if (m := pattern.match(k))}


@dataclass
class FakeStripe:
    """Start with `with FakeStripe() as fake:`; point the SDK at `fake.url`."""

    api_key: str = "sk_test_fake"
    requests: list[RecordedRequest] = field(default_factory=list)
    charges: list[Json] = field(default_factory=list)  # intents that moved money, once each
    refunds: list[Json] = field(default_factory=list)  # refunds made, once each
    events: list[Json] = field(default_factory=list)  # what Stripe would send, in order
    # Failures (see the module docstring): counts of requests, then a delay for every answer.
    drop_connections: int = 0  # before work: close the connection without answering
    fail_500: int = 0  # before work: answer 500
    rate_limit: int = 0  # before work: answer 429 (the SDK does not retry it)
    lose_answers: int = 0  # after work: close the connection without answering
    fail_500_after: int = 0  # after work: answer 500
    slow_seconds: float = 0.0  # after work: wait this long before answering
    fault_path: str | None = None  # when set, failures only hit requests to this exact path
    rate_per_second: float = 0  # 0: no rate limit; else 429 past this many in any second
    rate_limit_headers: dict[str, str] = field(default_factory=dict)  # sent with a rate 429
    rate_limited: int = 0  # requests answered 429 by the rate limit
    admitted_at: list[float] = field(default_factory=list)  # monotonic time of each admitted
    unsearchable: set[str] = field(default_factory=set)  # intent ids search does not see yet
    refund_status: str = "succeeded"  # "pending": new refunds are still settling
    payment_intents: dict[str, Json] = field(default_factory=dict)
    payment_methods: dict[str, Json] = field(default_factory=dict)
    customers: dict[str, Json] = field(default_factory=dict)
    payment_method_domains: dict[str, Json] = field(default_factory=dict)
    disputes: dict[str, Json] = field(default_factory=dict)
    apple_pay_verifies: bool = True  # False: Apple could not fetch the association file
    _outcomes: dict[str, str] = field(default_factory=dict)  # entered PaymentMethod -> outcome
    _idempotent: dict[str, tuple[str, int, Json]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        for pm_id, (brand, last4, _outcome) in TEST_CARDS.items():
            self.payment_methods[pm_id] = {
                "id": pm_id,
                "object": "payment_method",
                "type": "card",
                "card": {
                    "brand": brand,
                    "last4": last4,
                    "exp_month": 12,
                    "exp_year": 2034,
                    "funding": "credit",
                    "country": "US",
                    # Stripe's fingerprint: the same for every PaymentMethod of one number
                    "fingerprint": hashlib.sha256(f"{brand}{last4}".encode()).hexdigest()[:16],
                },
                "customer": None,
                "billing_details": {"email": None, "name": None},
                "livemode": False,
                "created": int(time.time()),
            }

    def enter_card(self, template: str = "pm_card_visa") -> str:
        """A new PaymentMethod for a test card, as the Payment Element makes each time a card
        is typed: a new id, the same card (and fingerprint)."""
        with self._lock:
            pm_id = self._new_id("pm")
            pm = json.loads(json.dumps(self.payment_methods[template]))
            pm.update(id=pm_id, customer=None)
            self.payment_methods[pm_id] = pm
            self._outcomes[pm_id] = TEST_CARDS[template][2]
        return pm_id

    def enter_wallet_card(
        self, wallet: str, template: str = "pm_card_visa", dynamic_last4: str = "0011"
    ) -> str:
        """A new PaymentMethod as Apple Pay (`wallet="apple_pay"`) or Google Pay
        (`"google_pay"`) hand it to the Payment Element: a card, with `card.wallet` naming the
        wallet and the last 4 of the device account number."""
        pm_id = self.enter_card(template)
        with self._lock:
            self.payment_methods[pm_id]["card"]["wallet"] = {
                "type": wallet,
                wallet: {},
                "dynamic_last4": dynamic_last4,
            }
        return pm_id

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- for tests: what happened ------------------------------------------------------------

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def net_charged(self, pi_id: str) -> int:
        """Cents the intent moved and kept: received less refunded (pending refunds count)."""
        with self._lock:
            return self.payment_intents[pi_id]["amount_received"] - self._refunded(pi_id)

    def event(self, kind: str, obj: Json) -> Json:
        """An event as Stripe sends it: a new `evt_` id, `created` now, and a snapshot of `obj`
        (an intent as stored, `latest_charge` an id; or a charge) as `data.object`."""
        return {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": copy.deepcopy(obj)},
        }

    # -- for tests: what the payer's bank does -----------------------------------------------

    def complete_action(self, pi_id: str, *, processing: bool = False) -> Json:
        """The payer passed 3-D Secure: the intent waiting on `requires_action` succeeds (or,
        with `processing`, is still settling). Returns a copy of the intent."""
        with self._lock:
            intent = self.payment_intents[pi_id]
            assert intent["status"] == "requires_action", intent["status"]
            intent["next_action"] = None
            intent["latest_charge"] = self._new_id("ch")
            self._finish(intent, "processing" if processing else "succeeded")
            return copy.deepcopy(intent)

    def fail_action(self, pi_id: str) -> Json:
        """The payer failed (or abandoned) 3-D Secure: the intent goes back to
        `requires_payment_method` with an authentication error. Returns a copy of the intent."""
        with self._lock:
            intent = self.payment_intents[pi_id]
            assert intent["status"] == "requires_action", intent["status"]
            intent["next_action"] = None
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication. You can provide"
                " payment_method_data or a new PaymentMethod to attempt to fulfill this"
                " PaymentIntent again.",
                "payment_method": dict(self.payment_methods[intent["payment_method"]]),
            }
            self._emit("payment_intent.payment_failed", intent)
            return copy.deepcopy(intent)

    def settle(self, pi_id: str) -> Json:
        """A `processing` intent's money arrived: it succeeds. Returns a copy of the intent."""
        with self._lock:
            intent = self.payment_intents[pi_id]
            assert intent["status"] == "processing", intent["status"]
            self._finish(intent, "succeeded")
            return copy.deepcopy(intent)

    # -- the API -----------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def _emit(self, kind: str, obj: Json) -> None:
        self.events.append(self.event(kind, obj))

    def _finish(self, intent: Json, status: str) -> None:
        """A confirmed intent with its charge: `succeeded` (money moved) or `processing`."""
        intent["status"] = status
        if status == "succeeded":
            intent["amount_received"] = intent["amount"]
            self.charges.append(intent)
        self._emit(f"payment_intent.{status}", intent)

    def peak_per_second(self) -> int:
        """The most requests admitted within any one second (sliding)."""
        with self._lock:
            times = sorted(self.admitted_at)
        peak, first = 0, 0
        for last, t in enumerate(times):
            while times[first] <= t - 1.0:
                first += 1
            peak = max(peak, last - first + 1)
        return peak

    def _over_rate(self) -> float | None:
        """None when a request is admitted under the rate; else seconds until a slot frees."""
        if self.rate_per_second <= 0:
            return None
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self.admitted_at[-int(self.rate_per_second) - 1 :] if t > now - 1]
            if len(recent) >= self.rate_per_second:
                self.rate_limited += 1
                return recent[-int(self.rate_per_second)] + 1.0 - now
            self.admitted_at.append(now)
            return None

    def _take_fault(self, path: str) -> tuple[str | None, float]:
        """The failure this request meets, if any (counted down), and its delay."""
        with self._lock:
            if self.fault_path is not None and path != self.fault_path:
                return None, 0.0
            for name in FAULTS:
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return name, self.slow_seconds
            return None, self.slow_seconds

    def handle(self, req: RecordedRequest) -> tuple[int, Json, dict[str, str]]:
        """Answer one request: (status, body, extra headers)."""
        with self._lock:
            self.requests.append(req)
            if req.headers.get("authorization") != f"Bearer {self.api_key}":
                return (
                    401,
                    {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}},
                    {},
                )
            key = req.idempotency_key if req.method == "POST" else None
            fingerprint = json.dumps([req.path, sorted(req.form.items())])
            if key and key in self._idempotent:
                first, status, body = self._idempotent[key]
                if first != fingerprint:
                    return (
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with"
                                " the same parameters they were first used with.",
                            }
                        },
                        {},
                    )
                return status, body, {"Idempotent-Replayed": "true"}
            try:
                status, body = 200, self._route(req)
            except StripeErrorResponse as exc:
                status, body = exc.status, {"error": exc.error}
            if key:
                self._idempotent[key] = (fingerprint, status, body)
            return status, body, {}

    def _route(self, req: RecordedRequest) -> Json:
        parts = req.path.strip("/").split("/")
        match req.method, parts:
            case "POST", ["v1", "payment_intents"]:
                return self._create_intent(req)
            case "GET", ["v1", "payment_intents", "search"]:
                return self._search_intents(req)
            case "GET", ["v1", "payment_intents", pi_id]:
                return self._render_intent(self._intent(pi_id), req.expand)
            case "POST", ["v1", "payment_intents", pi_id, "cancel"]:
                return self._cancel_intent(self._intent(pi_id), req)
            case "POST", ["v1", "refunds"]:
                return self._create_refund(req)
            case "GET", ["v1", "payment_methods", pm_id]:
                return self._payment_method(pm_id)
            case "POST", ["v1", "customers"]:
                cus_id = self._new_id("cus")
                self.customers[cus_id] = {
                    "id": cus_id,
                    "object": "customer",
                    "email": req.form.get("email"),
                    "name": req.form.get("name"),
                    "metadata": req.nested("metadata"),
                    "livemode": False,
                }
                return self.customers[cus_id]
            case "POST", ["v1", "payment_methods", pm_id, "attach"]:
                pm = self._payment_method(pm_id)
                customer = req.form.get("customer", "")
                if customer not in self.customers:
                    raise _missing("customer", customer, param="customer", status=400)
                pm["customer"] = customer
                return pm
            case "POST", ["v1", "payment_method_domains"]:
                return self._create_domain(req)
            case "GET", ["v1", "payment_method_domains"]:
                return self._list_domains(req)
            case "POST", ["v1", "payment_method_domains", pmd_id]:
                pmd = self._domain(pmd_id)
                if "enabled" in req.form:
                    pmd["enabled"] = req.form["enabled"] == "true"
                return copy.deepcopy(pmd)
            case "POST", ["v1", "payment_method_domains", pmd_id, "validate"]:
                pmd = self._domain(pmd_id)
                pmd["apple_pay"] = self._apple_pay_status()
                return copy.deepcopy(pmd)
            case "POST", ["v1", "payment_methods", pm_id, "detach"]:
                pm = self._payment_method(pm_id)
                if pm["customer"] is None:
                    raise _invalid(
                        "The payment method you provided is not attached to a customer so"
                        " detachment is impossible."
                    )
                pm["customer"] = None
                return pm
        raise _invalid(f"Unrecognized request URL ({req.method}: {req.path}).")

    def _intent(self, pi_id: str, *, param: str | None = None, status: int = 404) -> Json:
        intent = self.payment_intents.get(pi_id)
        if intent is None:
            raise _missing("payment_intent", pi_id, param=param, status=status)
        return intent

    def _apple_pay_status(self) -> Json:
        if self.apple_pay_verifies:
            return {"status": "active"}
        return {
            "status": "inactive",
            "status_details": {
                "error_message": "The domain association file could not be retrieved from the"
                " domain."
            },
        }

    def _create_domain(self, req: RecordedRequest) -> Json:
        name = req.form.get("domain_name", "")
        if not name:
            raise _invalid("Missing required param: domain_name.", param="domain_name")
        pmd_id = self._new_id("pmd")
        self.payment_method_domains[pmd_id] = {
            "id": pmd_id,
            "object": "payment_method_domain",
            "apple_pay": self._apple_pay_status(),
            "created": int(time.time()),
            "domain_name": name,
            "enabled": req.form.get("enabled", "true") == "true",
            "google_pay": {"status": "active"},
            "link": {"status": "active"},
            "livemode": False,
            "paypal": {"status": "active"},
        }
        return copy.deepcopy(self.payment_method_domains[pmd_id])

    def _list_domains(self, req: RecordedRequest) -> Json:
        name = req.form.get("domain_name")
        found = [
            copy.deepcopy(d)
            for d in self.payment_method_domains.values()
            if name is None or d["domain_name"] == name
        ]
        limit = int(req.form.get("limit") or 10)
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/payment_method_domains",
        }

    def _domain(self, pmd_id: str) -> Json:
        pmd = self.payment_method_domains.get(pmd_id)
        if pmd is None:
            raise _missing("payment_method_domain", pmd_id)
        return pmd

    def _payment_method(self, pm_id: str) -> Json:
        pm = self.payment_methods.get(pm_id)
        if pm is None:
            raise _missing("PaymentMethod", pm_id)
        return pm

    def _create_intent(self, req: RecordedRequest) -> Json:
        form = req.form
        try:
            amount = int(form.get("amount", ""))
        except ValueError:
            raise _invalid("Missing required param: amount.", param="amount") from None
        if amount < 50:
            raise _invalid(
                "Amount must be at least $0.50 usd", param="amount", code="amount_too_small"
            )
        if form.get("currency") != "usd":
            raise _invalid("Invalid currency.", param="currency")
        pm_id = form.get("payment_method", "")
        pm = self.payment_methods.get(pm_id)
        if pm is None:
            raise _missing("PaymentMethod", pm_id, param="payment_method", status=400)
        customer = form.get("customer") or None
        if customer is not None and customer not in self.customers:
            raise _missing("customer", customer, param="customer", status=400)
        if pm["customer"] is not None and pm["customer"] != customer:
            raise _invalid(
                "The provided PaymentMethod belongs to a different Customer.",
                param="payment_method",
            )
        automatic = req.nested("automatic_payment_methods")
        no_redirects = automatic.get("enabled") == "true" and (
            automatic.get("allow_redirects") == "never"
        )
        method_types = list(req.nested("payment_method_types").values())
        confirm = form.get("confirm") == "true"
        if confirm and not form.get("return_url") and not no_redirects and not method_types:
            raise _invalid(RETURN_URL_REQUIRED)
        off_session = form.get("off_session") == "true"
        pi_id = self._new_id("pi")
        intent: Json = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": "usd",
            "status": "requires_confirmation",
            "client_secret": f"{pi_id}_secret_fake",
            "customer": customer,
            "payment_method": pm_id,
            "payment_method_types": method_types or ["card"],
            "automatic_payment_methods": (
                {"enabled": True, "allow_redirects": automatic.get("allow_redirects", "always")}
                if automatic.get("enabled") == "true"
                else None
            ),
            "description": form.get("description"),
            "metadata": req.nested("metadata"),
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "livemode": False,
            "created": int(time.time()),
        }
        self.payment_intents[pi_id] = intent
        if not confirm:
            return self._render_intent(intent, req.expand)
        outcome = self._outcomes.get(pm_id) or TEST_CARDS.get(pm_id, ("", "", "succeed"))[2]
        if outcome == "3ds" and off_session:
            outcome = "authentication_required"
        if outcome in ("succeed", "processing", "dispute"):
            intent["latest_charge"] = self._new_id("ch")
            self._finish(intent, "processing" if outcome == "processing" else "succeeded")
            if outcome == "dispute":
                self._open_dispute(intent)
            return self._render_intent(intent, req.expand)
        if outcome == "3ds":
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
            self._emit("payment_intent.requires_action", intent)
            return self._render_intent(intent, req.expand)
        code, message = DECLINES[outcome]
        error = {
            "type": "card_error",
            "code": code,
            "decline_code": outcome,
            "message": message,
            "charge": self._new_id("ch"),
            "payment_method": dict(pm),
        }
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = dict(error)
        self._emit("payment_intent.payment_failed", intent)
        raise StripeErrorResponse(402, {**error, "payment_intent": copy.deepcopy(intent)})

    def _search_intents(self, req: RecordedRequest) -> Json:
        """Newest first. Supports `AND` of `field:'value'` and `metadata['key']:'value'`."""
        query = req.form.get("query")
        if not query:
            raise _invalid("Missing required param: query.", param="query")
        clauses = [_search_clause(text) for text in query.split(" AND ")]
        found = [
            intent
            for intent in self.payment_intents.values()
            if intent["id"] not in self.unsearchable and all(c(intent) for c in clauses)
        ]
        found.sort(key=lambda intent: (intent["created"], intent["id"]), reverse=True)
        limit = int(req.form.get("limit") or 10)
        expand = {name.removeprefix("data.") for name in req.expand}
        return {
            "object": "search_result",
            "data": [self._render_intent(intent, expand) for intent in found[:limit]],
            "has_more": len(found) > limit,
            "next_page": None,
            "url": "/v1/payment_intents/search",
        }

    def _cancel_intent(self, intent: Json, req: RecordedRequest) -> Json:
        if intent["status"] not in CANCELABLE:
            raise StripeErrorResponse(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": "You cannot cancel this PaymentIntent because it has a status of"
                    f" {intent['status']}. Only a PaymentIntent with one of the following"
                    f" statuses may be canceled: {', '.join(CANCELABLE)}.",
                    "param": None,
                    "payment_intent": copy.deepcopy(intent),
                },
            )
        intent["status"] = "canceled"
        intent["next_action"] = None
        intent["canceled_at"] = int(time.time())
        intent["cancellation_reason"] = req.form.get("cancellation_reason")
        self._emit("payment_intent.canceled", intent)
        return self._render_intent(intent, req.expand)

    # -- disputes: what the card's bank does -------------------------------------------------

    def _open_dispute(self, intent: Json) -> None:
        now = int(time.time())
        dispute: Json = {
            "id": self._new_id("du"),
            "object": "dispute",
            "amount": intent["amount_received"],
            "balance_transactions": [],
            "charge": intent["latest_charge"],
            "payment_intent": intent["id"],
            "created": now,
            "currency": "usd",
            "evidence_details": {
                "due_by": now + 7 * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "reason": "fraudulent",
            "status": "needs_response",
        }
        self.disputes[dispute["id"]] = dispute
        self._emit("charge.dispute.created", dispute)

    def update_dispute(self, du_id: str, status: str) -> Json:
        """The dispute moves on (e.g. evidence submitted: `under_review`). Returns a copy."""
        with self._lock:
            dispute = self.disputes[du_id]
            dispute["status"] = status
            self._emit("charge.dispute.updated", dispute)
            return copy.deepcopy(dispute)

    def close_dispute(self, du_id: str, status: str) -> Json:
        """The bank decides: `won`, `lost` or `warning_closed`. Returns a copy."""
        with self._lock:
            dispute = self.disputes[du_id]
            dispute["status"] = status
            dispute["evidence_details"]["due_by"] = None
            self._emit("charge.dispute.closed", dispute)
            return copy.deepcopy(dispute)

    def dispute_of(self, pi_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(
                next(d for d in self.disputes.values() if d["payment_intent"] == pi_id)
            )

    def _lost(self, pi_id: str) -> int:
        """What lost disputes took back of the intent's charge."""
        return sum(
            d["amount"]
            for d in self.disputes.values()
            if d["payment_intent"] == pi_id and d["status"] == "lost"
        )

    def _refunded(self, pi_id: str) -> int:
        return sum(
            r["amount"]
            for r in self.refunds
            if r["payment_intent"] == pi_id and r["status"] in ("succeeded", "pending")
        )

    def _create_refund(self, req: RecordedRequest) -> Json:
        form = req.form
        pi_id = form.get("payment_intent", "")
        if not pi_id:
            raise _invalid(
                "One of the following params should be provided for this request:"
                " payment_intent or charge."
            )
        intent = self._intent(pi_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded":
            raise _invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        remaining = intent["amount_received"] - self._refunded(pi_id)
        if remaining <= 0:
            raise _invalid(
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )
        try:
            amount = int(form.get("amount", remaining))
        except ValueError:
            raise _invalid("Invalid integer: amount.", param="amount") from None
        if amount < 1:
            raise _invalid("This value must be greater than or equal to 1.", param="amount")
        if amount > remaining:
            raise _invalid(
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on"
                f" charge (${remaining / 100:.2f})",
                param="amount",
                code="amount_too_large",
            )
        refund: Json = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": "usd",
            "charge": intent["latest_charge"],
            "payment_intent": pi_id,
            "status": self.refund_status,
            "reason": form.get("reason"),
            "metadata": req.nested("metadata"),
            "created": int(time.time()),
        }
        self.refunds.append(refund)
        self._emit("charge.refunded", self._render_charge(intent))
        return copy.deepcopy(refund)

    def _render_charge(self, intent: Json) -> Json:
        card = self.payment_methods[intent["payment_method"]]["card"]
        refunded = self._refunded(intent["id"])
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount_received"],
            "amount_refunded": refunded,
            "refunded": refunded > 0 and refunded >= intent["amount_received"],
            "currency": intent["currency"],
            "paid": intent["status"] == "succeeded",
            "status": "succeeded" if intent["status"] == "succeeded" else "pending",
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "metadata": dict(intent["metadata"]),
            "payment_method_details": {
                "type": "card",
                "card": {
                    k: card[k]
                    for k in ("brand", "last4", "exp_month", "exp_year", "funding", "wallet")
                    if k in card
                },
            },
        }

    def _render_intent(self, intent: Json, expand: set[str]) -> Json:
        """A snapshot (the stored idempotent answer must not change with the intent)."""
        body = copy.deepcopy(intent)
        if "latest_charge" in expand and intent["latest_charge"]:
            body["latest_charge"] = self._render_charge(intent)
        return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stripe: FakeStripe

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        fake = self.stripe
        req = RecordedRequest(
            method=self.command,
            path=split.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            form=dict(parse_qsl(raw if self.command == "POST" else split.query)),
        )
        wait = fake._over_rate()
        fault, delay = ("rate_limit", 0.0) if wait is not None else fake._take_fault(req.path)
        extra: dict[str, str] = {}
        if fault == "rate_limit":  # refused before any work, as Stripe does: ask again later
            after = {} if wait is None else {"Retry-After": str(max(1, math.ceil(wait)))}
            extra = after | fake.rate_limit_headers
        if fault in ("drop_connections", "fail_500", "rate_limit"):  # before any work
            with fake._lock:
                fake.requests.append(req)
            status, body = (429, RATE_LIMITED) if fault == "rate_limit" else (500, API_ERROR)
        else:
            status, body, extra = fake.handle(req)
        if delay:
            time.sleep(delay)  # Stripe being slow: the fake's thread waits, not the test
        if fault in ("drop_connections", "lose_answers"):
            self.close_connection = True
            return
        if fault == "fail_500_after":
            status, body, extra = 500, API_ERROR, {}
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_fake{len(fake.requests):06d}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            self.close_connection = True


def sign_webhook(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A real Stripe-Signature header: `t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def webhook_request(
    event: Json, secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe posts for `event`, signed with `secret` (for an in-process
    test client: `client.post(path, content=body, headers=headers)`)."""
    payload = json.dumps(event).encode()
    return payload, {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": sign_webhook(payload, secret, timestamp),
    }


def deliver(url: str, event: Json, secret: str, timestamp: int | None = None) -> int:
    """POST `event` to a listening webhook endpoint as Stripe does; the HTTP status it answered.
    Call it as often and in whatever order the test needs (late, twice, out of order)."""
    payload, headers = webhook_request(event, secret, timestamp)
    return httpx.post(url, content=payload, headers=headers, timeout=5).status_code
