"""Errors a user can cause. `app.web` turns each into a clear message."""

from __future__ import annotations


class DomainError(Exception):
    """A rule was broken by input or by the state of the world, not by a bug."""

    message: str = "Something is not right with this request."

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class InvalidPhone(DomainError):
    message = "Enter a valid US mobile number, like (512) 555-0101."


class InvalidAmount(DomainError):
    message = "Enter an amount in dollars and cents, like 85.00."


class InvalidDays(DomainError):
    message = "Monitor days must be 14 or 30."


class StaleSummary(DomainError):
    message = (
        "This summary is out of date: the account changed since it was prepared "
        "(an invoice was paid or the vehicle's paid-through date moved)."
    )
