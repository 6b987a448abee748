"""My Account's Make a Payment tab: the page, its Payment Summary fragment, paying, and coming
back from the bank's 3-D Secure check. Refusals and outcomes are app/web/outcomes.py's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from app import i18n
from app.domain.errors import CardDeclined, DomainError, InvalidDays, StaleSummary
from app.domain.outcomes import UNRESOLVED
from app.domain.periods import ALLOWED_DAYS
from app.domain.summary import PAST_DUE_ONLY, choice_value, parse_choice
from app.i18n import N_
from app.services import payments, portal, summary
from app.services.payments import PaymentOutcome
from app.services.summary import NotFound
from app.web import outcomes
from app.web.account_page import (
    Tab,
    TabPage,
    gateway,
    not_found,
    notice_for,
    redirect,
    refuse,
    speak,
)
from app.web.account_tab import TabController
from app.web.deps import release_connection
from app.web.forms import Form, is_htmx, parse_id, read_form
from app.web.render import render
from app.web.wallets import element_wallets

VARY = {"Vary": "HX-Request"}
STILL_CONFIRMING = N_(
    "We're confirming your payment with your bank. Don't pay again: we'll text you the result, "
    "and Account Information shows it in a minute."
)
# What My Account says differently from the shared map: a card refused where the client chose
# it (a saved card, or the new card entry), with the client's own words.
MY_ACCOUNT = outcomes.Channel(
    fields={"saved_card": "card"},
    words={
        StaleSummary: N_(
            "Your account changed since this Payment Summary was shown, so nothing was "
            "charged. Check the updated Payment Summary below, then pay again."
        ),
        CardDeclined: N_("%(reason)s Nothing was charged."),
    },
)


# --- the page --------------------------------------------------------------------------------


def _choice(text: str | None) -> int | None:
    """14, 30 or PAST_DUE_ONLY from a link or form; None (anything else): the usual days."""
    try:
        return parse_choice(text) if text else None
    except InvalidDays:
        return None


async def make_page(
    tab: TabPage,
    vehicle_id: int | None,
    days_text: str | None,
    form: Form | None = None,
    status_code: int = 200,
    notice: str | None = None,
    **extra: Any,
) -> Response[Any]:
    """The Make a Payment tab for a vehicle (the first one if none) and a choice of days."""
    try:
        view = await portal.make_payment(
            tab.db, tab.client_id, vehicle_id, _choice(days_text), tab.clock.now()
        )
    except NotFound as exc:
        raise not_found(exc) from exc
    form = form or Form()
    snap = view.summary
    return await tab.render(
        "make", view.account.location, form, status_code, notice,
        vehicles=view.account.vehicles, vehicle=view.vehicle, days=view.days, summary=snap,
        allowed_days=ALLOWED_DAYS, past_due_only=PAST_DUE_ONLY,
        reviewed=snap.fingerprint if snap else "", covers=view.cover, cards=view.cards,
        chosen=form.get("card") or next((str(c.id) for c in view.cards if c.usable), "new"),
        enrolled=view.enrolled, wallets=element_wallets(tab.settings), headers=VARY,
        **tab.card_entry(), **extra,
    )  # fmt: skip


# --- paying ----------------------------------------------------------------------------------


def _pay_request(form: Form, client_id: int, vehicle_id: int) -> portal.PayRequest:
    """What the client asked to pay and with which card; what is missing is said by its field."""
    try:
        days = parse_choice(form.get("days"))
    except InvalidDays as exc:
        form.error("days", exc.message)
        days = 30
    choice = form.get("card")
    new = choice == "new"
    card_id = None if new else parse_id(choice)
    token = form.get("payment_method") or None
    if new and not token:
        form.error("card-entry", N_("Enter your card details."))
    elif not new and card_id is None:
        form.error("card", N_("Choose how you want to pay."))
    return portal.PayRequest(
        client_id=client_id,
        vehicle_id=vehicle_id,
        days=days,
        reviewed=form.get("reviewed"),
        card_id=card_id,
        new_payment_method=token if new else None,
        save_card=new and form.get("save_card") == "yes",
    )


def _sandbox_challenge(payment: Any) -> str:
    return (
        f"/sandbox/challenge/{payment.processor_ref}?return_to=/account/payment/return/{payment.id}"
    )


@dataclass
class MakePaymentAnswers:
    """The Make a Payment tab's answer to a refusal and to each step of app/web/outcomes.py."""

    request: Request[Any, Any, Any]
    tab: TabPage
    vehicle_id: int | None
    days: str  # the form's value: 14, 30 or past_due
    form: Form = field(default_factory=Form)
    outcome: PaymentOutcome | None = None

    async def page(self, status_code: int, **extra: Any) -> Response[Any]:
        return await make_page(
            self.tab, self.vehicle_id, self.days, self.form, status_code, **extra
        )

    @property
    def _payment_id(self) -> int:
        return self.outcome.payment_id if self.outcome else 0

    async def refused(self, exc: DomainError, *, saved_card: bool) -> Response[Any]:
        channel = MY_ACCOUNT.with_fields(card="card" if saved_card else "card-entry")
        status = refuse(self.form, exc, channel)
        self.form.values.pop("payment_method", None)  # a used token is never put back
        self.form.values.pop("reviewed", None)
        return await self.page(status)

    async def receipt(self) -> Response[Any]:
        number = self.outcome.invoice_number if self.outcome else None
        if not number:
            return await self.confirming()
        return redirect(self.request, f"/account?paid={number}")

    async def declined(self) -> Response[Any]:
        reason = i18n.gettext(payments.NOT_CONFIRMED)
        self.form.error("card-entry", N_("%(reason)s Nothing was charged."), reason=reason)
        return await self.page(402)

    async def bank_page(self) -> Response[Any]:
        # 3-D Secure on the sandbox bank's page, which comes back to /payment/return
        payment = await portal.own_payment(self.tab.db, self.tab.client_id, self._payment_id)
        return redirect(self.request, _sandbox_challenge(payment))

    async def bank_in_browser(self) -> Response[Any]:
        # 3-D Secure: the browser finishes it with the bank, then posts to /confirm.
        return await self.page(
            200,
            next_action_secret=self.outcome.client_secret if self.outcome else None,
            pending_payment=str(self._payment_id),
        )

    async def processing(self) -> Response[Any]:
        return await self.confirming()

    async def confirming(self) -> Response[Any]:
        self.form.values.pop("payment_method", None)
        return await self.page(202, confirming=i18n.gettext(STILL_CONFIRMING))


async def _own_vehicle(tab: TabPage, text: str) -> int:
    """One of the client's vehicles, by the form's id; anything else is the not-found page."""
    account = await summary.load_account(tab.db, tab.client_id)
    try:
        vehicle = portal.own_vehicle(account, parse_id(text) or -1)
    except NotFound as exc:
        raise not_found(exc) from exc
    return vehicle.id if vehicle and vehicle.id else 0


class MakePaymentController(TabController):
    """/account/payment: the Make a Payment tab."""

    path = "/account/payment"

    @get("/", name="account_payment")
    async def payment(
        self,
        tab: Tab,
        vehicle_id: FromQuery[str | None] = None,
        days: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Response[Any]:
        speak(tab.me)
        return await make_page(tab, parse_id(vehicle_id), days, notice=notice_for(done))

    @get("/summary", name="account_payment_summary")
    async def payment_summary(
        self,
        request: Request[Any, Any, Any],
        tab: Tab,
        vehicle_id: FromQuery[str | None] = None,
        days: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The Payment Summary for a vehicle and days: the fragment for htmx, else the page."""
        speak(tab.me)
        now = tab.clock.now()
        if not is_htmx(request):
            query = urlencode({"vehicle_id": vehicle_id or "", "days": days or ""})
            return Redirect(f"/account/payment?{query}", status_code=303)
        vid = parse_id(vehicle_id)
        if vid is None:
            raise NotFoundException(detail=N_("That vehicle was not found."))
        try:
            view = await portal.summary_view(tab.db, tab.client_id, vid, _choice(days), now)
        except NotFound as exc:
            raise not_found(exc) from exc
        assert view.summary is not None  # the vehicle is the client's
        return render(
            "account/_payment_summary.html",
            summary=view.summary,
            reviewed=view.summary.fingerprint,
            covers=view.cover,
            location=view.account.location,
            headers=VARY,
        )

    @post("/", name="account_pay")
    async def pay(self, request: Request[Any, Any, Any], tab: Tab) -> Response[Any]:
        speak(tab.me)
        form = await read_form(request)
        vehicle_id = await _own_vehicle(tab, form.get("vehicle_id"))
        req = _pay_request(form, tab.client_id, vehicle_id)
        answers = MakePaymentAnswers(request, tab, vehicle_id, choice_value(req.days), form)
        if not form.ok:
            return await answers.page(422)
        await release_connection(tab.db)
        try:
            outcome = await portal.pay(
                request.app.state.sessionmaker,
                gateway(request),
                tab.clock,
                req,
                tab.settings.company_name,
            )
        except DomainError as exc:
            return await answers.refused(exc, saved_card=req.card_id is not None)
        answers.outcome = outcome
        return await outcomes.follow(
            request, outcome, answers, gateway=tab.settings.payments_gateway
        )

    @post("/confirm", name="account_pay_confirm")
    async def pay_confirm(self, request: Request[Any, Any, Any], tab: Tab) -> Response[Any]:
        """After 3-D Secure in the browser (Stripe.js): ask the processor, apply or report."""
        speak(tab.me)
        form = await read_form(request)
        return await _after_bank(request, tab, parse_id(form.get("pending_payment")))

    @get("/return/{payment_id:int}", name="account_pay_return")
    async def pay_return(
        self, request: Request[Any, Any, Any], tab: Tab, payment_id: FromPath[int]
    ) -> Response[Any]:
        """Back from the sandbox bank's 3-D Secure page: ask the processor, apply or report.
        Asking changes nothing the processor has not already decided, so a GET is safe."""
        speak(tab.me)
        return await _after_bank(request, tab, payment_id)


async def _after_bank(
    request: Request[Any, Any, Any], tab: TabPage, payment_id: int | None
) -> Response[Any]:
    """What the processor says after the bank's check, answered as any payment's outcome."""
    try:
        payment = await portal.own_payment(tab.db, tab.client_id, payment_id)
    except NotFound:
        payment = None
    if payment is None or payment.processor_ref is None:
        raise NotFoundException(detail=N_("That payment was not found."))
    days = choice_value(portal.payment_days(payment))
    answers = MakePaymentAnswers(request, tab, payment.vehicle_id, days)
    status, secret = payment.status, None
    if payment.status in UNRESOLVED:
        await release_connection(tab.db)
        result = await payments.settle_from_processor(
            request.app.state.sessionmaker, gateway(request), tab.clock, payment.id or 0,
            payment.processor_ref, tab.settings.company_name,
        )  # fmt: skip
        await tab.db.refresh(payment)
        status, secret = payment.status, result.client_secret
        if result.status == "requires_action":
            status = "requires_action"
    outcome = await payments.outcome_of(tab.db, payment)
    answers.outcome = dataclasses.replace(outcome, client_secret=secret)
    return await outcomes.answer(
        answers, status, gateway=tab.settings.payments_gateway, client_secret=secret
    )
