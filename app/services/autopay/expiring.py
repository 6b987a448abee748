"""The daily run's warning: a card on file that will have expired by the vehicle's next AutoPay
date is texted once, a week before that date (domain.autopay.expiry_warning_due), in the
client's language, pointing at My Account. Once: a client texted about an expiring card within
WARNED_WITHIN is not texted again (a card expires once; one text names it for all its vehicles).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from app.domain.autopay import (
    EXPIRY_WARNING_DAYS,
    due_through,
    expiry_warning_due,
    next_charge_date,
)
from app.domain.periods import local_today
from app.services import sms, texts
from app.services.autopay import notices
from app.services.autopay.charging import Run
from app.store import autopay_queries as q
from app.store.autopay_queries import Due

log = logging.getLogger("monitorpay.autopay")

WARNED_WITHIN = timedelta(days=31)


AHEAD = timedelta(days=EXPIRY_WARNING_DAYS)


def _todays(run: Run) -> dict[int, date]:
    """Location id → its today, for the locations AutoPay charges at."""
    now = run.clock.now()
    return {
        loc_id: local_today(now, loc.timezone)
        for loc_id, loc in run.locations.items()
        if loc.accepts_payments
    }


def _first_per_client(run: Run, found: list[Due]) -> dict[int, tuple[Due, date]]:
    """Client id → the vehicle to name, with its next AutoPay date: the soonest, for those
    the domain says to warn now."""
    now = run.clock.now()
    out: dict[int, tuple[Due, date]] = {}
    for d in found:
        today = local_today(now, run.locations[d.location_id].timezone)
        charge_on = next_charge_date(d.paid_through, today)
        if not expiry_warning_due(d.card_exp_year, d.card_exp_month, charge_on, today):
            continue
        if d.client_id not in out or charge_on < out[d.client_id][1]:
            out[d.client_id] = (d, charge_on)
    return out


async def warn(run: Run) -> int:
    """Text each client whose AutoPay card expires before the next AutoPay date, once; the
    number texted."""
    todays = _todays(run)
    if not todays:
        return 0
    now = run.clock.now()
    # the paid-through dates whose next AutoPay date is within the coming week: (after, through]
    windows = {loc: (due_through(t), due_through(t + AHEAD)) for loc, t in todays.items()}
    async with run.maker() as s:
        found = await q.expiring_soon(
            s, windows, min(todays.values()), max(todays.values()) + AHEAD
        )
        due = _first_per_client(run, found)
        if not due:
            return 0
        warned = await q.warned_since(s, list(due), now - WARNED_WITHIN)
        sent = 0
        for client_id, (d, charge_on) in due.items():
            if client_id in warned or await sms.number_opted_out(s, d.phone_e164):
                continue
            body = notices.card_expiring(
                await texts.recipient(s, client_id), company=run.company, brand=d.card_brand,
                last4=d.card_last4, vehicle=d.vehicle, charge_on=charge_on,
                url=run.policy.account_url,
            )  # fmt: skip
            sms.queue(s, to_e164=d.phone_e164, body=body, kind=q.CARD_EXPIRING, now=now,
                      client_id=client_id)  # fmt: skip
            sent += 1
        await s.commit()
    log.info("event=autopay_card_expiring_texts sent=%s", sent)
    return sent
