"""The Invoice Summary snapshot (SPEC §2) and the plan for applying a payment against it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from app.domain.errors import StaleSummary
from app.domain.money import tax_cents
from app.domain.periods import Period, check_days, next_period


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
    """What a summary was computed from. Any change makes the summary stale."""

    invoice_ids: tuple[int, ...]
    paid_through: date

    def to_dict(self) -> dict[str, object]:
        return {
            "invoice_ids": list(self.invoice_ids),
            "paid_through": self.paid_through.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Basis:
        ids = data["invoice_ids"]
        assert isinstance(ids, list)
        return cls(
            invoice_ids=tuple(sorted(int(i) for i in ids)),
            paid_through=date.fromisoformat(str(data["paid_through"])),
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
    days: int
    period: Period
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
    def fingerprint(self) -> str:
        """What a person reviewed: vehicle, days, period, lines, total and basis (16 hex).
        A form carries it back, so a charge is for exactly the summary that was shown."""
        reviewed = {k: v for k, v in self._as_dict().items() if k != "computed_on"}
        return hashlib.sha256(json.dumps(reviewed, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def lines_label_monitoring(self) -> str:
        return monitoring_label(self.days, self.vehicle_label, self.period)

    def to_json(self) -> str:
        return json.dumps(self._as_dict(), sort_keys=True)

    def _as_dict(self) -> dict[str, object]:
        return {
            "vehicle_id": self.vehicle_id,
            "vehicle_label": self.vehicle_label,
            "days": self.days,
            "period": [self.period.start.isoformat(), self.period.end.isoformat()],
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
            period=Period(date.fromisoformat(d["period"][0]), date.fromisoformat(d["period"][1])),
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


def build_summary(
    *,
    today: date,
    vehicle: VehicleRef,
    days: int,
    price_cents: int,
    tax_rate_bp: int,
    open_invoices: list[OpenInvoice] | tuple[OpenInvoice, ...],
) -> InvoiceSummary:
    """Compute the summary for paying `days` of monitoring on `vehicle` on `today`.

    Every open invoice on the account is included: those due before today are the past-due
    balance, the rest are other open charges. Lines with nothing to pay are left out.
    """
    check_days(days)
    if price_cents <= 0:
        raise ValueError("price must be positive")
    period = next_period(vehicle.paid_through, days)
    past_due = sum(i.total_cents for i in open_invoices if i.due_date < today)
    other = sum(i.total_cents for i in open_invoices if i.due_date >= today)
    tax = tax_cents(price_cents, tax_rate_bp)
    lines: list[SummaryLine] = []
    if past_due > 0:
        lines.append(SummaryLine("past_due", "Past due balance", past_due))
    if other > 0:
        lines.append(SummaryLine("other_open", "Other open charges", other))
    lines.append(
        SummaryLine("monitoring", monitoring_label(days, vehicle.label, period), price_cents)
    )
    if tax > 0:
        lines.append(SummaryLine("tax", "Sales tax", tax))
    return InvoiceSummary(
        vehicle_id=vehicle.id,
        vehicle_label=vehicle.label,
        days=days,
        period=period,
        monitoring_cents=price_cents,
        tax_cents=tax,
        past_due_cents=past_due,
        other_open_cents=other,
        tax_rate_bp=tax_rate_bp,
        computed_on=today,
        basis=Basis(
            invoice_ids=tuple(sorted(i.id for i in open_invoices)),
            paid_through=vehicle.paid_through,
        ),
        lines=tuple(lines),
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
    """When a success is applied: every invoice it pays is still open (none paid or voided
    meanwhile) and the vehicle's period has not moved. An invoice added since does not matter:
    it simply stays open."""
    return snapshot.paid_through == current.paid_through and set(snapshot.invoice_ids) <= set(
        current.invoice_ids
    )


@dataclass(frozen=True)
class ApplicationPlan:
    """What a successful payment of a summary changes, all in one transaction."""

    settle_invoice_ids: tuple[int, ...]
    monitoring_description: str
    monitoring_amount_cents: int
    monitoring_tax_cents: int
    period: Period
    new_paid_through: date
    total_cents: int


def plan_application(summary: InvoiceSummary, current: Basis) -> ApplicationPlan:
    """Say exactly what applying a paid summary changes, or raise SnapshotNoLongerFits."""
    if not still_fits(summary.basis, current):
        raise SnapshotNoLongerFits()
    return ApplicationPlan(
        settle_invoice_ids=summary.basis.invoice_ids,
        monitoring_description=monitoring_label(
            summary.days, summary.vehicle_label, summary.period
        ),
        monitoring_amount_cents=summary.monitoring_cents,
        monitoring_tax_cents=summary.tax_cents,
        period=summary.period,
        new_paid_through=summary.period.end,
        total_cents=summary.total_cents,
    )
