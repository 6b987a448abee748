"""The Invoice Summary snapshot (SPEC §2) and the plan for applying a payment against it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from app.domain.errors import N_, DomainError, InvalidDays, StaleSummary
from app.domain.money import tax_cents
from app.domain.numbers import parse_whole
from app.domain.periods import Period, check_days, next_period

# The `days` of a summary that pays the past due balance only: no new period is bought.
PAST_DUE_ONLY = 0
PAST_DUE_CHOICE = "past_due"  # how a form says it


class NothingPastDue(DomainError):
    message = N_("There is no past due balance to pay. Choose 14 or 30 days.")


def parse_choice(text: str | int | None) -> int:
    """What a form asks to pay: 14 or 30 days (with what is open), or PAST_DUE_ONLY."""
    if isinstance(text, int):
        return text if text == PAST_DUE_ONLY else check_days(text)
    if (text or "").strip() == PAST_DUE_CHOICE:
        return PAST_DUE_ONLY
    days = parse_whole(text, max_digits=3)
    if days is None:
        raise InvalidDays()
    return check_days(days)  # InvalidDays for anything but 14 or 30


def choice_value(days: int) -> str:
    """The form value of a summary's `days` (the inverse of parse_choice)."""
    return PAST_DUE_CHOICE if days == PAST_DUE_ONLY else str(days)


@dataclass(frozen=True)
class OpenInvoice:
    id: int
    number: str
    description: str
    total_cents: int  # what settling it costs: amount plus tax, less what payments still hold
    due_date: date


@dataclass(frozen=True)
class VehicleRef:
    id: int
    label: str  # "2015 Ford F-150"
    paid_through: date


@dataclass(frozen=True)
class Basis:
    """What a summary was computed from: the open invoices it settles, what is owed on each
    (a partial refund reopens an invoice for what it gave back, so the same invoice can come to
    owe more), and the vehicle's paid-through date. Any change makes the summary stale."""

    invoice_ids: tuple[int, ...]
    paid_through: date
    # What each of invoice_ids owed, in the same order; None in snapshots written before the
    # amounts were kept (their invoices are compared by id only).
    owed_cents: tuple[int, ...] | None = None

    def owed(self) -> dict[int, int] | None:
        if self.owed_cents is None:
            return None
        return dict(zip(self.invoice_ids, self.owed_cents, strict=True))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "invoice_ids": list(self.invoice_ids),
            "paid_through": self.paid_through.isoformat(),
        }
        if self.owed_cents is not None:
            out["owed_cents"] = list(self.owed_cents)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Basis:
        ids = data["invoice_ids"]
        owed = data.get("owed_cents")
        assert isinstance(ids, list) and (owed is None or isinstance(owed, list))
        pairs = sorted(zip((int(i) for i in ids), owed or [None] * len(ids), strict=True))
        return cls(
            invoice_ids=tuple(i for i, _ in pairs),
            paid_through=date.fromisoformat(str(data["paid_through"])),
            owed_cents=None if owed is None else tuple(int(c or 0) for _, c in pairs),
        )


@dataclass(frozen=True)
class SummaryLine:
    kind: str  # past_due | other_open | monitoring | tax
    label: str
    amount_cents: int


@dataclass(frozen=True)
class InvoiceSummary:
    vehicle_id: int
    vehicle_label: str
    days: int  # 14 or 30, or PAST_DUE_ONLY
    period: Period | None  # the period bought; None when paying the past due balance only
    monitoring_cents: int
    tax_cents: int
    past_due_cents: int
    other_open_cents: int
    tax_rate_bp: int
    computed_on: date
    basis: Basis
    lines: tuple[SummaryLine, ...] = field(default=())

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def past_due_only(self) -> bool:
        return self.days == PAST_DUE_ONLY

    @property
    def fingerprint(self) -> str:
        """What a person reviewed: vehicle, days, period, lines, total and basis (16 hex).
        A form carries it back, so a charge is for exactly the summary that was shown."""
        reviewed = {k: v for k, v in self._as_dict().items() if k != "computed_on"}
        return hashlib.sha256(json.dumps(reviewed, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(self._as_dict(), sort_keys=True)

    def _as_dict(self) -> dict[str, object]:
        return {
            "vehicle_id": self.vehicle_id,
            "vehicle_label": self.vehicle_label,
            "days": self.days,
            "period": (
                None
                if self.period is None
                else [self.period.start.isoformat(), self.period.end.isoformat()]
            ),
            "monitoring_cents": self.monitoring_cents,
            "tax_cents": self.tax_cents,
            "past_due_cents": self.past_due_cents,
            "other_open_cents": self.other_open_cents,
            "tax_rate_bp": self.tax_rate_bp,
            "computed_on": self.computed_on.isoformat(),
            "basis": self.basis.to_dict(),
            "lines": [[ln.kind, ln.label, ln.amount_cents] for ln in self.lines],
        }

    @classmethod
    def from_json(cls, text: str) -> InvoiceSummary:
        d = json.loads(text)
        return cls(
            vehicle_id=int(d["vehicle_id"]),
            vehicle_label=str(d["vehicle_label"]),
            days=int(d["days"]),
            period=(
                None
                if d["period"] is None
                else Period(date.fromisoformat(d["period"][0]), date.fromisoformat(d["period"][1]))
            ),
            monitoring_cents=int(d["monitoring_cents"]),
            tax_cents=int(d["tax_cents"]),
            past_due_cents=int(d["past_due_cents"]),
            other_open_cents=int(d["other_open_cents"]),
            tax_rate_bp=int(d["tax_rate_bp"]),
            computed_on=date.fromisoformat(d["computed_on"]),
            basis=Basis.from_dict(d["basis"]),
            lines=tuple(SummaryLine(k, lbl, int(a)) for k, lbl, a in d["lines"]),
        )


def monitoring_label(days: int, vehicle_label: str, period: Period) -> str:
    return (
        f"Monitoring — {days} days, {vehicle_label}, "
        f"{period.start:%b} {period.start.day}, {period.start.year} – "
        f"{period.end:%b} {period.end.day}, {period.end.year}"
    )


def is_past_due(invoice: OpenInvoice, today: date) -> bool:
    return invoice.due_date < today


def past_due_total(open_invoices: Sequence[OpenInvoice], today: date) -> int:
    return sum(i.total_cents for i in open_invoices if is_past_due(i, today))


def basis_of(
    days: int, open_invoices: Sequence[OpenInvoice], paid_through: date, today: date
) -> Basis:
    """What a summary of `days` computed on `today` stands on: every open invoice (it settles
    them all), or for PAST_DUE_ONLY the past due ones only."""
    paid = sorted(
        (i for i in open_invoices if days != PAST_DUE_ONLY or is_past_due(i, today)),
        key=lambda i: i.id,
    )
    return Basis(
        invoice_ids=tuple(i.id for i in paid),
        paid_through=paid_through,
        owed_cents=tuple(i.total_cents for i in paid),
    )


def build_past_due_summary(
    *,
    today: date,
    vehicle: VehicleRef,
    tax_rate_bp: int,
    open_invoices: Sequence[OpenInvoice],
) -> InvoiceSummary:
    """Pay the past due balance only: no new period, nothing not yet due. NothingPastDue when
    there is none (a payment never exceeds what is owed, and is never zero)."""
    past_due = past_due_total(open_invoices, today)
    if past_due <= 0:
        raise NothingPastDue()
    lines = [SummaryLine("past_due", "Past due balance", past_due)]
    return _summary(today, vehicle, tax_rate_bp, open_invoices, PAST_DUE_ONLY, None, lines)


def build_summary(
    *,
    today: date,
    vehicle: VehicleRef,
    days: int,
    price_cents: int,
    tax_rate_bp: int,
    open_invoices: Sequence[OpenInvoice],
) -> InvoiceSummary:
    """Compute the summary for paying `days` of monitoring on `vehicle` on `today`.

    Every open invoice on the account is included: those due before today are the past-due
    balance, the rest are other open charges. Lines with nothing to pay are left out.
    """
    check_days(days)
    if price_cents <= 0:
        raise ValueError("price must be positive")
    period = next_period(vehicle.paid_through, days)
    other = sum(i.total_cents for i in open_invoices if not is_past_due(i, today))
    lines = [
        SummaryLine("past_due", "Past due balance", past_due_total(open_invoices, today)),
        SummaryLine("other_open", "Other open charges", other),
        SummaryLine("monitoring", monitoring_label(days, vehicle.label, period), price_cents),
        SummaryLine("tax", "Sales tax", tax_cents(price_cents, tax_rate_bp)),
    ]
    return _summary(today, vehicle, tax_rate_bp, open_invoices, days, period, lines)


def _summary(
    today: date,
    vehicle: VehicleRef,
    tax_rate_bp: int,
    open_invoices: Sequence[OpenInvoice],
    days: int,
    period: Period | None,
    lines: Sequence[SummaryLine],
) -> InvoiceSummary:
    """The summary of `days` (and the `period` they buy) for paying `lines`, at most one of each
    kind: each kind's amount is kept (0 for a kind not given); a line with nothing to pay is not
    shown."""
    cents = {line.kind: line.amount_cents for line in lines}
    return InvoiceSummary(
        vehicle_id=vehicle.id,
        vehicle_label=vehicle.label,
        days=days,
        period=period,
        monitoring_cents=cents.get("monitoring", 0),
        tax_cents=cents.get("tax", 0),
        past_due_cents=cents.get("past_due", 0),
        other_open_cents=cents.get("other_open", 0),
        tax_rate_bp=tax_rate_bp,
        computed_on=today,
        basis=basis_of(days, open_invoices, vehicle.paid_through, today),
        lines=tuple(line for line in lines if line.amount_cents > 0),
    )


class SnapshotNoLongerFits(StaleSummary):
    """A success arrived for a snapshot the account has moved past (another payment settled
    its invoices or its period): it is refunded, never applied twice."""

    message = "This payment no longer fits the account: it was refunded in full."


def ensure_current(snapshot: Basis, current: Basis) -> None:
    """Before charging: the account is exactly as reviewed (nothing paid, voided or added)."""
    if snapshot != current:
        raise StaleSummary()


def still_fits(snapshot: Basis, current: Basis) -> bool:
    """When a success is applied: every invoice it pays is still open and owes what it owed
    (none paid, voided or reopened for more meanwhile) and the vehicle's period has not moved.
    An invoice added since does not matter: it simply stays open."""
    if snapshot.paid_through != current.paid_through:
        return False
    if not set(snapshot.invoice_ids) <= set(current.invoice_ids):
        return False
    then, now = snapshot.owed(), current.owed()
    return then is None or now is None or all(now[i] == owed for i, owed in then.items())


@dataclass(frozen=True)
class ApplicationPlan:
    """What a successful payment of a summary changes, all in one transaction."""

    settle_invoice_ids: tuple[int, ...]
    monitoring_description: str
    monitoring_amount_cents: int
    monitoring_tax_cents: int
    period: Period | None  # None: past due only, the vehicle's paid-through date stays
    total_cents: int
    # The invoice the receipt names: the period bought (the monitoring invoice this plan adds,
    # None here), else the oldest invoice the payment settles.
    receipt_invoice_id: int | None = None

    @property
    def new_paid_through(self) -> date | None:
        return None if self.period is None else self.period.end


def plan_application(summary: InvoiceSummary, current: Basis) -> ApplicationPlan:
    """Say exactly what applying a paid summary changes, or raise SnapshotNoLongerFits."""
    if not still_fits(summary.basis, current):
        raise SnapshotNoLongerFits()
    period = summary.period
    return ApplicationPlan(
        settle_invoice_ids=summary.basis.invoice_ids,
        monitoring_description=(
            "" if period is None else monitoring_label(summary.days, summary.vehicle_label, period)
        ),
        monitoring_amount_cents=summary.monitoring_cents,
        monitoring_tax_cents=summary.tax_cents,
        period=period,
        total_cents=summary.total_cents,
        receipt_invoice_id=(
            None
            if period is not None or not summary.basis.invoice_ids
            else min(summary.basis.invoice_ids)
        ),
    )
