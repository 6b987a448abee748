"""What an AutoPay run reports: counts and the first failures (nothing grows per charge), and
its progress, shown at most every few seconds by the injected clock."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from app.clock import Clock

log = logging.getLogger("monitorpay.autopay")

PROGRESS_EVERY = timedelta(seconds=5)
LISTED_FAILURES = 50  # printed at the end; every failure is also logged


@dataclass(frozen=True)
class RunItem:
    account_number: str
    vehicle: str
    amount_cents: int
    note: str  # why it failed


@dataclass
class RunReport:
    """Counts, and the first LISTED_FAILURES failures to print: nothing grows per charge."""

    due: int = 0  # due when the run began, at locations that take payments
    done: int = 0
    charged: int = 0
    charged_cents: int = 0
    failed: int = 0  # the charge failed; the client was texted (unless opted out)
    errors: int = 0  # a bug or an outage stopped the charge; logged, not texted
    skipped: int = 0
    not_due: int = 0
    # the processor said it was busy (429) and did nothing: asked again later in the run
    busy_retries: int = 0
    card_warnings: int = 0  # clients texted that their card expires before the next AutoPay
    failures: list[RunItem] = field(default_factory=list)
    skipped_why: Counter[str] = field(default_factory=Counter)

    def fail(self, item: RunItem, *, error: bool = False) -> None:
        if error:
            self.errors += 1
        else:
            self.failed += 1
        if len(self.failures) < LISTED_FAILURES:
            self.failures.append(item)

    def skip(self, why: str, count: int = 1) -> None:
        self.skipped += count
        self.skipped_why[why] += count

    def lines(self) -> list[str]:
        from app.formatting import money

        out = [
            f"autopay: {self.charged} charged ({money(self.charged_cents)}), "
            f"{self.failed} failed, {self.skipped} skipped, {self.not_due} not due yet"
            + (f", {self.errors} errors" if self.errors else "")
            + (f", {self.busy_retries} retried (processor busy)" if self.busy_retries else "")
            + (f", {self.card_warnings} expiring cards texted" if self.card_warnings else "")
        ]
        for i in self.failures:
            out.append(
                f"  failed: #{i.account_number} {i.vehicle} {money(i.amount_cents)} — {i.note}"
            )
        if (more := self.failed + self.errors - len(self.failures)) > 0:
            out.append(f"  failed: {more} more (see the log)")
        for why, count in sorted(self.skipped_why.items()):
            out.append(f"  skipped: {count} — {why}")
        return out


@dataclass(frozen=True)
class Progress:
    done: int
    due: int
    failed: int
    per_second: float
    eta: timedelta | None

    def line(self) -> str:
        eta = "-" if self.eta is None else f"{int(self.eta.total_seconds())}s"
        return (
            f"autopay: {self.done}/{self.due} done, {self.failed} failed, "
            f"{self.per_second:.1f}/s, ETA {eta}"
        )


def log_progress(p: Progress) -> None:
    log.info(
        "event=autopay_progress done=%s due=%s failed=%s per_second=%.1f eta=%s",
        p.done, p.due, p.failed, p.per_second, p.eta,
    )  # fmt: skip


class ProgressReporter:
    """Shows progress at most every `every` (by the injected clock), and once at the end."""

    def __init__(
        self, clock: Clock, report: RunReport, every: timedelta, show: Callable[[Progress], None]
    ) -> None:
        self.clock, self.report, self.every, self.show = clock, report, every, show
        self.started = self.last = clock.now()

    def tick(self, *, final: bool = False) -> None:
        now = self.clock.now()
        if not final and now - self.last < self.every:
            return
        self.last = now
        r = self.report
        elapsed = (now - self.started).total_seconds()
        rate = r.done / elapsed if elapsed > 0 else 0.0
        eta = timedelta(seconds=max(0, r.due - r.done) / rate) if rate > 0 else None
        self.show(Progress(r.done, r.due, r.failed + r.errors, rate, eta))
