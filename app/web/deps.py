"""Request-scoped dependencies: the database session and the signed-in user, whose session
ends after a spell without activity (staff 30 minutes, clients 15) and a while after sign-in
(8 hours), whatever they do.

The one module of app/web that imports app.store (tests/unit/test_layers.py): the session and
the signed-in user come from here; whatever else a controller shows, a service returns."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain.summary import OpenInvoice
from app.settings import Settings
from app.store import hot_reads, search
from app.store.db import connection_gone as connection_gone  # was the connection lost?
from app.store.models import Client, StaffUser
from app.web import sessions

Db = NamedDependency[AsyncSession]
U = TypeVar("U", StaffUser, Client)


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


# -- the hot reads: on the request session's plain connection (store/hot_reads.py) ------------
async def read_account(
    db: AsyncSession, client_id: int, *, latest_link: bool = False
) -> hot_reads.AccountView | None:
    """The client, its location and vehicles (and its newest payment link), or None."""
    return await hot_reads.account(db, client_id, latest_link=latest_link)


async def read_open_invoices(db: AsyncSession, client_id: int) -> list[OpenInvoice]:
    """The account's open invoices with what is still due on each."""
    return await hot_reads.open_invoices(db, client_id)


async def search_clients(db: AsyncSession, needle: search.Needle) -> search.Results:
    """Client search (the rules: store/search.py's needle)."""
    return await hot_reads.search_clients(db, needle)


# Settings and the clock are the app's, put in its state when it is made (server/core.py): a
# handler reads them there, not through dependency injection, which would cost Litestar a
# resolution per request (and a task group when they sit beside another dependency).
def settings_of(request: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    """The app's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


def clock_of(request: ASGIConnection[Any, Any, Any, Any]) -> Clock:
    """The app's clock (a fixed or stepped one in tests)."""
    return request.app.state.clock  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Area:
    name: str  # the surface's path prefix and login page: /plus/login, /account/login
    id_key: str  # the session key holding the signed-in id
    idle_seconds: Callable[[Settings], int]


STAFF = Area("plus", "staff_id", lambda s: s.staff_idle_seconds)
CLIENT = Area("account", "client_id", lambda s: s.client_idle_seconds)

# `last_seen` is written at most this often when nothing else in the session changed: a session
# read again is not written again, so a person clicking around costs one store read per request.
# The idle timeout counts from it, so it may end up to this much early.
SEEN_EVERY_SECONDS = 60

# A form posted into an ended session is kept for after sign-in (see auth.py), but never these.
_SECRET_FIELD = re.compile(r"pass|cvc|cvv|card.?number", re.IGNORECASE)
_RESUME_MAX_FIELDS, _RESUME_MAX_CHARS = 60, 8000


def _session(request: Request[Any, Any, Any]) -> dict[str, Any]:
    session = request.scope.get("session")
    return session if isinstance(session, dict) else {}


def start_session(
    request: Request[Any, Any, Any], area: Area, user_id: int, now: datetime, **extra: Any
) -> None:
    """Sign-in: a new session with a new id, nothing of the one before."""
    at = int(now.timestamp())
    sessions.start(request, {area.id_key: user_id, "signed_in_at": at, "last_seen": at} | extra)


def ended_note(request: Request[Any, Any, Any], area: Area) -> dict[str, Any]:
    """Why this browser's last session in `area` ended, if it timed out: reason, next, resume."""
    note = _session(request).get("ended")
    return note if isinstance(note, dict) and note.get("area") == area.name else {}


async def signed_in(request: Request[Any, Any, Any], area: Area) -> int | None:
    """The id signed in to `area`, or None. A session past its idle or absolute timeout is
    ended here (with a note for the login page) and counts as signed out."""
    session = _session(request)
    user_id = session.get(area.id_key)
    if not isinstance(user_id, int):
        return None
    settings = settings_of(request)
    now = int(clock_of(request).now().timestamp())
    started, seen = session.get("signed_in_at"), session.get("last_seen")
    if not isinstance(started, int) or not isinstance(seen, int):
        await _end(request, area, "expired", user_id)
        return None
    if now - started >= settings.session_max_age_seconds:
        await _end(request, area, "expired", user_id)
        return None
    if now - seen > area.idle_seconds(settings):
        await _end(request, area, "idle", user_id)
        return None
    if now - seen >= SEEN_EVERY_SECONDS:
        session["last_seen"] = now
    return user_id


async def _end(request: Request[Any, Any, Any], area: Area, reason: str, user_id: int) -> None:
    note: dict[str, Any] = {"area": area.name, "reason": reason, "user": user_id}
    if back := _return_to(request, area):
        note["next"] = back
    if request.method == "POST" and (fields := await _resumable_form(request)):
        note["resume"] = {"action": request.url.path, "fields": fields}
    request.set_session({"ended": note})
    sessions.rotate(request)


def _return_to(request: Request[Any, Any, Any], area: Area) -> str:
    """The page the person was on: this one for a page load, else the page that sent it."""
    if request.method == "GET" and request.headers.get("hx-request") != "true":
        url = str(request.url)
    else:
        url = request.headers.get("hx-current-url") or request.headers.get("referer") or ""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    prefix = f"/{area.name}"
    inside = path == prefix or path.startswith(prefix + "/")
    return path if inside and not path.startswith(prefix + "/login") else ""


async def _resumable_form(request: Request[Any, Any, Any]) -> list[list[str]] | None:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    form = await request.form()
    fields = [
        [name, value]
        for name, value in form.multi_items()
        if name != "_csrf_token" and isinstance(value, str) and not _SECRET_FIELD.search(name)
    ]
    size = sum(len(name) + len(value) for name, value in fields)
    if not fields or len(fields) > _RESUME_MAX_FIELDS or size > _RESUME_MAX_CHARS:
        return None
    return fields


async def _signed_in_user(
    request: Request[Any, Any, Any], db: Db, area: Area, model: type[U], user_id: int | None
) -> U:
    """The `model` row of the id signed in to `area`, else LoginRequired; a session whose user
    is gone (or no longer active) is cleared."""
    if user_id is None:
        raise LoginRequired(area.name)
    user = await db.get(model, user_id)
    if user is None or not getattr(user, "active", True):
        request.clear_session()
        raise LoginRequired(area.name)
    return user


@lru_cache(maxsize=1024)
def _kept_staff(staff_id: int, email: str, name: str, role: str) -> StaffUser:
    """The staff member a session keeps, built once per process for each (id, email, name,
    role): never added to a database session, only read (id, name, role)."""
    return StaffUser(id=staff_id, email=email, name=name, role=role, password_hash="", active=True)


async def provide_staff(request: Request[Any, Any, Any], db: Db) -> StaffUser:
    """The signed-in staff member, from the session: it keeps who they are (id, role, name,
    email) with their version as of then (store/staff_versions.py), read with the session in
    one round trip, so a request asks the database nothing. A version that moved (disabled,
    new role), or a session that has none yet (just signed in), reads the row again."""
    staff_id = await signed_in(request, STAFF)
    if staff_id is None:
        raise LoginRequired(STAFF.name)
    session, version = _session(request), sessions.staff_version(request)
    kept = session.get("staff")
    if isinstance(kept, dict) and kept.get("v") == version:
        return _kept_staff(staff_id, kept["email"], kept["name"], kept["role"])
    user = await _signed_in_user(request, db, STAFF, StaffUser, staff_id)
    if session.get("role") != user.role:
        # New powers (or fewer), new session id: an id seen before the change is worth nothing.
        session["role"] = user.role
        sessions.rotate(request)
    session["staff"] = {"email": user.email, "name": user.name, "role": user.role, "v": version}
    return user


async def provide_client_user(request: Request[Any, Any, Any], db: Db) -> Client:
    return await _signed_in_user(request, db, CLIENT, Client, await signed_in(request, CLIENT))


def require_role(user: StaffUser, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden(detail="Your role does not allow this action. Ask a supervisor.")


Staff = NamedDependency[StaffUser]
Me = NamedDependency[Client]
