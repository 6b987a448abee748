"""What the scheduled jobs leave for operators to watch (/metrics).

- AutoPay: each finished run is an audit event (system, no client) with its counts, durable and
  shared by every instance and by `monitorpay autopay` from cron: "AutoPay did not run today" is
  a question about the database, not about one process.
- Reconcile runs every minute in each server process: counters in that process (Prometheus
  adds them up across instances); a run that failed is counted too. A durable trace of it
  is the age of the oldest unresolved payment, which /metrics reads from the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services import audit


class AutopayCounts(Protocol):
    due: int
    charged: int
    failed: int
    errors: int


class ReconcileCounts(Protocol):
    @property
    def payments(self) -> dict[str, int]: ...
    @property
    def refunds(self) -> dict[str, int]: ...
    @property
    def skipped(self) -> bool: ...


RECONCILE_RUNS = Counter(
    "monitorpay_reconcile_runs",
    "Reconcile rounds run by this process, by outcome (ok, skipped: another instance had it, "
    "failed: an error stopped the round)",
    ["outcome"],
)
RECONCILE_PAYMENTS = Counter(
    "monitorpay_reconcile_payments",
    "Unresolved payments reconcile asked the processor about, by what it learnt",
    ["result"],
)
RECONCILE_REFUNDS = Counter(
    "monitorpay_reconcile_refunds", "Unfinished refunds reconcile retried, by result", ["result"]
)
RECONCILE_LAST_OK = Gauge(
    "monitorpay_reconcile_last_success_timestamp_seconds",
    "When this process last finished a reconcile round without an error (Unix time)",
)


async def record_autopay(
    maker: async_sessionmaker[AsyncSession], finished_at: datetime, report: AutopayCounts
) -> None:
    async with maker() as s:
        audit.autopay_run(
            s,
            at=finished_at,
            due=report.due,
            charged=report.charged,
            failed=report.failed,
            errors=report.errors,
        )
        await s.commit()


def reconcile_done(report: ReconcileCounts, finished_at: datetime) -> None:
    RECONCILE_RUNS.labels("skipped" if report.skipped else "ok").inc()
    for result, n in report.payments.items():
        RECONCILE_PAYMENTS.labels(result).inc(n)
    for result, n in report.refunds.items():
        RECONCILE_REFUNDS.labels(result).inc(n)
    RECONCILE_LAST_OK.set(finished_at.timestamp())


def reconcile_failed() -> None:
    RECONCILE_RUNS.labels("failed").inc()
