"""My Account's AutoPay tab: each vehicle's plan, turning AutoPay on (or changing its card and
days) and off. Turning it on is also offered on Make a Payment, whose page then answers."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from app.domain.errors import DomainError, InvalidDays
from app.domain.periods import ALLOWED_DAYS, parse_days
from app.domain.summary import choice_value
from app.i18n import N_
from app.services import autopay, cards
from app.services.summary import NotFound
from app.web import outcomes
from app.web.account_page import (
    Tab,
    TabPage,
    back,
    not_found,
    refuse,
    speak,
)
from app.web.account_pay import make_page
from app.web.account_tab import TabController, show_tab
from app.web.forms import Form, parse_id, read_form

HERE = "/account/payment/autopay"
MAKE = "/account/payment"
CHOOSE_SAVED_CARD = N_(
    "Choose a saved card for AutoPay. To use a new card, save it under Payment Methods first, "
    "or pay with it and tick “Save this card”."
)


def _days(form: Form, field: str) -> int:
    try:
        return parse_days(form.get("days"))
    except InvalidDays as exc:
        form.error(field, exc.message)
        return 30


async def _plans(tab: TabPage, today: date) -> dict[str, Any]:
    plans = await autopay.for_client(tab.db, tab.client_id, today)
    location, _ = await tab.place()
    return {
        "plans": plans,
        # each vehicle's current period, as staff see it: a failed charge and its next try
        "status": await autopay.vehicles_view(
            tab.db,
            tab.client_id,
            [p.vehicle for p in plans],
            location.timezone,
            tab.settings.retry_days,
        ),
        "cards": await cards.list_cards(tab.db, tab.client_id, today),
        "allowed_days": ALLOWED_DAYS,
        "lead_days": autopay.LEAD_DAYS,
    }


class AutopayController(TabController):
    """/account/payment/autopay: the AutoPay tab."""

    path = HERE

    @get("/", name="account_autopay")
    async def autopay_tab(self, tab: Tab, done: FromQuery[str | None] = None) -> Response[Any]:
        return await show_tab(tab, "autopay", _plans, done)

    @post("/", name="account_autopay_enroll")
    async def autopay_enroll(self, request: Request[Any, Any, Any], tab: Tab) -> Response[Any]:
        """Enroll (or change card/days) in one step; also used by the Make a Payment promotion,
        whose page then answers (its card field is "card")."""
        speak(tab.me)
        form = await read_form(request)
        vehicle_id = parse_id(form.get("vehicle_id"))
        to = back(form.get("back"), HERE)
        if vehicle_id is None:
            raise NotFoundException(detail=N_("That vehicle was not found."))
        card_field = "card" if to == MAKE else f"card-{vehicle_id}"
        card_id = parse_id(form.get("card"))
        if card_id is None:
            form.error(card_field, CHOOSE_SAVED_CARD)
        days = _days(form, f"days-{vehicle_id}")
        status = 422
        if form.ok:
            try:
                await autopay.enroll(
                    tab.db,
                    client_id=tab.client_id,
                    vehicle_id=vehicle_id,
                    card_id=card_id or 0,
                    days=days,
                    now=tab.clock.now(),
                )
            except DomainError as exc:
                status = refuse(form, exc, outcomes.Channel(fields={"saved_card": card_field}))
            else:
                return _enrolled(to, vehicle_id)
        if to == MAKE:
            return await make_page(tab, vehicle_id, choice_value(days), form, status)
        return await tab.show("autopay", _plans, form, status)

    @post("/{vehicle_id:int}/cancel", name="account_autopay_cancel")
    async def autopay_cancel(self, tab: Tab, vehicle_id: FromPath[int]) -> Response[Any]:
        speak(tab.me)
        try:
            await autopay.cancel(
                tab.db, client_id=tab.client_id, vehicle_id=vehicle_id, now=tab.clock.now()
            )
        except NotFound as exc:
            raise not_found(exc) from exc
        return Redirect(f"{HERE}?done=autopay_off", status_code=303)


def _enrolled(to: str, vehicle_id: int) -> Response[Any]:
    query = {"done": "autopay_on"}
    if to == MAKE:
        query["vehicle_id"] = str(vehicle_id)
    return Redirect(f"{to}?{urlencode(query)}", status_code=303)
