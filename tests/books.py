"""The books balance: the money invariants every test that moves money must leave true.

1. Allocations = payments − refunds, payment by payment: what each settled payment kept is
   exactly what its allocations hold of invoices (refunds add negative allocations).
2. The processor's ledger = the settled payments, by idempotency key: what the processor charged
   less what it refunded and what lost disputes took back is what the payment kept
   (amount − refunded_cents: a lost dispute is a refund of kind `dispute`); a failed payment
   kept nothing there; nothing was charged under a key we have no payment for. A payment still
   unresolved is skipped (the processor may have charged: reconcile finds out), and a refund
   whose answer was lost (still `pending`) may already be taken off at the processor.
3. No vehicle has two overlapping paid periods (paid monitoring invoices).
4. Claims point only at unresolved payments, and every unresolved payment holds its claims (the
   account's `payment_in_flight`, and its link's `claim_payment_id`).

`violations` lists what is wrong (empty when the books balance); `books_balance` asserts it;
`check_books` runs it on a fresh engine, on its own event loop in its own thread (asyncpg
connections belong to the loop that opened them, and a test's loop may be gone or running).
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel import col

from app.store.db import make_engine, make_sessionmaker
from app.store.models import (
    Client,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentLink,
    Refund,
)

# The account and the link stay claimed while a payment is one of these (`requires_action` in
# case a 3-D Secure challenge is ever stored as its own status; today it is `pending`).
UNRESOLVED = ("pending", "unknown", "requires_action")
KEPT = ("succeeded", "partially_refunded", "refunded")
Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")
# Demo history written by the seed, never charged through a processor.
SEED_KEY_PREFIX = "seed-"


@dataclass(frozen=True)
class Charge:
    """One charge in a processor's own ledger: what it holds of our money, net of refunds."""

    key: str | None  # our idempotency key, when the processor keeps it
    payment_id: int | None  # our payment id from the charge's metadata
    net_cents: int  # charged (0 unless it succeeded) less refunded and lost to disputes


@dataclass(frozen=True)
class Scope:
    """The whole database, or one client's account (a stateful test's own example)."""

    client_id: int | None = None

    def payments(self, query: Q) -> Q:
        if self.client_id is None:
            return query
        return query.where(col(Payment.client_id) == self.client_id)


def sandbox_ledger(gateway: Any) -> list[Charge]:
    """The sandbox gateway's ledger (its own SQLite: `app.state.gateway`)."""
    rows = gateway._db.execute(  # the ledger is the sandbox's own; read it as a processor's
        "SELECT key, payment_id, status, amount, refunded + (SELECT coalesce(sum(d.amount), 0)"
        " FROM dispute d WHERE d.intent = charge.intent AND d.status = 'lost') FROM charge"
    ).fetchall()
    return [
        Charge(
            key=key,
            payment_id=int(pid) if pid else None,
            net_cents=(amount if status == "succeeded" else 0) - refunded,
        )
        for key, pid, status, amount, refunded in rows
    ]


def stripe_ledger(fake: Any) -> list[Charge]:
    """The fake Stripe's PaymentIntents (tests/fakes/fake_stripe.py), by metadata payment_id."""
    with fake._lock:
        intents = [dict(i) for i in fake.payment_intents.values()]
    return [
        Charge(
            key=None,
            payment_id=int(i["metadata"]["payment_id"])
            if (i.get("metadata") or {}).get("payment_id", "").isdigit()
            else None,
            net_cents=int(i["amount_received"]) - fake._refunded(i["id"]) - fake._lost(i["id"]),
        )
        for i in intents
    ]


async def _allocation_violations(
    s: AsyncSession, pending: dict[int, int], scope: Scope
) -> list[str]:
    rows = await s.execute(
        scope.payments(
            select(col(Payment.id), col(Payment.amount_cents) - col(Payment.refunded_cents)).where(
                col(Payment.status).in_(KEPT)
            )
        )
    )
    kept = {int(p or 0): int(cents) for p, cents in rows.all()}
    allocations = select(
        col(PaymentAllocation.payment_id), func.sum(PaymentAllocation.amount_cents)
    ).group_by(col(PaymentAllocation.payment_id))
    if scope.client_id is not None:
        allocations = allocations.join(
            Payment, col(Payment.id) == col(PaymentAllocation.payment_id)
        ).where(col(Payment.client_id) == scope.client_id)
    allocated: dict[int, int] = dict((await s.execute(allocations)).all())
    # A refund whose answer was lost (still pending) may not have given its share back yet; a
    # success refunded because it no longer fit was never allocated.
    out = [
        f"payment {p} kept {cents} but its allocations hold {allocated.get(p, 0)}"
        for p, cents in sorted(kept.items())
        if not cents - pending.get(p, 0) <= allocated.get(p, 0) <= cents
    ]
    out += [
        f"payment {p} kept nothing (not settled) but its allocations hold {cents}"
        for p, cents in sorted(allocated.items())
        if p not in kept and cents
    ]
    return out


async def _pending_refunds(s: AsyncSession) -> dict[int, int]:
    rows = await s.execute(
        select(col(Refund.payment_id), func.sum(Refund.amount_cents))
        .where(col(Refund.status) == "pending")
        .group_by(col(Refund.payment_id))
    )
    return {int(p): int(c) for p, c in rows.all()}


def _match(
    ledger: Sequence[Charge], by_key: dict[str, Payment], by_id: dict[int, Payment]
) -> tuple[dict[int, int], list[str]]:
    """Net cents at the processor per payment id, and charges with no payment of ours."""
    net: dict[int, int] = defaultdict(int)
    orphans: list[str] = []
    for charge in ledger:
        payment = (by_key.get(charge.key) if charge.key else None) or (
            by_id.get(charge.payment_id) if charge.payment_id is not None else None
        )
        if payment is None or payment.id is None:
            if charge.net_cents:
                orphans.append(f"the processor holds {charge.net_cents} under {charge} unknown")
            continue
        net[payment.id] += charge.net_cents
    return net, orphans


async def _ledger_violations(
    s: AsyncSession, ledger: Sequence[Charge], pending: dict[int, int], scope: Scope
) -> list[str]:
    payments = list((await s.execute(scope.payments(select(Payment)))).scalars())
    by_key = {p.idempotency_key: p for p in payments}
    by_id = {p.id: p for p in payments if p.id is not None}
    net, out = _match(ledger, by_key, by_id)
    if scope.client_id is not None:
        out = []  # a charge of another client's payment is not unknown, only out of scope
    for p in payments:
        if p.status in UNRESOLVED or p.idempotency_key.startswith(SEED_KEY_PREFIX):
            continue
        assert p.id is not None
        ours = p.amount_cents - p.refunded_cents if p.status in KEPT else 0
        theirs = net.get(p.id, 0)
        # A refund whose answer was lost may be taken off at the processor already.
        if not ours - pending.get(p.id, 0) <= theirs <= ours:
            out.append(
                f"payment {p.id} ({p.status}, key {p.idempotency_key}) kept {ours} but the "
                f"processor holds {theirs}"
            )
    return out


def _overlaps(periods: Iterable[tuple[int, Any, Any, str]]) -> list[str]:
    by_vehicle: dict[int, list[tuple[Any, Any, str]]] = defaultdict(list)
    for vehicle_id, start, end, number in periods:
        by_vehicle[vehicle_id].append((start, end, number))
    out = []
    for vehicle_id, spans in sorted(by_vehicle.items()):
        spans.sort()
        for (_s1, end1, n1), (start2, _e2, n2) in zip(spans, spans[1:], strict=False):
            if start2 <= end1:
                out.append(f"vehicle {vehicle_id} has overlapping paid periods {n1} and {n2}")
    return out


async def _period_violations(s: AsyncSession, scope: Scope) -> list[str]:
    query = select(
        col(Invoice.vehicle_id),
        col(Invoice.period_start),
        col(Invoice.period_end),
        col(Invoice.number),
    ).where(
        col(Invoice.kind) == "monitoring",
        col(Invoice.status) == "paid",
        col(Invoice.vehicle_id).is_not(None),
        col(Invoice.period_start).is_not(None),
    )
    if scope.client_id is not None:
        query = query.where(col(Invoice.client_id) == scope.client_id)
    return _overlaps((await s.execute(query)).all())  # type: ignore[arg-type]


async def _claim_violations(s: AsyncSession, scope: Scope) -> list[str]:
    status = dict(
        (await s.execute(scope.payments(select(col(Payment.id), col(Payment.status))))).all()
    )
    clients = select(col(Client.id), col(Client.payment_in_flight)).where(
        col(Client.payment_in_flight).is_not(None)
    )
    links_query = select(col(PaymentLink.id), col(PaymentLink.claim_payment_id)).where(
        col(PaymentLink.claim_payment_id).is_not(None)
    )
    if scope.client_id is not None:
        clients = clients.where(col(Client.id) == scope.client_id)
        links_query = links_query.where(col(PaymentLink.client_id) == scope.client_id)
    held = dict((await s.execute(clients)).all())
    links = dict((await s.execute(links_query)).all())
    out = [
        f"client {c} is claimed by payment {p}, which is {status.get(p, 'missing')}"
        for c, p in sorted(held.items())
        if status.get(p) not in UNRESOLVED
    ]
    out += [
        f"link {link} is claimed by payment {p}, which is {status.get(p, 'missing')}"
        for link, p in sorted(links.items())
        if status.get(p) not in UNRESOLVED
    ]
    unresolved = (
        await s.execute(
            scope.payments(
                select(col(Payment.id), col(Payment.client_id), col(Payment.link_id)).where(
                    col(Payment.status).in_(UNRESOLVED)
                )
            )
        )
    ).all()
    claimed_accounts = {p: c for c, p in held.items()}
    claimed_links = {p: link for link, p in links.items()}
    for pid, client_id, link_id in unresolved:
        if claimed_accounts.get(pid) != client_id:
            out.append(f"unresolved payment {pid} does not hold client {client_id}'s claim")
        if link_id is not None and claimed_links.get(pid) != link_id:
            out.append(f"unresolved payment {pid} does not hold link {link_id}'s claim")
    return out


async def violations(
    maker: async_sessionmaker[AsyncSession],
    ledger: Sequence[Charge] | None = None,
    client_id: int | None = None,
) -> list[str]:
    """Everything that is wrong with the books (of one client's account, given `client_id`);
    empty when they balance."""
    scope = Scope(client_id)
    async with maker() as s:
        pending = await _pending_refunds(s)
        out = await _allocation_violations(s, pending, scope)
        out += await _period_violations(s, scope)
        out += await _claim_violations(s, scope)
        if ledger is not None:
            out += await _ledger_violations(s, ledger, pending, scope)
    return out


def _report(found: list[str]) -> str:
    return "the books do not balance:\n  " + "\n  ".join(found)


async def books_balance(
    maker: async_sessionmaker[AsyncSession], ledger: Sequence[Charge] | None = None
) -> None:
    """Assert the invariants on the test's own sessions."""
    found = await violations(maker, ledger)
    assert not found, _report(found)


async def unresolved(maker: async_sessionmaker[AsyncSession]) -> int:
    """How many payments are still pending or unknown."""
    async with maker() as s:
        return int(
            (
                await s.execute(
                    select(func.count())
                    .select_from(Payment)
                    .where(col(Payment.status).in_(UNRESOLVED))
                )
            ).scalar_one()
        )


async def _check(url: str, ledger: Sequence[Charge] | None) -> list[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        maker = make_sessionmaker(engine)
        async with maker() as s:
            if not (await s.execute(select(func.count()).select_from(Payment))).scalar_one():
                return []  # no money moved
        return await violations(maker, ledger)
    finally:
        await engine.dispose()


def check_books(url: str, ledger: Sequence[Charge] | None = None) -> list[str]:
    """The violations in the database at `url`, read on a fresh engine and event loop."""
    result: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(_check(url, ledger)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="books")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
