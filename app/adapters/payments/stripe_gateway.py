"""The Stripe gateway: PaymentIntents through the official SDK's async client.

Only processor tokens (PaymentMethod ids) pass through here; card numbers never do. Logs
carry ids and error codes, never card data.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import stripe

from app.adapters.payments.port import CardDetails, ChargeResult, SavedCard
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentMethod,
)

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams

log = logging.getLogger("monitorpay.stripe")

WEBHOOK_TOLERANCE_SECONDS = 300

GENERIC_DECLINE = "Your card was declined. Try another card or call your bank."
DECLINE_MESSAGES = {
    "generic_decline": GENERIC_DECLINE,
    "insufficient_funds": "Your card has insufficient funds. Try another card.",
    "expired_card": "Your card has expired. Check the expiry date or use another card.",
    "incorrect_cvc": "Your card's security code is incorrect. Check it and try again.",
    "authentication_required": (
        "Your bank needs you to confirm this payment. Pay from the payment link or My Account"
        " instead."
    ),
}
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


class InvalidWebhook(DomainError):
    message = "Invalid webhook signature."


def brand_name(brand: str | None) -> str:
    """Stripe's brand code in the words a receipt uses."""
    code = (brand or "").strip().lower()
    return BRANDS.get(code) or code.replace("_", " ").title() or "Card"


def decline_message(code: str) -> str:
    return DECLINE_MESSAGES.get(code, GENERIC_DECLINE)


def _card_details(card: Any) -> CardDetails | None:
    if not card:
        return None
    return CardDetails(
        brand=brand_name(card.get("brand")),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
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
    ) -> None:
        self._webhook_secret = webhook_secret
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        """Close the pooled HTTP connections."""
        await self._http.close_async()

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
        params: PaymentIntentCreateParams = {
            "amount": amount_cents,
            "currency": "usd",
            "payment_method": payment_method,
            "confirm": True,
            "description": description,
            "metadata": dict(metadata or {}),
            "expand": ["latest_charge"],
        }
        if customer:
            params["customer"] = customer
        if off_session:
            params["off_session"] = True
        else:
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise self._map_error(exc, "charge") from None
        log.info("payment_intent=%s status=%s event=stripe_charge", intent.id, intent.status)
        return await self._result(intent.to_dict(), after="charge")

    async def retrieve(self, processor_ref: str) -> ChargeResult:
        """The PaymentIntent's state. One back at `requires_payment_method` (3-D Secure failed
        or was abandoned) or canceled comes back as `failed`: nothing was charged."""
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(
                processor_ref, params={"expand": ["latest_charge"]}
            )
        except stripe.StripeError as exc:
            raise self._map_error(exc, "retrieve") from None
        return await self._result(intent.to_dict(), after="retrieve")

    async def describe_payment_method(self, payment_method: str) -> CardDetails:
        try:
            pm = await self._client.v1.payment_methods.retrieve_async(payment_method)
        except stripe.StripeError as exc:
            raise self._map_error(exc, "describe", payment_method_error=True) from None
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
            raise self._map_error(exc, "save_card", payment_method_error=True) from None
        card = _card_details(pm.to_dict().get("card"))
        if card is None:
            raise InvalidPaymentMethod()
        log.info("customer=%s payment_method=%s event=stripe_card_saved", customer, pm.id)
        return SavedCard(customer_ref=customer, payment_method_ref=pm.id, card=card)

    async def remove_card(self, payment_method: str) -> None:
        """Detach; a card already detached (or gone) counts as removed."""
        try:
            await self._client.v1.payment_methods.detach_async(payment_method)
        except stripe.InvalidRequestError as exc:
            if await self._already_detached(payment_method):
                log.info("payment_method=%s event=stripe_card_already_detached", payment_method)
                return
            raise self._map_error(exc, "remove_card", payment_method_error=True) from None
        except stripe.StripeError as exc:
            raise self._map_error(exc, "remove_card") from None
        log.info("payment_method=%s event=stripe_card_detached", payment_method)

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

    async def _result(self, intent: dict[str, Any], *, after: str) -> ChargeResult:
        ref = str(intent["id"])
        status = intent.get("status")
        amount = int(intent.get("amount") or 0)
        if status in ("succeeded", "processing"):
            card = _charge_card(intent)
            if card is None and status == "succeeded":
                pm = _id_of(intent.get("payment_method"))
                card = await self.describe_payment_method(pm) if pm else None
            return ChargeResult(
                status="succeeded" if status == "succeeded" else "processing",
                processor_ref=ref,
                amount_cents=amount,
                card=card,
            )
        if after == "retrieve" and status in ("requires_payment_method", "canceled"):
            return ChargeResult(status="failed", processor_ref=ref, amount_cents=amount, card=None)
        if status == "requires_action" or (
            after == "retrieve" and status == "requires_confirmation"
        ):
            return ChargeResult(
                status="requires_action",
                processor_ref=ref,
                amount_cents=amount,
                card=None,
                client_secret=intent.get("client_secret"),
            )
        error = intent.get("last_payment_error") or {}
        if status == "requires_payment_method":
            code = str(error.get("decline_code") or error.get("code") or "generic_decline")
            log.info("payment_intent=%s code=%s event=stripe_declined", ref, code)
            raise CardDeclined(code, decline_message(code), processor_ref=ref)
        log.error("payment_intent=%s status=%s event=stripe_unexpected_status", ref, status)
        raise GatewayError()

    @staticmethod
    def _map_error(
        exc: stripe.StripeError, action: str, *, payment_method_error: bool = False
    ) -> GatewayError:
        """A Stripe error as the port's error. Logs codes and ids only."""
        if isinstance(exc, stripe.CardError):
            body: Any = exc.json_body if isinstance(exc.json_body, dict) else {}
            err: dict[str, Any] = body.get("error") if isinstance(body.get("error"), dict) else {}
            code = str(err.get("decline_code") or exc.code or "generic_decline")
            ref = _id_of(err.get("payment_intent"))
            log.info("action=%s payment_intent=%s code=%s event=stripe_declined", action, ref, code)
            return CardDeclined(code, decline_message(code), processor_ref=ref)
        if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
            isinstance(exc, stripe.APIError) and (exc.http_status or 500) >= 500
        ):
            log.warning(
                "action=%s error=%s status=%s request_id=%s event=stripe_unavailable",
                action,
                type(exc).__name__,
                exc.http_status,
                exc.request_id,
            )
            return GatewayUnavailable()
        if isinstance(exc, stripe.InvalidRequestError):
            param = str(exc.param or "")
            code = str(exc.code or "")
            log.warning(
                "action=%s code=%s param=%s request_id=%s event=stripe_invalid_request",
                action,
                code,
                param,
                exc.request_id,
            )
            if (
                payment_method_error
                or param.startswith("payment_method")
                or code.startswith("payment_method")
                or code == "payment_intent_incompatible_payment_method"
            ):
                return InvalidPaymentMethod()
            return GatewayError()
        log.error(
            "action=%s error=%s status=%s request_id=%s event=stripe_error",
            action,
            type(exc).__name__,
            exc.http_status,
            exc.request_id,
        )
        return GatewayError()
