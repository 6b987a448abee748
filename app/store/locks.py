"""The account lock every writer of a client's money facts takes (SPEC §2, STYLE "Data and
transactions"): payments on every channel, applying a result, void, new invoices, refunds.

PostgreSQL: `SELECT … FOR UPDATE` on the client row. SQLite: a no-op write on that row as the
transaction's first statement, which takes the database's write lock at once (the effect of
`BEGIN IMMEDIATE`), so no snapshot read earlier in the transaction can go stale under it.
Held only for a short transaction with no network call inside.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.store.models import Client


async def lock_client(session: AsyncSession, client_id: int) -> bool:
    """Take the account lock as the first statement of a new transaction (whatever the session
    had open is committed first). False when there is no such client."""
    if session.in_transaction():
        await session.commit()
    if session.get_bind().dialect.name == "postgresql":
        row = await session.execute(
            select(col(Client.id)).where(col(Client.id) == client_id).with_for_update()
        )
        return row.first() is not None
    done = await session.execute(
        update(Client)
        .where(col(Client.id) == client_id)
        .values(payment_in_flight=col(Client.payment_in_flight))
    )
    return done.rowcount == 1  # type: ignore[attr-defined]


@asynccontextmanager
async def locked_account(
    maker: async_sessionmaker[AsyncSession], client_id: int
) -> AsyncIterator[AsyncSession]:
    """A new session whose transaction holds the account lock. Commit inside; leaving without
    a commit rolls back and releases the lock."""
    async with maker() as session:
        if not await lock_client(session, client_id):
            raise LookupError(f"client {client_id} not found")
        yield session
