"""Small write helpers shared by services."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import Invoice


async def add_invoice(session: AsyncSession, **fields: Any) -> Invoice:
    """Insert an invoice and give it its number, `INV-0000123`, from its id."""
    invoice = Invoice(number="tmp-" + secrets.token_hex(6), **fields)
    session.add(invoice)
    await session.flush()
    invoice.number = f"INV-{invoice.id:07d}"
    session.add(invoice)
    await session.flush()
    return invoice
