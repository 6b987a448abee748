"""What recording the processor's answer needs, built once by the caller that has it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.adapters.payments.port import PaymentGateway
from app.clock import Clock


@dataclass(frozen=True)
class PaymentContext:
    """The database, the processor (a misfit's refund goes to it), the clock, and the company
    the payer's texts are signed with ("": nobody is texted)."""

    maker: async_sessionmaker[AsyncSession]
    gateway: PaymentGateway
    clock: Clock
    company: str = ""
