"""Text-message bodies, in the client's language: templates/sms/*.txt, with the same formatting
as pages (money, clock times in the location's zone) and the Babel catalogs of app/i18n.py.

Every text says who sends it (the company), to whom (first name and last initial, so a relative
paying for someone can tell whose bill it is), and how to get help (the location's support
number) or stop texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import i18n
from app.domain import phone
from app.formatting import local_time, money
from app.services import sms
from app.store.models import Client, Location, Payment, PaymentLink, Vehicle

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "sms"


@dataclass(frozen=True)
class Recipient:
    """Whom a text is about, and how it is written for them."""

    first_name: str
    last_name: str
    language: str
    timezone: str
    support_phone: str

    @property
    def name(self) -> str:
        initial = self.last_name[:1].upper()
        return f"{self.first_name} {initial}." if initial else self.first_name


def _recipients() -> Any:
    """Each client's id and what a text to them needs (name, language, location's zone and
    support number)."""
    return select(
        col(Client.id),
        col(Client.first_name),
        col(Client.last_name),
        col(Client.language),
        col(Location.timezone),
        col(Location.support_phone),
    ).join(Location, col(Location.id) == col(Client.location_id))


async def recipient(session: AsyncSession, client_id: int) -> Recipient:
    row = (await session.execute(_recipients().where(col(Client.id) == client_id))).one()
    return Recipient(*row[1:])


async def recipients_at(session: AsyncSession, e164: str) -> dict[int, Recipient]:
    """The clients who have the number `e164`, by id, in id order."""
    rows = await session.execute(
        _recipients().where(col(Client.phone_e164) == e164).order_by(col(Client.id))
    )
    return {int(r[0] or 0): Recipient(*r[1:]) for r in rows}


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(  # noqa: S701 - plain text for SMS, never HTML
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=False
    )
    i18n.install(env)
    env.filters["money"] = money
    return env


def render_text(name: str, to: Recipient, **context: Any) -> str:
    """The text `name` for `to`, in their language, on one line."""
    with i18n.using(to.language):
        if isinstance(context.get("expires"), datetime):
            context["expires"] = local_time(context["expires"], to.timezone, "h:mm a zzz")
        body = (
            _env()
            .get_template(f"{name}.txt")
            .render(name=to.name, support=phone.national(to.support_phone), **context)
        )
    return " ".join(body.split())


async def text_payer(
    s: AsyncSession, payment: Payment, template: str, now: datetime, **context: Any
) -> None:
    """Text whoever is paying, in the client's language: the number the link went to, else the
    client's own phone; never a number that opted out."""
    to = None
    if payment.link_id is not None:
        link = await s.get(PaymentLink, payment.link_id)
        to = link.phone_e164 if link else None
    if to is None:
        client = await s.get(Client, payment.client_id)
        to = client.phone_e164 if client else None
    if to is None or await sms.number_opted_out(s, to):
        return
    vehicle = await s.get(Vehicle, payment.vehicle_id) if payment.vehicle_id else None
    sms.queue(
        s,
        to_e164=to,
        body=render_text(
            template,
            await recipient(s, payment.client_id),
            vehicle=vehicle.label if vehicle else "",
            **context,
        ),
        kind=template,
        now=now,
        client_id=payment.client_id,
        link_id=payment.link_id,
    )
