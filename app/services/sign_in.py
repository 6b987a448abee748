"""Sign-in for staff (email) and clients (account number): one flow, argon2, and throttling
per account and per client address (rules in domain/throttle.py).

The throttle lives in the database, not in the key-value store: every instance shares it, and
an attempt is let through to the password check only by a conditional update (`version`) that
one request wins. A burst of parallel guesses the moment a delay ends gets one password check,
not one each; the key-value store has no compare-and-set that would give us that.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain import throttle
from app.domain.errors import DomainError
from app.domain.throttle import ACCOUNT, ADDRESS, Policy, Throttle
from app.i18n import N_
from app.services import audit
from app.store.models import Client, LoginThrottle, StaffUser

log = logging.getLogger("monitorpay.sign_in")

_hasher = PasswordHasher()
# Verified against when no account matches, so a wrong email costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
ACCOUNT_NUMBER = re.compile(r"[0-9]{6}")
_TRIES = 5  # conditional updates lost in a row before an attempt is refused as a burst

T = TypeVar("T", StaffUser, Client)


class BadCredentials(DomainError):
    message = "The email or password is not right. Check both and try again."


class TooManyAttempts(DomainError):
    """Said the same way whether or not the account exists; the password was not checked."""

    def __init__(self, wait: timedelta) -> None:
        self.wait = wait
        super().__init__(f"Too many attempts. Try again in {throttle.wait_text(wait)}.")
        # for a client's page: the wait in the reader's words (app.web.auth)
        self.minutes = max(1, math.ceil(wait.total_seconds() / 60))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def account_key(kind: str, identifier: str) -> str:
    """Hashed: the table never holds the emails or numbers people mistyped."""
    return "acct:" + hashlib.sha256(f"{kind}:{identifier}".encode()).hexdigest()


def address_key(address: str) -> str:
    return "addr:" + address[:75]


# -- the throttle rows: read, then change only if nobody changed them since ---------------------


async def _read(session: AsyncSession, key: str) -> tuple[Throttle, int | None]:
    """The key's state and version (None: no row yet). Ends the read at once: the write that
    follows is conditional on the version, so it needs no open transaction (and SQLite none
    that would have to be upgraded to a writer)."""
    row = (
        await session.execute(
            select(
                col(LoginThrottle.failures),
                col(LoginThrottle.window_start),
                col(LoginThrottle.wait_until),
                col(LoginThrottle.version),
            ).where(col(LoginThrottle.key) == key)
        )
    ).one_or_none()
    await session.commit()
    if row is None:
        return Throttle(), None
    return Throttle(failures=row[0], window_start=row[1], wait_until=row[2]), row[3]


async def _write(
    session: AsyncSession, key: str, policy: Policy, state: Throttle, version: int | None
) -> bool:
    """Store `state` if the row is still at `version`. False: another attempt got there first."""
    where = (col(LoginThrottle.key) == key, col(LoginThrottle.version) == version)
    if state.failures == 0:
        if version is not None:
            await session.execute(delete(LoginThrottle).where(*where))
            await session.commit()
        return True
    values = {
        "failures": state.failures,
        "window_start": state.window_start,
        "wait_until": state.wait_until,
        "expires_at": state.expires_at(policy),
    }
    if version is None:
        try:
            await session.execute(insert(LoginThrottle).values(key=key, version=1, **values))
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return False
        return True
    done = await session.execute(
        update(LoginThrottle).where(*where).values(version=version + 1, **values)
    )
    await session.commit()
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


async def _claim(
    session: AsyncSession, key: str, policy: Policy, now: datetime
) -> tuple[Throttle, Throttle]:
    """Let one attempt through, charged as a failure; or refuse it, uncharged, while the key
    must wait. Returns the state before and after the charge."""
    for _ in range(_TRIES):
        before, version = await _read(session, key)
        if (delay := throttle.wait(before, now)) is not None:
            raise TooManyAttempts(delay)
        charged = throttle.charge(before, now, policy)
        if await _write(session, key, policy, charged, version):
            return before, charged
    raise TooManyAttempts(policy.first_delay)  # others keep winning: a burst of attempts


async def _refund(
    session: AsyncSession, key: str, policy: Policy, before: Throttle, charged: Throttle
) -> None:
    for _ in range(_TRIES):
        current, version = await _read(session, key)
        if version is None:
            return
        if await _write(session, key, policy, throttle.refund(before, charged, current), version):
            return


async def _forget_expired(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(LoginThrottle).where(col(LoginThrottle.expires_at) < now))
    await session.commit()


# -- the one sign-in flow ---------------------------------------------------------------------


async def _sign_in(
    session: AsyncSession,
    kind: str,
    identifier: str,
    password: str,
    address: str,
    now: datetime,
    find: Callable[[], Awaitable[tuple[T | None, str | None]]],
    wrong: DomainError,
) -> T:
    """`find` returns the account if it may sign in, and the hash to check (also for an account
    that may not, so every wrong answer costs one argon2 verification)."""
    by_address, by_account = address_key(address), account_key(kind, identifier)
    try:
        address_before, address_charged = await _claim(session, by_address, ADDRESS, now)
    except TooManyAttempts:
        log.warning("event=sign_in_throttled kind=%s by=address address=%s", kind, address)
        raise
    try:
        await _claim(session, by_account, ACCOUNT, now)
    except TooManyAttempts:
        await _refund(session, by_address, ADDRESS, address_before, address_charged)
        log.warning("event=sign_in_throttled kind=%s by=account address=%s", kind, address)
        raise
    user, stored = await find()
    await session.commit()  # no transaction stays open across the hashing
    ok = await anyio.to_thread.run_sync(_verify, stored, password)
    if not ok or user is None:
        await _forget_expired(session, now)
        raise wrong
    # Right password: the account starts afresh; the address only gets this attempt back.
    await session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == by_account))
    await session.commit()
    await _refund(session, by_address, ADDRESS, address_before, address_charged)
    return user


async def staff_sign_in(
    session: AsyncSession, email: str, password: str, address: str, now: datetime
) -> StaffUser:
    email = email.strip().lower()

    async def find() -> tuple[StaffUser | None, str | None]:
        user = (
            await session.execute(
                select(StaffUser).where(func.lower(col(StaffUser.email)) == email)
            )
        ).scalar_one_or_none()
        if user is None:
            return None, None
        return (user if user.active else None), user.password_hash

    user = await _sign_in(session, "staff", email, password, address, now, find, BadCredentials())
    audit.staff_sign_in(session, at=now, staff=user)
    await session.commit()
    return user


async def client_sign_in(
    session: AsyncSession, account_number: str, password: str, address: str, now: datetime
) -> Client:
    account_number = account_number.strip()

    async def find() -> tuple[Client | None, str | None]:
        if not ACCOUNT_NUMBER.fullmatch(account_number):
            return None, None
        client = (
            await session.execute(
                select(Client).where(col(Client.account_number) == account_number)
            )
        ).scalar_one_or_none()
        return client, (client.password_hash if client else None)

    wrong = BadCredentials(
        N_("The account number or password is not right. Check both and try again.")
    )
    client = await _sign_in(session, "client", account_number, password, address, now, find, wrong)
    audit.client_sign_in(session, at=now, client=client)
    await session.commit()
    return client
