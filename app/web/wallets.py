"""Apple Pay and Google Pay in stripe mode: what the pages offer, the domain association file,
and registering the domain with Stripe.

A wallet is not a payment method of its own here: the Payment Element shows Apple Pay or Google
Pay beside the card fields when the browser, the device and the Stripe account allow it, and
hands back a card PaymentMethod (`card.wallet` names the wallet) that the server charges as any
other card. The sandbox has no wallets: its card entry is ours, cards only.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

from litestar import get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response

from app.settings import Settings

ASSOCIATION_PATH = "/.well-known/apple-developer-merchantid-domain-association"
ASSOCIATION_CACHE = "public, max-age=3600"  # Apple fetches it now and then; an hour is plenty


def element_wallets(settings: Settings) -> str:
    """The Payment Element's `wallets` choice for Apple Pay and Google Pay on a page that takes
    a payment: "auto" (shown where the browser and the Stripe account allow them) or "never".
    The card entry keeps saving a card (setup mode) card-only whatever this says."""
    return "auto" if settings.wallets else "never"


def association_handler(settings: Settings) -> HTTPRouteHandler | None:
    """The route serving the Apple Pay domain association file, or None when none is
    configured (then the address is not found). Read once, at start-up."""
    if not settings.apple_pay_domain_association or settings.payments_gateway != "stripe":
        return None
    body = Path(settings.apple_pay_domain_association).read_bytes()

    @get(
        ASSOCIATION_PATH,
        name="apple_pay_domain_association",
        # No CSRF cookie: a Set-Cookie on a public, cacheable response could be handed to others.
        opt={"exclude_from_csrf": True},
        sync_to_thread=False,
        include_in_schema=False,
    )
    def association() -> Response[bytes]:
        return Response(
            body,
            media_type="text/plain",
            headers={"cache-control": ASSOCIATION_CACHE},
        )

    return association


def domain_of(settings: Settings) -> str:
    """The host the pages are served from (PUBLIC_BASE_URL's), as Stripe registers it."""
    return urlsplit(settings.base_url).hostname or ""


async def register_domain(settings: Settings) -> tuple[int, list[str]]:
    """`monitorpay wallets-domain`: register PUBLIC_BASE_URL's host with Stripe for Apple Pay
    and Google Pay, or re-check it (safe to run again). Returns an exit code and the lines to
    print."""
    from app.adapters.payments.stripe_gateway import StripeGateway
    from app.domain.errors import DomainError

    if settings.payments_gateway != "stripe":
        return 2, ["wallets-domain: PAYMENTS_GATEWAY is not stripe; the sandbox has no wallets"]
    domain = domain_of(settings)
    if not settings.public_base_url or domain in ("", "localhost", "127.0.0.1"):
        return 2, ["wallets-domain: set PUBLIC_BASE_URL to the public https:// address first"]
    gateway = StripeGateway(
        settings.stripe_secret_key, settings.stripe_webhook_secret, settings.stripe_api_base
    )
    try:
        pmd = await gateway.register_domain(domain)
    except DomainError as exc:
        return 1, [f"wallets-domain: {exc}"]
    finally:
        await gateway.aclose()
    lines = [
        f"wallets-domain: {pmd.domain} {'registered' if pmd.created else 'already registered'}"
        f" ({pmd.ref}{'' if pmd.enabled else ', disabled'})",
        f"  Google Pay: {pmd.google_pay}",
        f"  Apple Pay: {pmd.apple_pay}"
        + (f" ({pmd.apple_pay_error})" if pmd.apple_pay_error else ""),
    ]
    if pmd.apple_pay != "active":
        lines.append(
            f"  Apple Pay needs {settings.base_url}{ASSOCIATION_PATH} reachable over HTTPS"
            " (APPLE_PAY_DOMAIN_ASSOCIATION); run this command again once it is."
        )
    if not settings.stripe_wallets:
        lines.append("  STRIPE_WALLETS is off: the pages do not offer wallets until it is on.")
    return 0, lines


def domain_command(settings: Settings) -> int:
    """`monitorpay wallets-domain`: run register_domain, print its lines (to stderr when it
    failed) and return its exit code."""
    code, lines = asyncio.run(register_domain(settings))
    print("\n".join(lines), file=sys.stderr if code else sys.stdout)
    return code
