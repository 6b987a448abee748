"""Cards on file for My Account: list, save (through the processor), set default, remove.

Card data never reaches us: a card is saved from a processor token (`payment_method`) and we keep
only the processor's reference, brand, last 4 and expiry. The processor is never called while a
database transaction is open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.adapters.payments.port import CardDetails, PaymentGateway, SavedCard
from app.domain.cards import expired
from app.domain.errors import DomainError, GatewayError
from app.i18n import N_
from app.services import audit
from app.services.summary import NotFound
from app.store.models import AutopayEnrollment, CardOnFile, Client, Vehicle

log = logging.getLogger("monitorpay.cards")


class CardExpired(DomainError):
    message = N_("This card has expired. Choose another card or add a new one.")


class CardInUse(DomainError):
    """The card pays an AutoPay enrollment; removing it needs another card chosen for AutoPay."""

    def __init__(self, vehicles: list[str]) -> None:
        self.vehicles = vehicles
        super().__init__(
            N_(
                "This card pays AutoPay for the %(vehicles)s. "
                "Choose another card for AutoPay before removing it."
            ),
            vehicles=", ".join(vehicles),
        )


def is_expired(card: CardOnFile, today: date) -> bool:
    """The domain's rule (`domain.cards.expired`) applied to a card on file."""
    return expired(card.exp_year, card.exp_month, today)


@dataclass(frozen=True)
class CardView:
    card: CardOnFile
    expired: bool
    autopay_vehicles: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.card.id or 0

    @property
    def usable(self) -> bool:
        return not self.expired


async def list_cards(session: AsyncSession, client_id: int, today: date) -> list[CardView]:
    """The client's cards on file: the default first, then newest."""
    cards = (
        (
            await session.execute(
                select(CardOnFile)
                .where(col(CardOnFile.client_id) == client_id, col(CardOnFile.removed_at).is_(None))
                .order_by(
                    col(CardOnFile.is_default).desc(),
                    col(CardOnFile.created_at).desc(),
                    col(CardOnFile.id).desc(),
                )
            )
        )
        .scalars()
        .all()
    )
    uses: dict[int, list[str]] = {}
    rows = (
        await session.execute(
            select(col(AutopayEnrollment.card_id), Vehicle)
            .join(Vehicle, col(Vehicle.id) == col(AutopayEnrollment.vehicle_id))
            .where(
                col(AutopayEnrollment.client_id) == client_id,
                col(AutopayEnrollment.active).is_(True),
            )
        )
    ).all()
    for card_id, vehicle in rows:
        uses.setdefault(int(card_id), []).append(vehicle.label)
    return [
        CardView(card=c, expired=is_expired(c, today), autopay_vehicles=uses.get(c.id or 0, []))
        for c in cards
    ]


async def get_card(session: AsyncSession, client_id: int, card_id: int) -> CardOnFile:
    """One of this client's cards on file; another client's id is simply not found."""
    card = await session.get(CardOnFile, card_id)
    if card is None or card.client_id != client_id or card.removed_at is not None:
        raise NotFound(N_("That card was not found."))
    return card


async def usable_card(
    session: AsyncSession, client_id: int, card_id: int, today: date
) -> CardOnFile:
    card = await get_card(session, client_id, card_id)
    if is_expired(card, today):
        raise CardExpired()
    return card


async def refuse_saved_reference(
    session: AsyncSession, payment_method: str, *, client_id: int | None
) -> None:
    """A token from the card entry stands for a new card. If it is the processor reference of a
    card on file of another client (or, with `client_id=None`, of any client), someone typed it
    in to pay with that card: refuse it as not found. The processor must not be our only guard
    (the sandbox charges any reference it can read)."""
    query = select(col(CardOnFile.id)).where(col(CardOnFile.processor_ref) == payment_method)
    if client_id is not None:
        query = query.where(col(CardOnFile.client_id) != client_id)
    if (await session.execute(query.limit(1))).first() is not None:
        log.warning("client_id=%s event=foreign_card_reference_refused", client_id)
        raise NotFound(N_("That card was not found."))


@dataclass(frozen=True)
class Saved:
    card: CardOnFile
    new: bool  # False: the same card was already on file and was updated in place


async def _same_card(
    session: AsyncSession, client_id: int, details: CardDetails, fingerprint: str | None
) -> CardOnFile | None:
    """The client's card on file with the processor's fingerprint. A card saved before
    fingerprints were kept counts as the same card when brand, last 4 and expiry match."""
    if fingerprint is None:
        return None
    same_fingerprint = col(CardOnFile.fingerprint) == fingerprint
    legacy = and_(
        col(CardOnFile.fingerprint).is_(None),
        col(CardOnFile.brand) == details.brand,
        col(CardOnFile.last4) == details.last4,
        col(CardOnFile.exp_month) == details.exp_month,
        col(CardOnFile.exp_year) == details.exp_year,
    )
    found = await session.execute(
        select(CardOnFile)
        .where(
            col(CardOnFile.client_id) == client_id,
            col(CardOnFile.removed_at).is_(None),
            or_(same_fingerprint, legacy),
        )
        .order_by(col(CardOnFile.fingerprint).is_(None), col(CardOnFile.id))
        .limit(1)
    )
    return found.scalars().first()


async def save_new(
    session: AsyncSession,
    gateway: PaymentGateway,
    *,
    client_id: int,
    payment_method: str,
    now: datetime,
    make_default: bool = False,
) -> Saved:
    """Attach a tokenized card to the client's processor customer and keep it on file.

    The same card (the processor's fingerprint) saved again is kept once: the card on file
    keeps its place (default, AutoPay) and takes the new reference and expiry, and the
    reference it had is detached at the processor."""
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound(N_("That client was not found."))
    await refuse_saved_reference(session, payment_method, client_id=client_id)
    await session.commit()  # no transaction stays open across the processor call
    saved = await gateway.save_card(
        payment_method=payment_method,
        customer=client.processor_customer,
        email=client.email,
        name=client.name,
    )
    fingerprint = saved.fingerprint
    if client.processor_customer is None:
        await session.execute(
            update(Client)
            .where(col(Client.id) == client_id, col(Client.processor_customer).is_(None))
            .values(processor_customer=saved.customer_ref)
        )
    existing = await _same_card(session, client_id, saved.card, fingerprint)
    if existing is not None:
        return await _refresh_same_card(
            session, gateway, existing, saved, fingerprint, now=now, make_default=make_default
        )
    has_default = (
        await session.execute(
            select(col(CardOnFile.id)).where(
                col(CardOnFile.client_id) == client_id,
                col(CardOnFile.removed_at).is_(None),
                col(CardOnFile.is_default).is_(True),
            )
        )
    ).first() is not None
    if make_default and has_default:
        await _clear_default(session, client_id)
    card = CardOnFile(
        client_id=client_id,
        processor_ref=saved.payment_method_ref,
        brand=saved.card.brand,
        last4=saved.card.last4,
        exp_month=saved.card.exp_month,
        exp_year=saved.card.exp_year,
        fingerprint=fingerprint,
        is_default=make_default or not has_default,
        created_at=now,
    )
    session.add(card)
    await session.flush()
    audit.card_added(session, at=now, card=card)
    await session.commit()
    await session.refresh(client)
    return Saved(card=card, new=True)


async def _refresh_same_card(
    session: AsyncSession,
    gateway: PaymentGateway,
    card: CardOnFile,
    saved: SavedCard,
    fingerprint: str | None,
    *,
    now: datetime,
    make_default: bool,
) -> Saved:
    old_ref = card.processor_ref
    if make_default and not card.is_default:
        await _clear_default(session, card.client_id)
    await session.execute(
        update(CardOnFile)
        .where(col(CardOnFile.id) == card.id)
        .values(
            processor_ref=saved.payment_method_ref,
            exp_month=saved.card.exp_month,
            exp_year=saved.card.exp_year,
            fingerprint=fingerprint,
            is_default=card.is_default or make_default,
        )
    )
    audit.card_saved_again(session, at=now, card=card)
    await session.commit()
    await session.refresh(card)
    if old_ref != saved.payment_method_ref:
        await detach(gateway, old_ref)
    return Saved(card=card, new=False)


async def _clear_default(session: AsyncSession, client_id: int) -> None:
    await session.execute(
        update(CardOnFile)
        .where(col(CardOnFile.client_id) == client_id, col(CardOnFile.is_default).is_(True))
        .values(is_default=False)
    )


async def set_default(
    session: AsyncSession, *, client_id: int, card_id: int, today: date, now: datetime
) -> CardOnFile:
    card = await usable_card(session, client_id, card_id, today)
    await _clear_default(session, client_id)
    await session.execute(
        update(CardOnFile).where(col(CardOnFile.id) == card_id).values(is_default=True)
    )
    audit.card_default_set(session, at=now, card=card)
    await session.commit()
    await session.refresh(card)
    return card


async def remove(
    session: AsyncSession,
    gateway: PaymentGateway,
    *,
    client_id: int,
    card_id: int,
    today: date,
    now: datetime,
    move_autopay_to: int | None = None,
) -> CardOnFile:
    """Remove a card. A card AutoPay uses is only removed when another card takes over."""
    card = await get_card(session, client_id, card_id)
    enrollments = (
        (
            await session.execute(
                select(AutopayEnrollment).where(
                    col(AutopayEnrollment.client_id) == client_id,
                    col(AutopayEnrollment.card_id) == card_id,
                    col(AutopayEnrollment.active).is_(True),
                )
            )
        )
        .scalars()
        .all()
    )
    if enrollments:
        if move_autopay_to is None or move_autopay_to == card_id:
            labels = []
            for e in enrollments:
                v = await session.get(Vehicle, e.vehicle_id)
                labels.append(v.label if v else "vehicle")
            raise CardInUse(labels)
        replacement = await usable_card(session, client_id, move_autopay_to, today)
        await session.execute(
            update(AutopayEnrollment)
            .where(
                col(AutopayEnrollment.client_id) == client_id,
                col(AutopayEnrollment.card_id) == card_id,
                col(AutopayEnrollment.active).is_(True),
            )
            .values(card_id=replacement.id)
        )
    was_default = card.is_default
    await session.execute(
        update(CardOnFile)
        .where(col(CardOnFile.id) == card_id, col(CardOnFile.removed_at).is_(None))
        .values(removed_at=now, is_default=False)
    )
    if was_default:
        await _promote_default(session, client_id, today)
    moved_to = move_autopay_to if enrollments else None
    audit.card_removed(session, at=now, card=card, autopay_moved_to=moved_to)
    await session.commit()
    await detach(gateway, card.processor_ref)
    return card


async def _promote_default(session: AsyncSession, client_id: int, today: date) -> None:
    """After the default card goes, the newest card that still works becomes the default."""
    candidates = (
        (
            await session.execute(
                select(CardOnFile)
                .where(col(CardOnFile.client_id) == client_id, col(CardOnFile.removed_at).is_(None))
                .order_by(col(CardOnFile.created_at).desc(), col(CardOnFile.id).desc())
            )
        )
        .scalars()
        .all()
    )
    for c in candidates:
        if not is_expired(c, today):
            await session.execute(
                update(CardOnFile).where(col(CardOnFile.id) == c.id).values(is_default=True)
            )
            return


async def detach(gateway: PaymentGateway, processor_ref: str) -> None:
    """Detach at the processor; our record is already gone, so a failure is logged, not shown."""
    try:
        await gateway.remove_card(processor_ref)
    except GatewayError:
        log.warning("event=card_detach_failed")


async def discard_unpaid(
    session: AsyncSession, gateway: PaymentGateway, *, client_id: int, card_id: int, now: datetime
) -> None:
    """Forget a card saved for a payment that was then declined, so it is not left on file."""
    card = await get_card(session, client_id, card_id)
    await session.execute(
        update(CardOnFile)
        .where(col(CardOnFile.id) == card_id)
        .values(removed_at=now, is_default=False)
    )
    if card.is_default:
        await _promote_default(session, client_id, now.date())
    audit.card_discarded_after_decline(session, at=now, card=card)
    await session.commit()
    await detach(gateway, card.processor_ref)
