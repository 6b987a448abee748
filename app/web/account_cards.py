"""My Account's Payment Methods tab: the cards on file, adding one, the default, removing one
(moving its AutoPay to another card). Refusals are app/web/outcomes.py's."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from app import i18n
from app.domain.errors import DomainError, GatewayError
from app.i18n import N_
from app.services import cards
from app.web import outcomes
from app.web.account_page import Tab, TabPage, gateway, refuse, speak
from app.web.account_tab import TabController, show_tab
from app.web.forms import Form, parse_id, read_form


def _saving_refused(message: str) -> str:
    """A processor's refusal while saving a card, in the reader's language: saving charges
    nothing, so "Nothing was charged." is left out."""
    said = i18n.gettext(message)
    return said.replace(i18n.gettext("Nothing was charged."), "").strip() or said


async def _cards(tab: TabPage, today: date) -> dict[str, Any]:
    return {"cards": await cards.list_cards(tab.db, tab.client_id, today), **tab.card_entry()}


def _done(what: str) -> Response[Any]:
    return Redirect(f"/account/payment/methods?done={what}", status_code=303)


class CardsController(TabController):
    """/account/payment/methods: the Payment Methods tab."""

    path = "/account/payment/methods"

    async def _refused(
        self, tab: TabPage, form: Form, exc: DomainError, field: str
    ) -> Response[Any]:
        """A refusal about one saved card, said next to it (`field`)."""
        status = refuse(form, exc, outcomes.Channel(fields={"saved_card": field}))
        return await tab.show("methods", _cards, form, status)

    @get("/", name="account_methods")
    async def methods(self, tab: Tab, done: FromQuery[str | None] = None) -> Response[Any]:
        return await show_tab(tab, "methods", _cards, done)

    @post("/", name="account_methods_add")
    async def add_card(self, request: Request[Any, Any, Any], tab: Tab) -> Response[Any]:
        speak(tab.me)
        form = await read_form(request)
        token = form.get("payment_method")
        if not token:
            form.error("card-entry", N_("Enter your card details."))
        if not form.ok:  # no card, or a field read_form refused (make_default too: a 400)
            return await tab.show("methods", _cards, form, 422)
        try:
            await cards.save_new(
                tab.db, gateway(request), client_id=tab.client_id, payment_method=token,
                now=tab.clock.now(), make_default=form.get("make_default") == "yes",
            )  # fmt: skip
        except GatewayError as exc:
            form.values.pop("payment_method", None)
            form.error("card-entry", _saving_refused(exc.message))
            return await tab.show("methods", _cards, form, 422)
        except DomainError as exc:  # another client's card reference posted as a new card: 404
            return await self._refused(tab, form, exc, "card-entry")
        return _done("card_added")

    @post("/{card_id:int}/default", name="account_methods_default")
    async def set_default(self, tab: Tab, card_id: FromPath[int]) -> Response[Any]:
        speak(tab.me)
        now = tab.clock.now()
        _, today = await tab.place()
        try:
            await cards.set_default(
                tab.db, client_id=tab.client_id, card_id=card_id, today=today, now=now
            )
        except DomainError as exc:
            return await self._refused(tab, Form(), exc, f"card-{card_id}")
        return _done("default_set")

    @post("/{card_id:int}/remove", name="account_methods_remove")
    async def remove_card(
        self, request: Request[Any, Any, Any], tab: Tab, card_id: FromPath[int]
    ) -> Response[Any]:
        speak(tab.me)
        form = await read_form(request)
        _, today = await tab.place()
        try:
            await cards.remove(
                tab.db, gateway(request), client_id=tab.client_id, card_id=card_id,
                today=today, now=tab.clock.now(),
                move_autopay_to=parse_id(form.get("move_autopay_to")),
            )  # fmt: skip
        except DomainError as exc:
            return await self._refused(tab, form, exc, f"move-{card_id}")
        return _done("card_removed")
