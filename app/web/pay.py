"""The Secure Payment page, /pay/{token}: a phone, a text message, ten minutes, one charge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from app.domain import links
from app.domain.errors import CardDeclined, GatewayError, StaleSummary
from app.domain.phone import national
from app.services import pay_link, payments
from app.services.pay_link import LinkNotFound, LinkState
from app.store.models import Invoice, Payment
from app.web.deps import ClockDep, Db, SettingsDep
from app.web.forms import Form, read_form
from app.web.render import render

RECEIPT_WINDOW = timedelta(minutes=30)


def _support(settings: Any) -> str:
    return national(settings.support_phone)


def _not_found(settings: Any) -> Response[Any]:
    return render("pay/not_found.html", status_code=404, support_phone=_support(settings))


def _final_page(state: LinkState, settings: Any) -> Response[Any]:
    """Pages for links that can no longer be paid: no personal details, no amounts."""
    if state.status == "paid":
        return render("pay/paid.html", status_code=200, support_phone=_support(settings))
    if state.status == "locked":
        return render("pay/locked.html", status_code=410, support_phone=_support(settings))
    return render(
        "pay/expired.html",
        status_code=410,
        status=state.status,
        ttl_minutes=max(1, settings.link_ttl_seconds // 60),
        support_phone=_support(settings),
    )


def _page(
    state: LinkState, settings: Any, form: Form, status_code: int = 200, **extra: Any
) -> Response[Any]:
    return render(
        "pay/page.html",
        status_code=status_code,
        state=state,
        summary=state.summary,
        form=form,
        support_phone=_support(settings),
        gateway_name=settings.payments_gateway,
        stripe_publishable_key=settings.stripe_publishable_key,
        amount_cents=state.summary.total_cents,
        declines_left=links.MAX_DECLINES - state.link.decline_count,
        **extra,
    )


class PayController(Controller):
    path = "/pay"

    @get("/{token:str}", name="pay_page")
    async def page(
        self, db: Db, clock: ClockDep, settings: SettingsDep, token: FromPath[str]
    ) -> Response[Any]:
        now = clock.now()
        try:
            state = await pay_link.find(db, token, now)
        except LinkNotFound:
            return _not_found(settings)
        if state.status not in links.LIVE_STATUSES:
            return _final_page(state, settings)
        await pay_link.mark_opened(db, state, now)
        return _page(state, settings, Form())

    @post("/{token:str}", name="pay_submit")
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        token: FromPath[str],
    ) -> Response[Any]:
        now = clock.now()
        try:
            state = await pay_link.find(db, token, now)
        except LinkNotFound:
            return _not_found(settings)
        if state.status not in links.LIVE_STATUSES:
            return _final_page(state, settings)
        form = await read_form(request)
        payment_method = form.get("payment_method")
        if not payment_method:
            form.error("card", "Enter your card details.")
        if form.get("terms") != "accepted":
            form.error("terms", "Agree to the payment terms to continue.")
        if not form.ok:
            return _page(state, settings, form, 422)
        gateway = request.app.state.gateway
        try:
            outcome = await pay_link.pay(
                request.app.state.sessionmaker,
                gateway,
                clock,
                state,
                payment_method,
                settings.company_name,
            )
        except payments.LinkNotPayable:
            fresh = await pay_link.find(db, token, clock.now())
            if fresh.status in links.LIVE_STATUSES:  # another attempt holds it right now
                form.error("form", "A payment for this link is already being processed. "
                           "Wait a minute, then reload this page; do not pay twice.")  # fmt: skip
                return _page(fresh, settings, form, 409)
            return _final_page(fresh, settings)
        except StaleSummary:
            return render("pay/stale.html", status_code=409, support_phone=_support(settings))
        except payments.PaymentInProgress as exc:
            form.error("form", exc.message)
            return _page(await pay_link.find(db, token, now), settings, form, 409)
        except CardDeclined as exc:
            fresh = await pay_link.find(db, token, clock.now())
            if fresh.status == "locked":
                return _final_page(fresh, settings)
            form.error("card", exc.message)
            return _page(fresh, settings, form, 402)
        except GatewayError as exc:
            form.error("form", exc.message)
            return _page(await pay_link.find(db, token, now), settings, form, 503)
        if outcome.status == "requires_action":
            return _page(state, settings, form, 200, next_action_secret=outcome.client_secret)
        request.session["receipt_link"] = state.link.id
        return Redirect(f"/pay/{token}/receipt", status_code=303)

    @post("/{token:str}/confirm", name="pay_confirm")
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        token: FromPath[str],
    ) -> Response[Any]:
        """After 3-D Secure in the browser: ask the processor, apply if it succeeded."""
        try:
            state = await pay_link.find(db, token, clock.now())
        except LinkNotFound:
            return _not_found(settings)
        if state.link.claim_payment_id is None:
            return (
                _final_page(state, settings)
                if state.status != "opened"
                else _page(state, settings, Form())
            )
        payment = await db.get(Payment, state.link.claim_payment_id)
        if payment is None or payment.processor_ref is None:
            return _page(state, settings, Form(), 409)
        result = await payments.settle_from_processor(
            request.app.state.sessionmaker,
            request.app.state.gateway,
            clock,
            payment.id or 0,
            payment.processor_ref,
            settings.company_name,
        )
        if result.status == "processing":
            # The bank accepted; the money is on its way. The webhook finishes it: never fail it.
            return render("pay/processing.html", status_code=202, support_phone=_support(settings))
        if result.status == "requires_action":
            return _page(state, settings, Form(), 200, next_action_secret=result.client_secret)
        if result.status == "succeeded":
            request.session["receipt_link"] = state.link.id
            return Redirect(f"/pay/{token}/receipt", status_code=303)
        form = Form()
        form.error("card", payments.NOT_CONFIRMED)
        return _page(await pay_link.find(db, token, clock.now()), settings, form, 402)

    @get("/{token:str}/receipt", name="pay_receipt")
    async def receipt(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        token: FromPath[str],
    ) -> Response[Any]:
        now = clock.now()
        try:
            state = await pay_link.find(db, token, now)
        except LinkNotFound:
            return _not_found(settings)
        link = state.link
        # The receipt is for the browser that paid, shortly after paying; anyone else opening the
        # link sees only "already paid".
        if (
            state.status != "paid"
            or request.session.get("receipt_link") != link.id
            or link.paid_at is None
            or now - link.paid_at > RECEIPT_WINDOW
            or link.payment_id is None
        ):
            if state.status in links.LIVE_STATUSES:
                return Redirect(f"/pay/{token}", status_code=303)
            return _final_page(state, settings)
        payment = await db.get(Payment, link.payment_id)
        assert payment is not None
        invoice = await db.get(Invoice, payment.invoice_id) if payment.invoice_id else None
        return render(
            "pay/receipt.html",
            payment=payment,
            invoice=invoice,
            summary=state.summary,
            tz=state.location.timezone,
            support_phone=_support(settings),
        )
