"""The Stripe gateway: PaymentIntents through the official SDK's async client.

Only processor tokens (PaymentMethod ids) pass through here; card numbers never do. Logs
carry ids and error codes, never card data.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Unpack

import stripe

from app.adapters.payments.pacing import RateLimiter, Unlimited
from app.adapters.payments.port import (
    CardDetails,
    ChargeParams,
    ChargeResult,
    RefundResult,
    SavedCard,
)
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentMethod,
    OutcomeUnknown,
    ProcessorBusy,
)
from app.domain.numbers import parse_whole
from app.i18n import N_

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams

log = logging.getLogger("monitorpay.stripe")

WEBHOOK_TOLERANCE_SECONDS = 300

GENERIC_DECLINE = N_("Your card was declined. Try another card or call your bank.")
DECLINE_MESSAGES = {
    "generic_decline": GENERIC_DECLINE,
    "insufficient_funds": N_("Your card has insufficient funds. Try another card."),
    "expired_card": N_("Your card has expired. Check the expiry date or use another card."),
    "incorrect_cvc": N_("Your card's security code is incorrect. Check it and try again."),
    "authentication_required": (
        "Your bank needs you to confirm this payment. Pay from the payment link or My Account"
        " instead."
    ),
}
REFUND_REFUSED = "The processor refused this refund. Nothing was refunded."
REFUND_REFUSALS = {
    "amount_too_large": (
        "The refund is more than what is left of this payment. Nothing was refunded."
    ),
    "charge_already_refunded": "This payment has already been refunded in full.",
}
# lookup: of several intents for one payment, the one furthest along wins
LOOKUP_RANK = {"succeeded": 4, "processing": 3, "requires_action": 2, "requires_confirmation": 2}
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}
# card.wallet.type of a card that came from a wallet on the payer's device (the others Stripe
# names, such as link or masterpass, are not offered here and read as plain cards)
WALLETS = {"apple_pay": "Apple Pay", "google_pay": "Google Pay"}


class InvalidWebhook(DomainError):
    message = "Invalid webhook signature."


def brand_name(brand: str | None) -> str:
    """Stripe's brand code in the words a receipt uses."""
    code = (brand or "").strip().lower()
    return BRANDS.get(code) or code.replace("_", " ").title() or "Card"


def decline_message(code: str) -> str:
    return DECLINE_MESSAGES.get(code, GENERIC_DECLINE)


def wallet_name(card: Any) -> str | None:
    """ "Apple Pay" or "Google Pay" for a card (a PaymentMethod's `card`, or a charge's
    `payment_method_details.card`) that came from that wallet; None for a typed card."""
    wallet = (card or {}).get("wallet") or {}
    return WALLETS.get(str(wallet.get("type") or "")) if isinstance(wallet, dict) else None


def _card_details(card: Any) -> CardDetails | None:
    if not card:
        return None
    return CardDetails(
        brand=brand_name(card.get("brand")),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        wallet=wallet_name(card),
    )


def _charge_card(intent: dict[str, Any]) -> CardDetails | None:
    """The card of the intent's expanded latest charge, if any."""
    charge = intent.get("latest_charge")
    if not isinstance(charge, dict):
        return None
    return _card_details((charge.get("payment_method_details") or {}).get("card"))


def _id_of(value: Any) -> str | None:
    """The id of an expandable field, whether expanded (a dict) or not (a string)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("id"):
        return str(value["id"])
    return None


@dataclass(frozen=True)
class PaymentMethodDomain:
    """A web domain registered with Stripe for wallets, and whether each wallet is active on
    it (Apple Pay only once Apple could fetch the domain association file)."""

    ref: str  # pmd_...
    domain: str
    enabled: bool
    apple_pay: str  # active | inactive
    google_pay: str
    apple_pay_error: str | None  # why Apple Pay is inactive, in Stripe's words
    created: bool  # registered by this call (False: it was registered already)


class StripeGateway:
    """The PaymentGateway port over Stripe PaymentIntents."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str = "",
        *,
        max_network_retries: int = 2,
        timeout_seconds: float = 30,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._webhook_secret = webhook_secret
        # the account's rate limit, which batch work (AutoPay) paces itself to
        self.limiter: RateLimiter = limiter or Unlimited()
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        """Close the pooled HTTP connections (and the limiter's)."""
        await self._http.close_async()
        await self.limiter.aclose()

    async def charge(self, **charge: Unpack[ChargeParams]) -> ChargeResult:
        """Confirmed on the server, so no redirect-based payment methods: cards only."""
        params: PaymentIntentCreateParams = {
            "amount": charge["amount_cents"],
            "currency": "usd",
            "payment_method": charge["payment_method"],
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "description": charge["description"],
            "metadata": dict(charge.get("metadata") or {}),
            "expand": ["latest_charge"],
        }
        if customer := charge.get("customer"):
            params["customer"] = customer
        if charge.get("off_session"):
            params["off_session"] = True
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params, options={"idempotency_key": charge["idempotency_key"]}
            )
        except stripe.StripeError as exc:
            raise _map_error(exc, "charge", may_have_happened=True) from None
        log.info("payment_intent=%s status=%s event=stripe_charge", intent.id, intent.status)
        return _charge_result(intent.to_dict(), just_created=True)

    async def retrieve(self, processor_ref: str) -> ChargeResult:
        """The PaymentIntent's state. One back at `requires_payment_method` (3-D Secure failed
        or was abandoned) or canceled comes back as `failed`: nothing was charged."""
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(
                processor_ref, params={"expand": ["latest_charge"]}
            )
        except stripe.StripeError as exc:
            raise _map_error(exc, "retrieve") from None
        return _charge_result(intent.to_dict(), just_created=False)

    async def lookup(self, *, idempotency_key: str, payment_id: int) -> ChargeResult | None:
        """The intent created for `payment_id` (Stripe cannot be searched by idempotency key,
        so by our `payment_id` metadata). Of several, the one furthest along: succeeded first.
        Stripe's search index lags writes (under a minute, longer in an outage), so None soon
        after the charge is not proof that it never happened."""
        try:
            found = await self._client.v1.payment_intents.search_async(
                params={
                    "query": f"metadata['payment_id']:'{int(payment_id)}'",
                    "expand": ["data.latest_charge"],
                    "limit": 100,
                }
            )
        except stripe.StripeError as exc:
            raise _map_error(exc, "lookup") from None
        intents: list[dict[str, Any]] = found.to_dict()["data"]
        log.info(
            "payment_id=%s idempotency_key=%s found=%s event=stripe_lookup",
            payment_id,
            idempotency_key,
            [i["id"] for i in intents],
        )
        if not intents:
            return None
        best = max(
            intents, key=lambda i: (LOOKUP_RANK.get(str(i.get("status")), 0), i.get("created") or 0)
        )
        return _charge_result(best, just_created=False)

    async def cancel(self, processor_ref: str) -> ChargeResult:
        """Cancel an intent still waiting for the payer. Stripe refuses once it succeeded, is
        processing or was already cancelled: then its current state is the answer."""
        try:
            intent = await self._client.v1.payment_intents.cancel_async(
                processor_ref, params={"expand": ["latest_charge"]}
            )
        except stripe.InvalidRequestError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise _map_error(exc, "cancel", may_have_happened=True) from None
            log.info("payment_intent=%s event=stripe_cancel_refused_state", processor_ref)
            return await self.retrieve(processor_ref)
        except stripe.StripeError as exc:
            raise _map_error(exc, "cancel", may_have_happened=True) from None
        log.info("payment_intent=%s status=%s event=stripe_cancel", intent.id, intent.status)
        return _charge_result(intent.to_dict(), just_created=False)

    async def refund(
        self, *, processor_ref: str, amount_cents: int, idempotency_key: str, reason: str
    ) -> RefundResult:
        try:
            refund = await self._client.v1.refunds.create_async(
                params={
                    "payment_intent": processor_ref,
                    "amount": amount_cents,
                    "metadata": {"reason": reason},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            refused = GatewayError(REFUND_REFUSALS.get(str(exc.code), REFUND_REFUSED))
            raise _map_error(exc, "refund", may_have_happened=True, refused=refused) from None
        log.info(
            "payment_intent=%s refund=%s status=%s event=stripe_refund",
            processor_ref,
            refund.id,
            refund.status,
        )
        if refund.status == "succeeded":
            status: Literal["succeeded", "pending"] = "succeeded"
        elif refund.status in ("pending", "requires_action"):
            status = "pending"
        else:  # failed or canceled at once
            raise GatewayError(REFUND_REFUSED)
        return RefundResult(refund_ref=refund.id, amount_cents=refund.amount, status=status)

    async def describe_payment_method(self, payment_method: str) -> CardDetails:
        try:
            pm = await self._client.v1.payment_methods.retrieve_async(payment_method)
        except stripe.StripeError as exc:
            raise _map_error(exc, "describe", refused=InvalidPaymentMethod()) from None
        card = _card_details(pm.to_dict().get("card"))
        if card is None:
            log.warning("payment_method=%s event=stripe_not_a_card", pm.id)
            raise InvalidPaymentMethod()
        return card

    async def save_card(
        self, *, payment_method: str, customer: str | None, email: str, name: str
    ) -> SavedCard:
        try:
            if customer is None:
                created = await self._client.v1.customers.create_async(
                    params={"email": email, "name": name}
                )
                customer = created.id
                log.info("customer=%s event=stripe_customer_created", customer)
            pm = await self._client.v1.payment_methods.attach_async(
                payment_method, params={"customer": customer}
            )
        except stripe.StripeError as exc:
            raise _map_error(exc, "save_card", refused=InvalidPaymentMethod()) from None
        card = _card_details(pm.to_dict().get("card"))
        if card is None:
            raise InvalidPaymentMethod()
        log.info("customer=%s payment_method=%s event=stripe_card_saved", customer, pm.id)
        return SavedCard(
            customer_ref=customer,
            payment_method_ref=pm.id,
            card=card,
            fingerprint=(pm.to_dict().get("card") or {}).get("fingerprint") or None,
        )

    async def remove_card(self, payment_method: str) -> None:
        """Detach; a card already detached (or gone) counts as removed."""
        try:
            await self._client.v1.payment_methods.detach_async(payment_method)
        except stripe.InvalidRequestError as exc:
            if await self._already_detached(payment_method):
                log.info("payment_method=%s event=stripe_card_already_detached", payment_method)
                return
            raise _map_error(exc, "remove_card", refused=InvalidPaymentMethod()) from None
        except stripe.StripeError as exc:
            raise _map_error(exc, "remove_card") from None
        log.info("payment_method=%s event=stripe_card_detached", payment_method)

    async def register_domain(self, domain: str) -> PaymentMethodDomain:
        """Register `domain` for Apple Pay and Google Pay in the Payment Element (a Stripe
        PaymentMethodDomain), or enable and re-check the one already registered: Stripe asks
        Apple to fetch the association file again. Safe to run again."""
        domains = self._client.v1.payment_method_domains
        try:
            found = await domains.list_async(params={"domain_name": domain, "limit": 1})
            existing = found.data[0] if found.data else None
            if existing is None:
                pmd = await domains.create_async(params={"domain_name": domain, "enabled": True})
            else:
                if not existing.enabled:
                    await domains.update_async(existing.id, params={"enabled": True})
                pmd = await domains.validate_async(existing.id)
        except (stripe.InvalidRequestError, stripe.AuthenticationError) as exc:
            log.warning("domain=%s code=%s event=stripe_domain_refused", domain, exc.code)
            raise GatewayError(
                f"Stripe refused to register {domain}: {exc.user_message or exc.code}"
            ) from None
        except stripe.StripeError as exc:
            raise _map_error(exc, "register_domain") from None
        data = pmd.to_dict()
        apple = data.get("apple_pay") or {}
        result = PaymentMethodDomain(
            ref=str(data["id"]),
            domain=str(data.get("domain_name") or domain),
            enabled=bool(data.get("enabled")),
            apple_pay=str(apple.get("status") or "inactive"),
            google_pay=str((data.get("google_pay") or {}).get("status") or "inactive"),
            apple_pay_error=(apple.get("status_details") or {}).get("error_message"),
            created=existing is None,
        )
        log.info(
            "domain=%s payment_method_domain=%s apple_pay=%s google_pay=%s event=stripe_domain",
            result.domain,
            result.ref,
            result.apple_pay,
            result.google_pay,
        )
        return result

    def verify_webhook(self, payload: bytes, sig_header: str) -> dict[str, Any]:
        """Check the Stripe-Signature header (HMAC-SHA256, 5-minute tolerance) and return the
        event as plain JSON data."""
        if not self._webhook_secret or not sig_header:
            raise InvalidWebhook()
        try:
            stripe.WebhookSignature.verify_header(
                payload, sig_header, self._webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, ValueError):
            raise InvalidWebhook() from None
        # The SDK refuses only timestamps too far in the past; one from the future is as
        # suspect (a replay signed ahead, or a skewed clock): the same ±5 minutes both ways.
        if _signed_at(sig_header) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
            raise InvalidWebhook()
        if not isinstance(event, dict):
            raise InvalidWebhook()
        return event

    async def _already_detached(self, payment_method: str) -> bool:
        try:
            pm = await self._client.v1.payment_methods.retrieve_async(payment_method)
        except stripe.InvalidRequestError as exc:
            return exc.code == "resource_missing"
        except stripe.StripeError:
            return False
        return pm.to_dict().get("customer") is None


def _signed_at(sig_header: str) -> int:
    """The `t=` of a Stripe-Signature header that verify_header accepted: the first one, as
    the SDK reads it, and written plainly (the SDK's `int()` also takes "+1", " 1", "١")."""
    stamps = [v for k, _, v in (item.partition("=") for item in sig_header.split(",")) if k == "t"]
    signed_at = parse_whole(stamps[0]) if stamps else None
    if signed_at is None or stamps[0] != str(signed_at):
        raise InvalidWebhook()
    return signed_at


def _charge_result(intent: dict[str, Any], *, just_created: bool) -> ChargeResult:
    """A PaymentIntent as the port's ChargeResult. Straight from a create (`just_created`), a
    decline raises CardDeclined; read later, a declined, abandoned or cancelled intent is
    `failed`: nothing was charged."""
    ref = str(intent["id"])
    status = intent.get("status")
    amount = int(intent.get("amount") or 0)
    if status in ("succeeded", "processing"):
        return ChargeResult(
            status="succeeded" if status == "succeeded" else "processing",
            processor_ref=ref,
            amount_cents=amount,
            card=_charge_card(intent),
        )
    if status == "requires_action" or (not just_created and status == "requires_confirmation"):
        return ChargeResult(
            status="requires_action",
            processor_ref=ref,
            amount_cents=amount,
            card=None,
            client_secret=intent.get("client_secret"),
        )
    if not just_created and status in ("requires_payment_method", "canceled"):
        return ChargeResult(status="failed", processor_ref=ref, amount_cents=amount, card=None)
    if status == "requires_payment_method":
        error = intent.get("last_payment_error") or {}
        code = str(error.get("decline_code") or error.get("code") or "generic_decline")
        log.info("payment_intent=%s code=%s event=stripe_declined", ref, code)
        card = (error.get("payment_method") or {}).get("card") or {}
        raise CardDeclined(
            code,
            decline_message(code),
            processor_ref=ref,
            brand=brand_name(card.get("brand")) if card.get("brand") else None,
            last4=card.get("last4"),
        )
    log.error("payment_intent=%s status=%s event=stripe_unexpected_status", ref, status)
    raise GatewayError()


def _header(headers: Any, name: str) -> str | None:
    """A response header, whatever the case of its name (the SDK's dict keeps the server's)."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value).strip()
    return None


def busy_answer(headers: Any) -> ProcessorBusy:
    """A 429 as ProcessorBusy: `Retry-After` in seconds (an HTTP date or garbage: not said)
    and `Stripe-Should-Retry` (only an explicit "false" says asking again will not help)."""
    raw = _header(headers, "retry-after")
    try:
        retry_after: float | None = max(0.0, float(raw)) if raw else None
    except ValueError:
        retry_after = None
    if retry_after is not None and not retry_after < 3600:  # nan, inf, or an hour: not believed
        retry_after = None
    return ProcessorBusy(
        retry_after, should_retry=_header(headers, "stripe-should-retry") != "false"
    )


def _map_error(
    exc: stripe.StripeError,
    action: str,
    *,
    may_have_happened: bool = False,
    refused: GatewayError | None = None,
) -> DomainError:
    """A Stripe error as the port's error. Logs codes and ids only, never card data.

    `may_have_happened`: the call changes something (a charge, refund or cancel), so a lost
    answer (connection error, timeout, reset, 5xx, 409 conflict) is OutcomeUnknown; for a read
    it is GatewayUnavailable. A 429 is always ProcessorBusy (a GatewayUnavailable): Stripe did
    nothing, and says when to ask again.
    `refused`: what an invalid request means for this call (default: InvalidPaymentMethod when
    Stripe names the payment method, else GatewayError)."""
    kind, status, request_id = type(exc).__name__, exc.http_status, exc.request_id
    if isinstance(exc, stripe.CardError):
        body: Any = exc.json_body if isinstance(exc.json_body, dict) else {}
        err: dict[str, Any] = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(err.get("decline_code") or exc.code or "generic_decline")
        ref = _id_of(err.get("payment_intent"))
        log.info("action=%s payment_intent=%s code=%s event=stripe_declined", action, ref, code)
        return CardDeclined(code, decline_message(code), processor_ref=ref)
    if isinstance(exc, stripe.RateLimitError):
        busy = busy_answer(exc.headers)
        log.warning(
            "action=%s request_id=%s retry_after=%s should_retry=%s event=stripe_rate_limited",
            action,
            request_id,
            busy.retry_after,
            busy.should_retry,
        )
        return busy
    if isinstance(exc, stripe.APIConnectionError | stripe.APIError):
        event = "stripe_outcome_unknown" if may_have_happened else "stripe_unavailable"
        log.warning(
            "action=%s error=%s status=%s request_id=%s event=%s",
            action,
            kind,
            status,
            request_id,
            event,
        )
        return OutcomeUnknown() if may_have_happened else GatewayUnavailable()
    if isinstance(exc, stripe.InvalidRequestError):
        param, code = str(exc.param or ""), str(exc.code or "")
        log.warning(
            "action=%s code=%s param=%s request_id=%s event=stripe_invalid_request",
            action,
            code,
            param,
            request_id,
        )
        if refused is not None:
            return refused
        if (
            param.startswith("payment_method")
            or code.startswith("payment_method")
            or code == "payment_intent_incompatible_payment_method"
        ):
            return InvalidPaymentMethod()
        return GatewayError()
    log.error(
        "action=%s error=%s status=%s request_id=%s event=stripe_error",
        action,
        kind,
        status,
        request_id,
    )
    return GatewayError()
