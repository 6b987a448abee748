"""Reconciliation (`monitorpay reconcile`, every RECONCILE_EVERY_SECONDS in-process, and once at
start-up): nothing stays unresolved.

- Every `pending` or `unknown` payment older than a short grace period is resolved by asking
  the processor (by its id, or by our idempotency key when the id never reached us); an
  abandoned 3-D Secure challenge is cancelled and its payment marked failed (abandoned).
- Every refund whose answer was lost is asked again with the same idempotency key.
- An account claim left by a payment that is already final is released.
- The sandbox processor's queued events (its disputes) are delivered (services/sandbox_events).

One instance at a time (a PostgreSQL advisory lock); every step is a conditional, idempotent
change anyway, so an overlap would do no harm.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.domain.payment_states import FINAL, UNRESOLVED
from app.services import payments, runs, sandbox_events
from app.services.payments import refunds
from app.store.advisory import single_runner
from app.store.models import Client, Payment, PaymentLink

log = logging.getLogger("monitorpay.reconcile")
# A payment this young may still be in the hands of the request that made it.
GRACE = timedelta(seconds=30)


@dataclass
class Report:
    payments: Counter[str] = field(default_factory=Counter)
    refunds: Counter[str] = field(default_factory=Counter)
    claims_released: int = 0
    events: Counter[str] = field(default_factory=Counter)  # the sandbox's, by what they did
    skipped: bool = False  # another instance was reconciling

    def lines(self) -> list[str]:
        if self.skipped:
            return ["reconcile: another instance is reconciling right now; nothing done"]
        out = [f"payments {what}: {n}" for what, n in sorted(self.payments.items())]
        out += [f"refunds {what}: {n}" for what, n in sorted(self.refunds.items())]
        out += [f"sandbox events {what}: {n}" for what, n in sorted(self.events.items())]
        out.append(f"stale account claims released: {self.claims_released}")
        return out


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str = "",
    grace: timedelta = GRACE,
) -> Report:
    engine = sessionmaker.kw["bind"]
    async with single_runner(engine, "reconcile") as mine:
        if not mine:
            log.info("event=reconcile_skipped reason=another_instance_is_running_it")
            return Report(skipped=True)
        return await _run(sessionmaker, gateway, clock, company, grace)


async def _run(
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    grace: timedelta,
) -> Report:
    report = Report()
    cutoff = clock.now() - grace
    async with sessionmaker() as s:
        unresolved = (
            (
                await s.execute(
                    select(col(Payment.id))
                    .where(
                        col(Payment.status).in_(UNRESOLVED),
                        col(Payment.created_at) < cutoff,
                    )
                    .order_by(col(Payment.id))
                )
            )
            .scalars()
            .all()
        )
    for pid in unresolved:
        assert pid is not None
        what = await payments.resolve(sessionmaker, gateway, clock, pid, company=company)
        report.payments[what] += 1
        log.info("payment_id=%s event=reconciled result=%s", pid, what)
    for rid in await refunds.unfinished(sessionmaker):
        report.refunds[await refunds.execute(sessionmaker, gateway, clock, rid, company)] += 1
    report.claims_released = await _release_stale_claims(sessionmaker)
    report.events.update(await sandbox_events.deliver(sessionmaker, gateway, clock, company))
    return report


async def _release_stale_claims(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as s:
        final = select(col(Payment.id)).where(col(Payment.status).in_(FINAL))
        done = await s.execute(
            update(Client)
            .where(col(Client.payment_in_flight).in_(final))
            .values(payment_in_flight=None)
        )
        await s.execute(
            update(PaymentLink)
            .where(col(PaymentLink.claim_payment_id).in_(final))
            .values(claim_payment_id=None)
        )
        await s.commit()
        return int(done.rowcount or 0)  # type: ignore[attr-defined]


async def run_every(
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    company: str,
    seconds: float,
    grace: timedelta = GRACE,
) -> None:
    """In-process schedule: once at start-up, then every `seconds`. Errors are logged, never
    fatal: the next round tries again."""
    while True:
        try:
            report = await run(sessionmaker, gateway, clock, company, grace)
            runs.reconcile_done(report, clock.now())  # /metrics
            if any(report.payments.values()) or any(report.refunds.values()):
                log.info("event=reconcile_round %s", " ".join(report.lines()).replace(": ", "="))
        except Exception:
            log.exception("event=reconcile_failed")
            runs.reconcile_failed()
        await asyncio.sleep(seconds)


class BackgroundResolver:
    """Resolves a payment whose answer was lost at once, in the background, asking again a few
    times over the next minute; reconcile catches whatever is left."""

    DELAYS = (0.5, 2.0, 5.0, 15.0, 40.0)

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        gateway: PaymentGateway,
        clock: Clock,
        company: str,
        enabled: bool = True,
    ) -> None:
        self._args = (sessionmaker, gateway, clock)
        self._enabled = enabled
        self._company = company
        self._tasks: set[asyncio.Task[None]] = set()

    def kick(self, payment_id: int) -> None:
        if not self._enabled:
            return
        task = asyncio.create_task(self._resolve(payment_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, payment_id: int) -> None:
        for delay in self.DELAYS:
            await asyncio.sleep(delay)
            try:
                what = await payments.resolve(*self._args, payment_id, company=self._company)
            except Exception:
                log.exception("payment_id=%s event=background_resolve_failed", payment_id)
                continue
            if what in ("applied", "failed", "final", "abandoned"):
                return

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
