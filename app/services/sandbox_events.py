"""The sandbox's webhooks: the events the sandbox processor queued (its disputes) are handed to
the same handler Stripe's signed webhooks reach, oldest first, as Stripe would post them. Run
by reconcile (in-process every RECONCILE_EVERY_SECONDS, and `monitorpay reconcile`) and right
after a supervisor's sandbox control. A gateway that posts its own webhooks (Stripe) queues
none."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.services import disputes
from app.services.webhooks import handle_stripe_event
from app.store.models import StaffUser

log = logging.getLogger("monitorpay.sandbox")
RETRY = ("unknown_payment",)  # no payment of ours for it yet: posted again next time


async def deliver(
    maker: async_sessionmaker[AsyncSession], gateway: PaymentGateway, clock: Clock, company: str
) -> list[str]:
    """What each delivered event did (handle_stripe_event's answers)."""
    undelivered = getattr(gateway, "undelivered_events", None)
    if undelivered is None:
        return []
    results = []
    for event in undelivered():
        done = await handle_stripe_event(maker, gateway, clock, event, company)
        log.info("event_id=%s type=%s result=%s", event.get("id"), event.get("type"), done)
        results.append(done)
        if done not in RETRY:
            gateway.mark_delivered(str(event["id"]))  # type: ignore[attr-defined]
    return results


async def decide_dispute(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    *,
    staff: StaffUser,
    dispute_id: int,
    outcome: str,
) -> list[str]:
    """A supervisor makes a sandbox dispute lost or won; its events arrive at once."""
    await disputes.sandbox_decide(
        maker, gateway, staff=staff, dispute_id=dispute_id, outcome=outcome
    )
    return await deliver(maker, gateway, clock, company)
