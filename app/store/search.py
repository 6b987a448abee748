"""Client search for PLUS Web: names and phone digits ("contains"), account numbers
("starts with")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.phone import digits
from app.store.models import Client, Location


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
