"""Reminders by text (`monitorpay remind`, or REMIND_DAILY_AT in-process), and the answer to a
client's "PAY" reply. The rules are in app/domain/reminders.py.

The run reads the vehicles whose paid-through date is REMIND_DAYS_BEFORE days after their
location's today, a chunk at a time (keyset on the vehicle id: memory stays flat however many
clients there are), skips those on AutoPay, opted out or at a location that does not take
payments, and for the rest inserts a `reminder` row (one per vehicle and paid-through date:
INSERT … ON CONFLICT DO NOTHING) and queues the text in the same transaction. A second run, or
one in another process at the same moment, inserts nothing for those vehicles and so texts
nothing: each vehicle-period is reminded once.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app import i18n
from app.clock import Clock
from app.domain import phone
from app.domain import reminders as rules
from app.domain.errors import DomainError
from app.domain.periods import local_today
from app.domain.summary import InvoiceSummary
from app.formatting import day
from app.services import audit, send_link, sms, texts
from app.services.daily import every_day, next_run_at  # noqa: F401 - next_run_at: tests
from app.services.sealed import SecretBox
from app.services.summary import PaymentsNotAccepted, summarize
from app.store import reads
from app.store.models import (
    AutopayEnrollment,
    Client,
    Location,
    Payment,
    Reminder,
    SmsMessage,
    Vehicle,
)

log = logging.getLogger("monitorpay.reminders")
CHUNK_SIZE = 500
# How each language writes the paid-through date in a text ("Nov 28", "28 nov"): no accents.
DATE_PATTERNS = {"en": "MMM d", "es": "d MMM"}


def short_date(value: date, language: str) -> str:
    with i18n.using(language):
        return day(value, DATE_PATTERNS.get(i18n.current(), DATE_PATTERNS["en"]))


# --- the run ---------------------------------------------------------------------------------


@dataclass
class RunReport:
    due: int = 0  # vehicles whose paid-through date is the one reminded today, anywhere
    texted: int = 0
    already: int = 0  # reminded before (an earlier run, or another process just now)
    errors: int = 0  # could not be priced (logged)
    skipped: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        skipped = sum(self.skipped.values())
        out = [
            f"remind: {self.texted} texted, {self.already} already reminded, "
            f"{skipped} skipped, of {self.due} due"
            + (f", {self.errors} errors" if self.errors else "")
        ]
        out += [f"  skipped: {n} — {why}" for why, n in sorted(self.skipped.items())]
        return out


SKIP_REASONS = {
    "payments_not_accepted": "the location does not take payments",
    "autopay": "on AutoPay",
    "opted_out": "opted out of texts",
}


@dataclass(frozen=True)
class _Row:
    vehicle: Vehicle
    first_name: str
    last_name: str
    language: str
    phone_e164: str
    location_id: int
    opted_out: bool
    on_autopay: bool
    reminded: bool


def _due_query(targets: dict[int, date], after: int, limit: int) -> Any:
    """Vehicles at each location whose paid-through date is that location's target date, with
    what decides whether to text them, in vehicle-id order after `after`."""
    return (
        select(
            Vehicle,
            col(Client.first_name),
            col(Client.last_name),
            col(Client.language),
            col(Client.phone_e164),
            col(Client.location_id),
            col(Client.sms_opt_out),
            col(AutopayEnrollment.id),
            col(Reminder.id),
        )
        .join(Client, col(Client.id) == col(Vehicle.client_id))
        .outerjoin(
            AutopayEnrollment,
            and_(
                col(AutopayEnrollment.vehicle_id) == col(Vehicle.id),
                col(AutopayEnrollment.active).is_(True),
            ),
        )
        .outerjoin(
            Reminder,
            and_(
                col(Reminder.vehicle_id) == col(Vehicle.id),
                col(Reminder.period_end) == col(Vehicle.paid_through),
            ),
        )
        .where(
            or_(
                false(),
                *(
                    and_(col(Client.location_id) == loc, col(Vehicle.paid_through) == target)
                    for loc, target in targets.items()
                ),
            ),
            col(Vehicle.id) > after,
        )
        .order_by(col(Vehicle.id))
        .limit(limit)
    )


async def _opted_out_numbers(s: AsyncSession, numbers: set[str]) -> set[str]:
    """Of `numbers`, those someone opted out (a number shared with a client who texted STOP)."""
    if not numbers:
        return set()
    rows = await s.execute(
        select(col(Client.phone_e164))
        .where(col(Client.phone_e164).in_(numbers), col(Client.sms_opt_out).is_(True))
        .distinct()
    )
    return set(rows.scalars().all())


def _insert_reminders(s: AsyncSession, values: list[dict[str, Any]]) -> Any:
    """INSERT … ON CONFLICT (vehicle_id, period_end) DO NOTHING RETURNING: the rows this run
    won. A row another run holds (committed, or in flight on PostgreSQL: we wait for it) is
    not returned, so its vehicle is not texted again."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    return (
        insert(Reminder)
        .values(values)
        .on_conflict_do_nothing(index_elements=["vehicle_id", "period_end"])
        .returning(col(Reminder.id), col(Reminder.vehicle_id))
    )


async def _remind_chunk(
    maker: async_sessionmaker[AsyncSession],
    rows: list[_Row],
    locations: dict[int, Location],
    now: datetime,
    company: str,
    report: RunReport,
) -> None:
    """Text the chunk's due vehicles that no run has reminded yet, in one transaction."""
    async with maker() as s:
        opted = await _opted_out_numbers(s, {r.phone_e164 for r in rows})
        todo: list[_Row] = []
        for r in rows:
            location = locations[r.location_id]
            why = rules.skip_reason(
                accepts_payments=location.accepts_payments,
                on_autopay=r.on_autopay,
                opted_out=r.opted_out or r.phone_e164 in opted,
            )
            if why is not None:
                report.skipped[SKIP_REASONS[why]] += 1
            elif r.reminded:
                report.already += 1
            else:
                todo.append(r)
        if not todo:
            return
        owing = await reads.open_invoices_by_client(s, {r.vehicle.client_id for r in todo})
        priced: dict[int, tuple[_Row, int]] = {}
        for r in todo:
            location = locations[r.location_id]
            try:
                snap = summarize(
                    location,
                    r.vehicle,
                    r.vehicle.billing_cycle_days,
                    now,
                    owing.get(r.vehicle.client_id, []),
                )
            except DomainError:  # e.g. a billing cycle no price exists for
                report.errors += 1
                log.exception("vehicle_id=%s event=reminder_not_priced", r.vehicle.id)
                continue
            priced[r.vehicle.id or 0] = (r, snap.total_cents)
        if not priced:
            return
        won = (
            await s.execute(
                _insert_reminders(
                    s,
                    [
                        {
                            "client_id": r.vehicle.client_id,
                            "vehicle_id": vid,
                            "period_end": r.vehicle.paid_through,
                            "created_at": now,
                        }
                        for vid, (r, _) in priced.items()
                    ],
                )
            )
        ).all()
        report.already += len(priced) - len(won)
        queued: list[tuple[int, SmsMessage]] = []
        for reminder_id, vehicle_id in sorted(won, key=lambda w: int(w[1])):
            r, total = priced[int(vehicle_id)]
            location = locations[r.location_id]
            to = texts.Recipient(
                r.first_name, r.last_name, r.language, location.timezone, location.support_phone
            )
            body = texts.render_text(
                "reminder",
                to,
                company=company,
                vehicle=r.vehicle.label,
                amount=total,
                ends=short_date(r.vehicle.paid_through, r.language),
            )
            message = sms.queue(
                s,
                to_e164=r.phone_e164,
                body=body,
                kind="reminder",
                now=now,
                client_id=r.vehicle.client_id,
            )
            queued.append((int(reminder_id), message))
        await s.flush()
        if queued:
            await s.execute(update(Reminder), [{"id": rid, "sms_id": m.id} for rid, m in queued])
        await s.commit()
        report.texted += len(queued)


async def run(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    company: str,
    *,
    days_before: int = rules.DEFAULT_DAYS_BEFORE,
    chunk_size: int = CHUNK_SIZE,
) -> RunReport:
    """Text today's reminders (idempotent: see the module docstring). Logs a summary line."""
    report = RunReport()
    now = clock.now()
    async with maker() as s:
        locations = {
            loc.id or 0: loc for loc in (await s.execute(select(Location))).scalars().all()
        }
    targets = {
        loc_id: rules.reminder_due_on(local_today(now, loc.timezone), days_before)
        for loc_id, loc in locations.items()
    }
    after = 0
    while True:
        async with maker() as s:
            raw = (await s.execute(_due_query(targets, after, chunk_size))).all()
        if not raw:
            break
        rows = [
            _Row(v, first, last, lang, e164, loc, bool(out), ap is not None, rem is not None)
            for v, first, last, lang, e164, loc, out, ap, rem in raw
        ]
        after = rows[-1].vehicle.id or 0
        report.due += len(rows)
        await _remind_chunk(maker, rows, locations, now, company, report)
        if len(raw) < chunk_size:
            break
    for line in report.lines():
        log.info("event=reminders %s", line)
    return report


async def run_daily(
    maker: async_sessionmaker[AsyncSession],
    clock: Clock,
    company: str,
    at: time,
    days_before: int = rules.DEFAULT_DAYS_BEFORE,
) -> None:
    """The optional in-process schedule (REMIND_DAILY_AT, UTC); a vehicle-period is reminded
    once whoever gets there first."""

    async def job() -> list[str]:
        await run(maker, clock, company, days_before=days_before)  # logs its own summary
        return []

    await every_day(maker, clock, at, "reminders", job)


# --- the PAY reply ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyContext:
    """What answering a PAY needs from the app's settings."""

    company: str
    support_phone: str
    base_url: str
    ttl_seconds: int
    box: SecretBox

    @property
    def texting(self) -> send_link.Texting:
        return send_link.Texting(
            ttl_seconds=self.ttl_seconds, base_url=self.base_url, company=self.company, box=self.box
        )

    @classmethod
    def from_settings(cls, settings: Any, box: SecretBox) -> ReplyContext:
        return cls(
            company=settings.company_name,
            support_phone=settings.support_phone,
            base_url=settings.base_url,
            ttl_seconds=settings.link_ttl_seconds,
            box=box,
        )


async def _answer(
    session: AsyncSession,
    *,
    to_e164: str,
    why: str,
    to: texts.Recipient,
    client_id: int | None,
    now: datetime,
    ctx: ReplyContext,
    **context: Any,
) -> bool:
    """Queue a polite answer (no link), unless the number already had its day's texts and the
    one answer past them: a number texting PAY over and over gets at most
    TEXTS_PER_NUMBER_PER_DAY + 1 texts a day from us, whoever it is."""
    if await send_link.texts_today(session, to_e164, now) > send_link.TEXTS_PER_NUMBER_PER_DAY:
        log.info("to=%s why=%s event=pay_reply_silent", phone.mask(to_e164), why)
        return False
    body = texts.render_text("reply", to, company=ctx.company, why=why, **context)
    sms.queue(session, to_e164=to_e164, body=body, kind="reply", now=now, client_id=client_id)
    if client_id is not None:
        audit.link_text_request_refused(
            session, at=now, client_id=client_id, reason=why, phone=phone.mask(to_e164)
        )
    await session.commit()
    return True


async def _last_prompt(
    session: AsyncSession, e164: str, client_ids: list[int], now: datetime
) -> tuple[rules.Target, date] | None:
    """The most recent text within REPLY_WINDOW that asked `e164` to reply PAY: a reminder, or
    a declined AutoPay charge's text ("Reply PAY for a link now"). Its client and vehicle, and
    the paid-through date it was about (a PAY after that period was paid sends no link)."""
    since = now - rules.REPLY_WINDOW
    reminder = (
        await session.execute(
            select(
                col(Reminder.client_id), col(Reminder.vehicle_id), col(Reminder.period_end),
                col(Reminder.created_at),
            )
            .join(SmsMessage, col(SmsMessage.id) == col(Reminder.sms_id))
            .where(col(SmsMessage.to_e164) == e164, col(Reminder.created_at) >= since)
            .order_by(col(Reminder.created_at).desc(), col(Reminder.id).desc())
            .limit(1)
        )
    ).first()  # fmt: skip
    declined = (
        await session.execute(
            select(
                col(Payment.client_id), col(Payment.vehicle_id), col(Payment.summary_json),
                col(Payment.created_at),
            )
            .where(
                col(Payment.client_id).in_(client_ids), col(Payment.channel) == "autopay",
                col(Payment.status) == "failed", col(Payment.vehicle_id).is_not(None),
                col(Payment.created_at) >= since,
            )
            .order_by(col(Payment.created_at).desc(), col(Payment.id).desc())
            .limit(1)
        )
    ).first()  # fmt: skip
    prompts = []
    if reminder is not None:
        prompts.append((reminder[3], rules.Target(reminder[0], reminder[1]), reminder[2]))
    if declined is not None:
        period = InvoiceSummary.from_json(declined[2]).period
        if period is not None:  # AutoPay always buys a period
            about = rules.Target(declined[0], int(declined[1] or 0))
            prompts.append((declined[3], about, period.paid_through_before))
    if not prompts:
        return None
    _, target, period_end = max(prompts, key=lambda p: p[0])
    return target, period_end


async def answer_pay(
    session: AsyncSession, *, e164: str, word: str, now: datetime, ctx: ReplyContext
) -> str:
    """A PAY (or PAGAR) from `e164`: a fresh Secure Payment Link for the vehicle it is about
    (domain.reminders.choose_vehicle), through send_link's checks and limits; else a polite
    answer and no link. Returns what happened: link | unknown | opted_out | which | paid |
    not_accepted | limit | silent (over the day's texts: nothing sent)."""
    # Carriers forbid texting a number that opted out (replied STOP), save the STOP
    # confirmation itself: nothing at all is sent to it, neither a link nor an answer.
    if await sms.number_opted_out(session, e164):
        log.info("to=%s event=pay_from_opted_out_number", phone.mask(e164))
        return "opted_out"
    recipients = await texts.recipients_at(session, e164)
    if not recipients:
        language = "es" if word == "PAGAR" else "en"
        unknown = texts.Recipient("", "", language, "UTC", ctx.support_phone)
        sent = await _answer(
            session, to_e164=e164, why="unknown", to=unknown, client_id=None, now=now, ctx=ctx
        )
        return "unknown" if sent else "silent"
    vehicles = (
        await session.execute(
            select(col(Vehicle.id), col(Vehicle.client_id))
            .where(col(Vehicle.client_id).in_(recipients))
            .order_by(col(Vehicle.id))
        )
    ).all()
    prompted = await _last_prompt(session, e164, list(recipients), now)
    reminded = prompted[0] if prompted else None
    target = rules.choose_vehicle(
        reminded,
        [
            rules.Owner(cid, tuple(int(v or 0) for v, c in vehicles if c == cid))
            for cid in recipients
        ],
    )
    first_client = next(iter(recipients))
    if target is None:
        sent = await _answer(
            session,
            to_e164=e164,
            why="which",
            to=recipients[first_client],
            client_id=first_client,
            now=now,
            ctx=ctx,
        )
        return "which" if sent else "silent"
    to = recipients[target.client_id]
    vehicle = await session.get(Vehicle, target.vehicle_id)
    assert vehicle is not None
    period_end = prompted[1] if prompted is not None and target == reminded else None
    if rules.already_paid(vehicle.paid_through, period_end):
        sent = await _answer(
            session,
            to_e164=e164,
            why="paid",
            to=to,
            client_id=target.client_id,
            now=now,
            ctx=ctx,
            vehicle=vehicle.label,
            ends=short_date(vehicle.paid_through, to.language),
        )
        return "paid" if sent else "silent"
    why = "limit"
    try:
        asked = send_link.Asked(
            target.client_id, target.vehicle_id, vehicle.billing_cycle_days, e164
        )  # no staff, no expired link: a PAY reply
        link = await send_link.make(session, asked, ctx.texting, now)
    except PaymentsNotAccepted:
        why = "not_accepted"
    except (send_link.TooManyLinks, send_link.TooManyTexts):
        why = "limit"
    except send_link.OptedOut:  # opted out since the check above: still send nothing
        await session.rollback()
        return "opted_out"
    else:
        await session.commit()
        log.info(
            "link_id=%s client_id=%s to=%s event=link_requested_by_text",
            link.link.id,
            target.client_id,
            phone.mask(e164),
        )
        return "link"
    await session.rollback()
    sent = await _answer(
        session, to_e164=e164, why=why, to=to, client_id=target.client_id, now=now, ctx=ctx
    )
    return why if sent else "silent"
