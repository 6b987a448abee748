"""My Account use cases: what Account Information shows, and paying from the Make a Payment tab.

The amount is always recomputed here; the form only says which vehicle, how many days and which
summary the client reviewed (its fingerprint), so a changed account is refused as stale with the
fresh summary instead of charging something the client did not see.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import CardDetails, PaymentGateway
from app.clock import Clock
from app.domain import links
from app.domain.autopay import DEFAULT_RETRY_DAYS
from app.domain.errors import CardDeclined, GatewayError, StaleSummary
from app.domain.periods import local_today
from app.domain.review import ensure_reviewed
from app.domain.summary import (
    InvoiceSummary,
    NothingPastDue,
    OpenInvoice,
    is_past_due,
    past_due_total,
)
from app.i18n import N_
from app.services import autopay, cards, payments, summary
from app.services.summary import Account, NotFound, PaymentsNotAccepted
from app.store import reads
from app.store.models import Invoice, Location, Payment, PaymentLink, Vehicle

log = logging.getLogger("monitorpay.portal")
INVOICE_LIMIT = 50


@dataclass(frozen=True)
class Overview:
    account: Account
    today: date
    past_due_cents: int
    invoices: list[Invoice]
    # each vehicle's AutoPay for its next period, as the AutoPay tab and staff see it
    autopay_status: dict[int, autopay.StaffStatus]
    autopay: list[autopay.VehicleAutopay]

    def past_due(self, invoice: Invoice) -> bool:
        """domain.summary.is_past_due for an invoice of the list (a paid or void one never is),
        so the page need not restate the rule."""
        if invoice.status != "open":
            return False
        owed = OpenInvoice(
            invoice.id or 0, invoice.number, invoice.description, invoice.total_cents,
            invoice.due_date,
        )  # fmt: skip
        return is_past_due(owed, self.today)

    @property
    def enrolled_count(self) -> int:
        return sum(1 for a in self.autopay if a.enrolled)

    def monitoring(self, invoice: Invoice) -> tuple[int, str] | None:
        """Days and vehicle of a monitoring invoice, so its line is written in the reader's
        language (the stored description is English); None for other charges."""
        if invoice.kind != "monitoring" or not invoice.period_start or not invoice.period_end:
            return None
        labels = {v.id: v.label for v in self.account.vehicles}
        days = (invoice.period_end - invoice.period_start).days + 1
        return days, labels.get(invoice.vehicle_id, "")


async def today_for(session: AsyncSession, location_id: int, now: datetime) -> date:
    return (await place(session, location_id, now))[1]


async def place(session: AsyncSession, location_id: int, now: datetime) -> tuple[Location, date]:
    """A client's service location and the date there."""
    location = await reads.location(session, location_id)
    return location, local_today(now, location.timezone)


async def own_payment(session: AsyncSession, client_id: int, payment_id: int | None) -> Payment:
    """One of the client's payments; another client's, or none, is NotFound."""
    payment = await session.get(Payment, payment_id) if payment_id else None
    if payment is None or payment.client_id != client_id:
        raise NotFound(N_("That payment was not found."))
    return payment


def payment_days(payment: Payment) -> int:
    """The days a payment was for, from the summary it paid (30 when it does not say)."""
    try:
        days = json.loads(payment.summary_json).get("days")
        return 30 if days is None else int(days)
    except (ValueError, AttributeError, TypeError):
        return 30


async def overview(
    session: AsyncSession,
    client_id: int,
    now: datetime,
    retry_days: tuple[int, ...] = DEFAULT_RETRY_DAYS,
) -> Overview:
    """Account Information: the account, its invoices, and each vehicle's AutoPay with the
    state of its current charge (a failed one and its next try)."""
    account = await summary.load_account(session, client_id)
    today = local_today(now, account.location.timezone)
    open_invoices = await summary.open_invoices(session, client_id)
    invoices = list(
        (
            await session.execute(
                select(Invoice)
                .where(col(Invoice.client_id) == client_id)
                .order_by(col(Invoice.created_at).desc(), col(Invoice.id).desc())
                .limit(INVOICE_LIMIT)
            )
        )
        .scalars()
        .all()
    )
    plans = await autopay.for_client(session, client_id, today)
    return Overview(
        account=account,
        today=today,
        past_due_cents=past_due_total(open_invoices, today),
        invoices=invoices,
        autopay=plans,
        autopay_status=await autopay.vehicles_view(
            session, client_id, [p.vehicle for p in plans], account.location.timezone, retry_days
        ),
    )


@dataclass(frozen=True)
class LiveLink:
    """A Secure Payment Link texted to the client that can still be paid. Only its hash is
    stored, so My Account cannot rebuild its URL: it offers Make a Payment for the same
    vehicle and days instead (the summary there is recomputed, as the link's page would)."""

    vehicle_id: int
    vehicle_label: str
    days: int
    total_cents: int
    phone_last4: str
    expires_at: datetime


async def live_link(session: AsyncSession, client_id: int, now: datetime) -> LiveLink | None:
    """The newest link sent to the client that has not expired, been paid or cancelled, for a
    period that is still unpaid."""
    row = (
        await session.execute(
            select(PaymentLink, Vehicle)
            .join(Vehicle, col(Vehicle.id) == col(PaymentLink.vehicle_id))
            .where(
                col(PaymentLink.client_id) == client_id,
                col(PaymentLink.status).in_(links.LIVE_STATUSES),
                col(PaymentLink.expires_at) > now,
            )
            .order_by(col(PaymentLink.created_at).desc(), col(PaymentLink.id).desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    link, vehicle = row
    if InvoiceSummary.from_json(link.summary_json).basis.paid_through != vehicle.paid_through:
        return None  # the period it was for is paid already (here, or by staff): nothing to pay
    return LiveLink(
        vehicle_id=link.vehicle_id,
        vehicle_label=vehicle.label,
        days=link.days,
        total_cents=link.total_cents,
        phone_last4=link.phone_e164[-4:],
        expires_at=link.expires_at,
    )


@dataclass(frozen=True)
class Cover:
    """What paying a period covers, next to the vehicle's next service appointment."""

    through: date
    appointment: date | None  # today or later; None when none is booked
    past_appointment: bool


def cover(period_end: date, next_appointment: datetime | None, tz: str, today: date) -> Cover:
    """Paying covers through the period's last day; the appointment counts by its local day."""
    day = local_today(next_appointment, tz) if next_appointment is not None else None
    if day is not None and day < today:
        day = None  # a date gone by is no appointment to plan for
    return Cover(
        through=period_end,
        appointment=day,
        past_appointment=day is not None and period_end >= day,
    )


@dataclass(frozen=True)
class PayRequest:
    client_id: int
    vehicle_id: int
    days: int
    reviewed: str  # fingerprint of the summary the client saw
    card_id: int | None = None  # a card on file ...
    new_payment_method: str | None = None  # ... or a processor token from the card entry
    save_card: bool = False


async def pay(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    req: PayRequest,
    company: str = "",
) -> payments.PaymentOutcome:
    """Pay the current summary with the chosen card. Raises PaymentsNotAccepted, StaleSummary,
    NotFound, CardExpired, PaymentInProgress, CardDeclined or GatewayError; on those nothing
    was charged."""
    now = clock.now()
    async with maker() as s:
        account = await summary.load_account(s, req.client_id)
        if not account.location.accepts_payments:
            raise PaymentsNotAccepted(
                N_(
                    "Your service location does not take payments online yet. Please pay at the "
                    "service center or call support."
                )
            )
        snap = await summary.compute(
            s, client_id=req.client_id, vehicle_id=req.vehicle_id, days=req.days, now=now
        )
        ensure_reviewed(snap, req.reviewed)
        today = local_today(now, account.location.timezone)
        if req.card_id is None and req.new_payment_method:
            await cards.refuse_saved_reference(s, req.new_payment_method, client_id=req.client_id)
        saved_id: int | None = None
        customer: str | None = None
        known: CardDetails | None = None  # a saved card, named even if it is declined
        if req.card_id is not None:
            card = await cards.usable_card(s, req.client_id, req.card_id, today)
            method, customer = card.processor_ref, account.client.processor_customer
            known = CardDetails(card.brand, card.last4, card.exp_month, card.exp_year)
        elif req.save_card and req.new_payment_method:
            saved = await cards.save_new(
                s,
                gateway,
                client_id=req.client_id,
                payment_method=req.new_payment_method,
                now=now,
            )
            # A card that was already on file stays on file whatever the charge does.
            saved_id = saved.card.id if saved.new else None
            method, customer = saved.card.processor_ref, account.client.processor_customer
            c = saved.card
            known = CardDetails(c.brand, c.last4, c.exp_month, c.exp_year)
        elif req.new_payment_method:
            method = req.new_payment_method
        else:
            raise ValueError("a card on file or a new card token is required")
    try:
        return await payments.charge(
            maker,
            gateway,
            clock,
            payments.ChargeRequest(
                client_id=req.client_id,
                summary=snap,
                channel="portal",
                payment_method=method,
                card=known,
                actor_type="client",
                actor_id=req.client_id,
                customer=customer,
            ),
            company=company,
        )
    except (CardDeclined, GatewayError, StaleSummary, payments.PaymentInProgress):
        if saved_id is not None:  # a card that did not pay is not left on file
            async with maker() as s:
                await cards.discard_unpaid(
                    s, gateway, client_id=req.client_id, card_id=saved_id, now=clock.now()
                )
        raise


# --- the Make a Payment tab -------------------------------------------------------------------


def own_vehicle(account: Account, vehicle_id: int | None) -> Vehicle | None:
    """The client's vehicle by id (None: the first one, or none at all); another's: NotFound."""
    if vehicle_id is None:
        return account.vehicles[0] if account.vehicles else None
    for v in account.vehicles:
        if v.id == vehicle_id:
            return v
    raise NotFound(N_("That vehicle was not found."))


async def summary_for(
    session: AsyncSession, client_id: int, vehicle: Vehicle, days: int | None, now: datetime
) -> InvoiceSummary:
    """The summary for the choice (None: the vehicle's usual days), or for the usual days when
    the past due balance only was asked for and nothing is past due (any more)."""

    async def compute(days: int) -> InvoiceSummary:
        return await summary.compute(
            session, client_id=client_id, vehicle_id=vehicle.id or 0, days=days, now=now
        )

    try:
        return await compute(vehicle.billing_cycle_days if days is None else days)
    except NothingPastDue:
        return await compute(vehicle.billing_cycle_days)


def covers(snap: InvoiceSummary, vehicle: Vehicle, tz: str, today: date) -> Cover | None:
    """What paying the summary covers, next to the vehicle's next appointment."""
    if snap.period is None:
        return None
    return cover(snap.period.end, vehicle.next_appointment, tz, today)


@dataclass(frozen=True)
class SummaryView:
    """A vehicle's Payment Summary for a choice of days, as the tab shows it."""

    account: Account
    today: date
    vehicle: Vehicle | None
    summary: InvoiceSummary | None
    cover: Cover | None

    @property
    def days(self) -> int:
        return self.summary.days if self.summary else 30


async def summary_view(
    session: AsyncSession, client_id: int, vehicle_id: int | None, days: int | None, now: datetime
) -> SummaryView:
    account = await summary.load_account(session, client_id)
    today = local_today(now, account.location.timezone)
    vehicle = own_vehicle(account, vehicle_id)
    if vehicle is None:
        return SummaryView(account, today, None, None, None)
    snap = await summary_for(session, client_id, vehicle, days, now)
    return SummaryView(
        account, today, vehicle, snap, covers(snap, vehicle, account.location.timezone, today)
    )


@dataclass(frozen=True)
class MakePaymentView(SummaryView):
    """Make a Payment: the summary, the cards to pay with, and whether AutoPay is on."""

    cards: list[cards.CardView] = dataclasses.field(default_factory=list)
    enrolled: bool = False  # AutoPay is on for the vehicle


async def make_payment(
    session: AsyncSession, client_id: int, vehicle_id: int | None, days: int | None, now: datetime
) -> MakePaymentView:
    """The Make a Payment tab for a vehicle (the first one if none) and a choice of days (None:
    the vehicle's usual). Another client's vehicle is NotFound."""
    view = await summary_view(session, client_id, vehicle_id, days, now)
    plans = await autopay.for_client(session, client_id, view.today)
    vehicle_id = view.vehicle.id if view.vehicle else None
    return MakePaymentView(
        **vars(view),
        cards=await cards.list_cards(session, client_id, view.today),
        enrolled=any(p.enrolled and p.vehicle.id == vehicle_id for p in plans),
    )
