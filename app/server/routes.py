"""Every route of the app, by surface; some only in development, with the sandbox processor,
or with Apple Pay configured."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from app.settings import Settings
from app.web import (
    account,
    auth,
    dev,
    disputes,
    health,
    history,
    invoices,
    metrics,
    pay,
    plus,
    refunds,
    reports,
    sandbox,
    search,
    static_assets,
    take_payment,
    wallets,
    webhooks,
)

ALWAYS: list[ControllerRouterHandler] = [
    health.healthz,
    health.readyz,
    metrics.MetricsController,
    auth.StaffAuthController,
    auth.ClientAuthController,
    search.SearchController,
    plus.PlusController,
    reports.ReportsController,
    disputes.DisputesController,
    history.HistoryController,
    invoices.InvoicesController,
    take_payment.TakePaymentController,
    refunds.RefundsController,
    pay.PayController,
    webhooks.stripe_webhook,
    webhooks.twilio_status,
    webhooks.twilio_inbound,
    *account.CONTROLLERS,
    static_assets.serve,
]


def route_handlers(settings: Settings) -> list[ControllerRouterHandler]:
    handlers = list(ALWAYS)
    if settings.is_dev:
        handlers.append(dev.DevController)
    if settings.payments_gateway == "sandbox":
        handlers += [sandbox.tokenize, sandbox.challenge, sandbox.challenge_answer]
    if (association := wallets.association_handler(settings)) is not None:
        handlers.append(association)  # Apple Pay's domain check; not found otherwise
    return handlers
