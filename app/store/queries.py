"""Read queries the screens need (each backed by an index)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.phone import digits
from app.store.models import Client, Location, PaymentLink, SmsMessage, StaffUser

_PHONEISH = re.compile(r"[0-9\s().+-]+")


@dataclass(frozen=True)
class ClientRow:
    client: Client
    location_name: str


async def search_clients(session: AsyncSession, q: str, limit: int = 25) -> list[ClientRow]:
    q = (q or "").strip()
    if not q:
        return []
    stmt = select(Client, col(Location.name)).join(
        Location, col(Location.id) == col(Client.location_id)
    )
    d = digits(q)
    if d and len(d) == len(
        q.replace(" ", "")
        .replace("-", "")
        .replace("(", "")
        .replace(")", "")
        .replace(".", "")
        .replace("+", "")
    ):
        if len(d) == 11 and d.startswith("1"):
            d = d[1:]
        stmt = stmt.where(
            or_(
                col(Client.account_number).startswith(d),
                col(Client.phone_digits).contains(d),
            )
        )
    else:
        stmt = stmt.where(col(Client.search_name).contains(" ".join(q.lower().split())))
    stmt = stmt.order_by(
        col(Client.last_name), col(Client.first_name), col(Client.account_number)
    ).limit(limit)
    rows = (await session.execute(stmt)).all()
    return [ClientRow(client=r[0], location_name=r[1]) for r in rows]


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


async def latest_link(session: AsyncSession, client_id: int) -> PaymentLink | None:
    return (
        await session.execute(
            select(PaymentLink)
            .where(col(PaymentLink.client_id) == client_id)
            .order_by(col(PaymentLink.created_at).desc(), col(PaymentLink.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def recent_sms(session: AsyncSession, limit: int = 100) -> list[SmsMessage]:
    return list(
        (await session.execute(select(SmsMessage).order_by(col(SmsMessage.id).desc()).limit(limit)))
        .scalars()
        .all()
    )
