"""My Account: Account Information and the client's language. The Payment page's tabs are
controllers of their own, sharing app/web/account_page.py: Make a Payment (account_pay.py),
Payment Methods (account_cards.py) and AutoPay (account_autopay.py)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from app.services import cards, client_language, portal
from app.web.account_autopay import AutopayController
from app.web.account_cards import CardsController
from app.web.account_page import notice_for, speak
from app.web.account_pay import MakePaymentController
from app.web.deps import Db, Me, clock_of, settings_of
from app.web.forms import Form, read_form
from app.web.render import render


async def _promo(db: Db, me: Me, view: portal.Overview, paid_invoice: Any) -> dict[str, Any] | None:
    """After paying: offer AutoPay for that vehicle with the default usable card."""
    if paid_invoice is None or paid_invoice.vehicle_id is None:
        return None
    entry = next((a for a in view.autopay if a.vehicle.id == paid_invoice.vehicle_id), None)
    if entry is None or entry.enrolled or not view.account.location.accepts_payments:
        return None
    usable = [c for c in await cards.list_cards(db, me.id or 0, view.today) if c.usable]
    if not usable:
        return None
    return {"vehicle": entry.vehicle, "card": usable[0], "days": entry.vehicle.billing_cycle_days}


async def _home(
    db: Db, me: Me, request: Request[Any, Any, Any], *, paid: str | None = None,
    notice: str | None = None, form: Form | None = None, status_code: int = 200,
) -> Response[Any]:  # fmt: skip
    """Account Information; after paying (`paid`: the invoice number) it highlights it."""
    clock = clock_of(request)
    view = await portal.overview(
        db, me.id or 0, clock.now(), retry_days=settings_of(request).retry_days
    )
    paid_invoice = next((i for i in view.invoices if paid and i.number == paid), None)
    return render(
        "account/home.html", status_code=status_code, me=me, view=view,
        location=view.account.location, paid_invoice=paid_invoice,
        promo=await _promo(db, me, view, paid_invoice), notice=notice, form=form,
        live_link=await portal.live_link(db, me.id or 0, clock.now()),
    )  # fmt: skip


class AccountController(Controller):
    path = "/account"

    @get("/", name="account_home")
    async def home(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        paid: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Response[Any]:
        speak(me)
        return await _home(db, me, request, paid=paid, notice=notice_for(done))

    @post("/language", name="account_language")
    async def set_language(self, request: Request[Any, Any, Any], me: Me, db: Db) -> Response[Any]:
        """Account Information's "Language for texts and pages": a plain form, no script."""
        clock = clock_of(request)
        form = await read_form(request)
        try:
            lang = await client_language.set_language(
                db,
                client_id=me.id or 0,
                language=form.get("language"),
                actor_type="client",
                actor_id=me.id,
                now=clock.now(),
            )
        except client_language.UnknownLanguage as exc:
            speak(me)
            form.error("language", exc.message)
            return await _home(db, me, request, form=form, status_code=422)
        # The new language is the page's from now on: it replaces an earlier switch's choice.
        return Redirect(f"/account?done=language_set&lang={lang}", status_code=303)


# Every controller of My Account, for the app's routes.
CONTROLLERS = (AccountController, MakePaymentController, CardsController, AutopayController)
