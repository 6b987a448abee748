"""A client's account as PLUS Web's pages read it: the client, its location and vehicles (one
statement), its open invoices, and its payment links. The reads are store/reads.py's and
store/queries.py's; web asks here, never the store."""

from __future__ import annotations

from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.summary import OpenInvoice
from app.store import queries, reads, staff_versions
from app.store.models import PaymentLink, StaffUser
from app.store.queries import LinkRow
from app.store.reads import AccountView, VehicleView

__all__ = [
    "AccountView",
    "LinkRow",
    "PaymentLink",
    "VehicleView",
    "account",
    "change_staff",
    "link",
    "links",
    "open_invoices",
]


async def account(
    session: AsyncSession, client_id: int, *, latest_link: bool = False
) -> AccountView | None:
    """The client, its location and vehicles (and its newest payment link), or None."""
    return await reads.account(session, client_id, latest_link=latest_link)


async def open_invoices(session: AsyncSession, client_id: int) -> list[OpenInvoice]:
    return await reads.open_invoices(session, client_id)


async def links(session: AsyncSession, client_id: int) -> list[LinkRow]:
    """The client's newest links with who sent each and their texts (the Payment Links tab)."""
    return await queries.client_links(session, client_id)


async def link(session: AsyncSession, client_id: int, link_id: int) -> PaymentLink | None:
    """One of this client's links as the database holds it now (None for anyone else's)."""
    found = await session.get(PaymentLink, link_id, populate_existing=True)
    return found if found is not None and found.client_id == client_id else None


class UnknownRole(ValueError):
    pass


ROLES = ("agent", "supervisor", "admin")


async def change_staff(
    session: AsyncSession,
    sessions_store: Store,
    staff_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
) -> StaffUser | None:
    """A staff member's role or whether they may sign in, committed, then their version moved
    (store/staff_versions.py): each of their sessions reads them again at its next request, so
    a disabled member is signed out there and a new role takes effect with a new session id.
    A change made to the staff table any other way must be followed by `staff_versions.bump`."""
    if role is not None and role not in ROLES:
        raise UnknownRole(role)
    user = await session.get(StaffUser, staff_id)
    if user is None:
        return None
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    await session.commit()
    await staff_versions.bump(sessions_store, staff_id)
    return user
