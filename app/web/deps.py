"""Request-scoped dependencies: the database session and the signed-in user."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.settings import Settings
from app.store.models import Client, StaffUser

Db = NamedDependency[AsyncSession]
ClockDep = NamedDependency[Clock]
SettingsDep = NamedDependency[Settings]


class LoginRequired(HTTPException):
    status_code = 401

    def __init__(self, area: str) -> None:
        super().__init__(detail="Sign in to continue.")
        self.area = area


class Forbidden(HTTPException):
    status_code = 403


async def provide_db(state: State) -> AsyncGenerator[AsyncSession, None]:
    async with state.sessionmaker() as session:
        yield session


async def release_connection(db: AsyncSession) -> None:
    """Give the request's connection back to the pool before the processor is called: a
    request holds at most one connection, and none across a network call. The session stays
    usable; its next query takes a connection again."""
    await db.commit()


def provide_settings(state: State) -> Settings:
    return state.settings  # type: ignore[no-any-return]


def provide_clock(state: State) -> Clock:
    return state.clock  # type: ignore[no-any-return]


async def provide_staff(request: Request[Any, Any, Any], db: Db) -> StaffUser:
    staff_id = request.session.get("staff_id") if request.session else None
    if not staff_id:
        raise LoginRequired("plus")
    user = await db.get(StaffUser, staff_id)
    if user is None or not user.active:
        request.clear_session()
        raise LoginRequired("plus")
    return user


async def provide_client_user(request: Request[Any, Any, Any], db: Db) -> Client:
    client_id = request.session.get("client_id") if request.session else None
    if not client_id:
        raise LoginRequired("account")
    client = await db.get(Client, client_id)
    if client is None:
        request.clear_session()
        raise LoginRequired("account")
    return client


def require_role(user: StaffUser, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden(detail="Your role does not allow this action. Ask a supervisor.")


Staff = NamedDependency[StaffUser]
Me = NamedDependency[Client]
