"""Take Payment: staff charge a client's card on file, off-session, for the next monitor payment.

The amount is the server's own Invoice Summary; the form only says which vehicle, how many
days (or the past due balance only: domain.summary.PAST_DUE_ONLY), which card, the fingerprint
of the summary staff reviewed (period, lines, total and basis), and a one-time request key (so
a double click charges once). A summary that moved since review — another tab paid it, an
invoice changed — is refused with the fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.adapters.payments.port import CardDetails, PaymentGateway
from app.clock import Clock
from app.domain.errors import DomainError
from app.domain.periods import local_today
from app.domain.review import ensure_reviewed
from app.domain.summary import InvoiceSummary
from app.services import audit, payments
from app.services.cards import CardView, get_card, list_cards, usable_card
from app.services.staff_request import StaffRequest, is_key
from app.services.summary import PaymentsNotAccepted, compute, load_account
from app.store.models import CardOnFile, Payment


class BadRequestKey(DomainError):
    message = "This form is out of date. Start the payment again."


@dataclass(frozen=True)
class Quote:
    summary: InvoiceSummary
    cards: list[CardView]


async def quote(
    session: AsyncSession, *, client_id: int, vehicle_id: int, days: int, now: datetime
) -> Quote:
    account = await load_account(session, client_id)
    if not account.location.accepts_payments:
        raise PaymentsNotAccepted()
    summary = await compute(session, client_id=client_id, vehicle_id=vehicle_id, days=days, now=now)
    today = local_today(now, account.location.timezone)
    return Quote(summary=summary, cards=await list_cards(session, client_id, today))


async def chosen_card(
    session: AsyncSession, *, client_id: int, card_id: int, now: datetime, tz: str
) -> CardOnFile:
    """One of this client's cards, not expired (CardExpired / NotFound otherwise)."""
    return await usable_card(session, client_id, card_id, local_today(now, tz))


async def take(
    maker: async_sessionmaker[AsyncSession],
    gateway: PaymentGateway,
    clock: Clock,
    ask: StaffRequest,
    *,
    vehicle_id: int,
    days: int,
    card_id: int,
    reviewed: str,
    company: str,
) -> tuple[payments.PaymentOutcome, CardOnFile]:
    """Charge the card once. Raises StaleSummary (the summary moved since staff reviewed it, or
    the account moved before the charge), NothingPastDue (the past due balance only was asked
    for and none is left), CardExpired, NotFound, PaymentsNotAccepted and the payment core's
    errors (CardDeclined, PaymentInProgress, GatewayError)."""
    if not is_key(ask.key):
        raise BadRequestKey()
    staff, client_id, request_key = ask.staff, ask.client_id, ask.key
    now = clock.now()
    key = f"staff_{request_key}"
    async with maker() as s:
        # A repeat of a submission already made (a double click, a resent form): report that one.
        earlier = (
            await s.execute(select(Payment).where(col(Payment.idempotency_key) == key))
        ).scalar_one_or_none()
        if earlier is not None and earlier.client_id == client_id:
            return await payments.outcome_of(s, earlier), await get_card(s, client_id, card_id)
        account = await load_account(s, client_id)
        if not account.location.accepts_payments:
            raise PaymentsNotAccepted()
        summary = await compute(s, client_id=client_id, vehicle_id=vehicle_id, days=days, now=now)
        card = await chosen_card(
            s, client_id=client_id, card_id=card_id, now=now, tz=account.location.timezone
        )
        customer = account.client.processor_customer
        ensure_reviewed(summary, reviewed)
        audit.payment_staff_charge(
            s,
            at=now,
            staff=staff,
            card=card,
            amount_cents=summary.total_cents,
            vehicle_id=vehicle_id,
            days=days,
            request_key=request_key,
        )
        await s.commit()
    outcome = await payments.charge(
        maker,
        gateway,
        clock,
        payments.ChargeRequest.card_on_file(
            client_id,
            summary,
            card.processor_ref,
            CardDetails(card.brand, card.last4, card.exp_month, card.exp_year),
            customer=customer,
            key=key,
            staff=staff,
        ),
        company=company,
    )
    return outcome, card
