"""Choose the payment gateway from PAYMENTS_GATEWAY, with its account's rate limiter."""

from __future__ import annotations

import hashlib

from app.adapters.payments.pacing import RateLimiter, make_limiter
from app.adapters.payments.port import PaymentGateway
from app.adapters.payments.sandbox import SandboxGateway
from app.clock import Clock
from app.settings import Settings


def _limiter(settings: Settings, account: str) -> RateLimiter:
    """One limiter per processor account (named by a hash, never the key itself), shared by
    every instance through Redis when REDIS_URL is set."""
    name = f"{settings.payments_gateway}:{hashlib.sha256(account.encode()).hexdigest()[:16]}"
    return make_limiter(settings.processor_rate, redis_url=settings.redis_url, account=name)


def make_gateway(settings: Settings, clock: Clock) -> PaymentGateway:
    if settings.payments_gateway == "stripe":
        from app.adapters.payments.stripe_gateway import StripeGateway

        return StripeGateway(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            limiter=_limiter(settings, settings.stripe_secret_key),
        )
    return SandboxGateway(
        clock,
        settings.sandbox_ledger,
        rate_limit=settings.sandbox_rate_limit_per_second,
        limiter=_limiter(settings, settings.sandbox_ledger),
    )
