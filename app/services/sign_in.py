"""Sign-in for staff (email) and clients (account number), with argon2 and throttling."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.errors import DomainError
from app.domain.passwords import WINDOW, locked_until
from app.services import audit
from app.store.models import Client, LoginAttempt, StaffUser

_hasher = PasswordHasher()
# Verified against when no account matches, so a wrong email costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class BadCredentials(DomainError):
    message = "The email or password is not right. Check both and try again."


class TooManyAttempts(DomainError):
    def __init__(self, minutes: int) -> None:
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(
            f"Too many failed sign-in attempts. For your security, try again in {minutes} {unit}."
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def _check_throttle(session: AsyncSession, key: str, now: datetime) -> None:
    rows = await session.execute(
        select(col(LoginAttempt.at)).where(
            col(LoginAttempt.key) == key, col(LoginAttempt.at) > now - WINDOW
        )
    )
    until = locked_until([r[0] for r in rows], now)
    if until is not None:
        minutes = max(1, int((until - now).total_seconds() + 59) // 60)
        raise TooManyAttempts(minutes)


async def _fail(session: AsyncSession, key: str, now: datetime) -> None:
    session.add(LoginAttempt(key=key, at=now))
    await session.commit()


async def staff_sign_in(
    session: AsyncSession, email: str, password: str, now: datetime
) -> StaffUser:
    email = email.strip().lower()
    key = f"staff:{email}"
    await _check_throttle(session, key, now)
    user = (
        await session.execute(select(StaffUser).where(func.lower(col(StaffUser.email)) == email))
    ).scalar_one_or_none()
    ok = _verify(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        await _fail(session, key, now)
        raise BadCredentials()
    await session.execute(delete(LoginAttempt).where(col(LoginAttempt.key) == key))
    audit.record(session, at=now, actor_type="staff", actor_id=user.id, action="staff.sign_in")
    await session.commit()
    return user


async def client_sign_in(
    session: AsyncSession, account_number: str, password: str, now: datetime
) -> Client:
    account_number = account_number.strip()
    key = f"client:{account_number}"
    await _check_throttle(session, key, now)
    client = None
    if account_number.isdigit() and len(account_number) == 6:
        client = (
            await session.execute(
                select(Client).where(col(Client.account_number) == account_number)
            )
        ).scalar_one_or_none()
    ok = _verify(client.password_hash if client else None, password)
    if not ok or client is None:
        await _fail(session, key, now)
        raise BadCredentials(
            "The account number or password is not right. Check both and try again."
        )
    await session.execute(delete(LoginAttempt).where(col(LoginAttempt.key) == key))
    audit.record(
        session,
        at=now,
        actor_type="client",
        actor_id=client.id,
        client_id=client.id,
        action="client.sign_in",
    )
    await session.commit()
    return client
