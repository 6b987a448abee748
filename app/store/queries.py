"""Read queries the screens need (each backed by an index)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.store.models import PaymentLink, SmsMessage, StaffUser


@dataclass(frozen=True)
class LinkRow:
    link: PaymentLink
    sent_by: str
    messages: list[SmsMessage]


async def client_links(session: AsyncSession, client_id: int, limit: int = 50) -> list[LinkRow]:
    rows = (
        await session.execute(
            select(PaymentLink, col(StaffUser.name))
            .outerjoin(StaffUser, col(StaffUser.id) == col(PaymentLink.sent_by_staff_id))
            .where(col(PaymentLink.client_id) == client_id)
            .order_by(col(PaymentLink.created_at).desc(), col(PaymentLink.id).desc())
            .limit(limit)
        )
    ).all()
    link_ids = [r[0].id for r in rows]
    messages: dict[int, list[SmsMessage]] = {}
    if link_ids:
        for m in (
            (
                await session.execute(
                    select(SmsMessage)
                    .where(col(SmsMessage.link_id).in_(link_ids))
                    .order_by(col(SmsMessage.id))
                )
            )
            .scalars()
            .all()
        ):
            messages.setdefault(m.link_id or 0, []).append(m)
    return [
        LinkRow(link=r[0], sent_by=r[1] or "—", messages=messages.get(r[0].id or 0, []))
        for r in rows
    ]


async def recent_sms(session: AsyncSession, limit: int = 100) -> list[SmsMessage]:
    return list(
        (await session.execute(select(SmsMessage).order_by(col(SmsMessage.id).desc()).limit(limit)))
        .scalars()
        .all()
    )
