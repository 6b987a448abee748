"""My Account: Account Information and the client's language; the Payment page's tabs are in
app/web/account_payment.py (the same controller, path and route names)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from app.services import cards, client_language, portal
from app.web.account_payment import PaymentTabs, notice_for, speak
from app.web.deps import ClockDep, Db, Me
from app.web.forms import read_form
from app.web.render import render


class AccountController(PaymentTabs, Controller):
    path = "/account"

    # --- Account Information -----------------------------------------------------------------

    @get("/", name="account_home")
    async def home(
        self,
        me: Me,
        db: Db,
        clock: ClockDep,
        paid: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Response[Any]:
        speak(me)
        view = await portal.overview(db, me.id or 0, clock.now())
        paid_invoice = next((i for i in view.invoices if paid and i.number == paid), None)
        promo = None
        if paid_invoice is not None and paid_invoice.vehicle_id is not None:
            # After paying: offer AutoPay for that vehicle with the default usable card.
            entry = next((a for a in view.autopay if a.vehicle.id == paid_invoice.vehicle_id), None)
            usable = [c for c in await cards.list_cards(db, me.id or 0, view.today) if c.usable]
            if (
                entry is not None
                and not entry.enrolled
                and usable
                and view.account.location.accepts_payments
            ):
                promo = {
                    "vehicle": entry.vehicle,
                    "card": usable[0],
                    "days": entry.vehicle.billing_cycle_days,
                }
        return render(
            "account/home.html",
            me=me,
            view=view,
            location=view.account.location,
            paid_invoice=paid_invoice,
            promo=promo,
            notice=notice_for(done),
            live_link=await portal.live_link(db, me.id or 0, clock.now()),
        )

    @post("/language", name="account_language")
    async def set_language(
        self, request: Request[Any, Any, Any], me: Me, db: Db, clock: ClockDep
    ) -> Response[Any]:
        """Account Information's "Language for texts and pages": a plain form, no script."""
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
            view = await portal.overview(db, me.id or 0, clock.now())
            return render(
                "account/home.html",
                status_code=422,
                me=me,
                view=view,
                location=view.account.location,
                paid_invoice=None,
                promo=None,
                notice=None,
                form=form,
                live_link=await portal.live_link(db, me.id or 0, clock.now()),
            )
        # The new language is the page's from now on: it replaces an earlier switch's choice.
        return Redirect(f"/account?done=language_set&lang={lang}", status_code=303)
