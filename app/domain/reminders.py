"""Reminders by text, and the client's "PAY" reply: the rules, in one place.

When a reminder is due: a vehicle's paid-through date is the last day its monitoring is paid
for, so "ends in N days" means paid_through == the location's today + N (REMIND_DAYS_BEFORE,
default 3): on Nov 25 a vehicle paid through Nov 28 is reminded, once (one reminder per
vehicle and paid-through date). A missed day is not caught up later: a vehicle whose date is
closer than N days when the job runs is not texted (run `monitorpay remind` again the same day).

Which vehicle a PAY reply is about (`choose_vehicle`):
1. the vehicle of the most recent text within REPLY_WINDOW that asked that number to reply
   PAY: a reminder, or a declined AutoPay charge's text ("Reply PAY for a link now");
2. else, when the number belongs to one client with one vehicle, that vehicle;
3. else none: the reply asks the client to call (we never guess between vehicles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_DAYS_BEFORE = 3
REPLY_WINDOW = timedelta(days=7)  # a PAY this long after a reminder still means its vehicle
PAY_WORDS = frozenset({"PAY", "PAGAR"})
# What may surround the word: spaces and punctuation, Spanish opening marks and quotes too.
_AROUND = " \t\r\n.,;:!?¡¿'\"()[]*-_~…“”‘’"


def reminder_due_on(today: date, days_before: int) -> date:
    """The paid-through date that is reminded on `today`."""
    return today + timedelta(days=days_before)


def is_due(paid_through: date, today: date, days_before: int) -> bool:
    return paid_through == reminder_due_on(today, days_before)


def skip_reason(*, accepts_payments: bool, on_autopay: bool, opted_out: bool) -> str | None:
    """Why a due vehicle is not reminded, or None to text it. A location that does not take
    payments could not send the link the text offers; AutoPay will charge the period itself;
    an opted-out number (the client's, or shared with someone who replied STOP) is never
    texted."""
    if not accepts_payments:
        return "payments_not_accepted"
    if on_autopay:
        return "autopay"
    if opted_out:
        return "opted_out"
    return None


def pay_word(body: str | None) -> str | None:
    """ "PAY" or "PAGAR" when the whole reply is that word (any case, with spaces or punctuation
    around it: "pay", "Pay!", " pagar ", "¡PAGAR!"), else None. "pay later" is not a request."""
    word = (body or "").strip(_AROUND).upper()
    return word if word in PAY_WORDS else None


@dataclass(frozen=True)
class Target:
    client_id: int
    vehicle_id: int


@dataclass(frozen=True)
class Owner:
    """A client who has the number that texted, with their vehicles' ids."""

    client_id: int
    vehicle_ids: tuple[int, ...]


def choose_vehicle(reminded: Target | None, owners: Sequence[Owner]) -> Target | None:
    """The vehicle a PAY is about (module docstring), or None when it cannot be told.
    `reminded`: the latest reminder to the number within REPLY_WINDOW, if any."""
    if reminded is not None and any(o.client_id == reminded.client_id for o in owners):
        return reminded
    if len(owners) == 1 and len(owners[0].vehicle_ids) == 1:
        return Target(owners[0].client_id, owners[0].vehicle_ids[0])
    return None


def already_paid(paid_through_now: date, reminded_period_end: date | None) -> bool:
    """The vehicle was paid since its reminder (its paid-through date moved on): nothing is due,
    so no link is sent (a link now would be for the period after next)."""
    return reminded_period_end is not None and paid_through_now > reminded_period_end
