"""A small fake of the Stripe API on 127.0.0.1, for running the real SDK in tests.

Outcomes follow Stripe's test PaymentMethods: `pm_card_visa` and `pm_card_mastercard` succeed,
`pm_card_chargeDeclined*` are refused with a 402 card_error, `pm_card_authenticationRequired`
needs 3-D Secure on session and is refused off session. `pm_card_processing` (fake only)
leaves the intent `processing`. Every request is recorded in `.requests`; POSTs honor
Idempotency-Key as Stripe does (same key, same parameters: the first response again).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Json = dict[str, Any]

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
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069", "expired_card"),
    "pm_card_chargeDeclinedIncorrectCvc": ("visa", "0127", "incorrect_cvc"),
}
DECLINES: dict[str, tuple[str, str]] = {  # decline_code -> (code, message)
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "authentication_required": (
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}


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


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    form: dict[str, str]  # form-decoded body (POST) or query string (GET)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

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
    fail_500: int = 0  # answer the next N requests with 500
    drop_connections: int = 0  # close the connection on the next N requests without answering
    payment_intents: dict[str, Json] = field(default_factory=dict)
    payment_methods: dict[str, Json] = field(default_factory=dict)
    customers: dict[str, Json] = field(default_factory=dict)
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
                },
                "customer": None,
                "billing_details": {"email": None, "name": None},
                "livemode": False,
                "created": int(time.time()),
            }

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

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- what the payer's bank does (3-D Secure), for tests ----------------------------------

    def complete_action(self, pi_id: str, *, processing: bool = False) -> Json:
        """The payer passed 3-D Secure: the intent waiting on `requires_action` succeeds (or,
        with `processing`, is still settling). Returns a copy of the intent."""
        with self._lock:
            intent = self.payment_intents[pi_id]
            assert intent["status"] == "requires_action", intent["status"]
            intent["next_action"] = None
            intent["latest_charge"] = self._new_id("ch")
            if processing:
                intent["status"] = "processing"
            else:
                intent["status"] = "succeeded"
                intent["amount_received"] = intent["amount"]
                self.charges.append(intent)
            return dict(intent)

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
            return dict(intent)

    # -- the API -----------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

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
            case "GET", ["v1", "payment_intents", pi_id]:
                intent = self.payment_intents.get(pi_id)
                if intent is None:
                    raise _missing("payment_intent", pi_id)
                return self._render_intent(intent, req)
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
            "description": form.get("description"),
            "metadata": req.nested("metadata"),
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "livemode": False,
            "created": int(time.time()),
        }
        self.payment_intents[pi_id] = intent
        if form.get("confirm") != "true":
            return self._render_intent(intent, req)
        outcome = TEST_CARDS.get(pm_id, ("", "", "succeed"))[2]
        if outcome == "3ds" and off_session:
            outcome = "authentication_required"
        if outcome in ("succeed", "processing"):
            charge_id = self._new_id("ch")
            intent["latest_charge"] = charge_id
            intent["status"] = "succeeded" if outcome == "succeed" else "processing"
            if outcome == "succeed":
                intent["amount_received"] = amount
                self.charges.append(intent)
            return self._render_intent(intent, req)
        if outcome == "3ds":
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
            return self._render_intent(intent, req)
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
        raise StripeErrorResponse(402, {**error, "payment_intent": dict(intent)})

    def _render_intent(self, intent: Json, req: RecordedRequest) -> Json:
        body = dict(intent)
        expand = {v for k, v in req.form.items() if k.startswith("expand[")}
        charge_id = intent["latest_charge"]
        if "latest_charge" in expand and charge_id:
            card = self.payment_methods[intent["payment_method"]]["card"]
            body["latest_charge"] = {
                "id": charge_id,
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount_received"],
                "currency": intent["currency"],
                "paid": intent["status"] == "succeeded",
                "status": "succeeded" if intent["status"] == "succeeded" else "pending",
                "payment_intent": intent["id"],
                "payment_method": intent["payment_method"],
                "payment_method_details": {
                    "type": "card",
                    "card": {
                        k: card[k] for k in ("brand", "last4", "exp_month", "exp_year", "funding")
                    },
                },
            }
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
        form = dict(parse_qsl(raw if self.command == "POST" else split.query))
        fake = self.stripe
        with fake._lock:
            drop = fake.drop_connections > 0
            fail = not drop and fake.fail_500 > 0
            if drop:
                fake.drop_connections -= 1
            elif fail:
                fake.fail_500 -= 1
        req = RecordedRequest(
            method=self.command,
            path=split.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            form=form,
        )
        if drop:
            with fake._lock:
                fake.requests.append(req)
            self.close_connection = True
            return
        if fail:
            with fake._lock:
                fake.requests.append(req)
            extra: dict[str, str] = {}
            status = 500
            body: Json = {"error": {"type": "api_error", "message": "Something went wrong."}}
        else:
            status, body, extra = fake.handle(req)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_fake{len(fake.requests):06d}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def sign_webhook(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A real Stripe-Signature header: `t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
