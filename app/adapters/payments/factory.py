"""Choose the payment gateway from PAYMENTS_GATEWAY."""

from __future__ import annotations

from app.adapters.payments.port import PaymentGateway
from app.adapters.payments.sandbox import SandboxGateway
from app.clock import Clock
from app.settings import Settings


def make_gateway(settings: Settings, clock: Clock) -> PaymentGateway:
    if settings.payments_gateway == "stripe":
        from app.adapters.payments.stripe_gateway import StripeGateway

        return StripeGateway(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    return SandboxGateway(clock, settings.sandbox_ledger)
