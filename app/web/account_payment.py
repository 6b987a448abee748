"""My Account's Payment page: the Make a Payment, Payment Methods and AutoPay tabs (route handlers
that AccountController in app/web/account.py takes on), and what every My Account page shares.
Every lookup is scoped to the signed-in client; another client's ids are a 404."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from app import i18n
from app.adapters.payments.port import PaymentGateway
from app.domain import outcomes
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    InvalidDays,
    InvalidPaymentMethod,
    StaleSummary,
)
from app.domain.periods import ALLOWED_DAYS, local_today, parse_days
from app.domain.phone import national
from app.domain.summary import (
    PAST_DUE_ONLY,
    InvoiceSummary,
    NothingPastDue,
    choice_value,
    parse_choice,
)
from app.i18n import N_
from app.services import autopay, cards, payments, portal, summary
from app.services.summary import NotFound, PaymentsNotAccepted
from app.store import reads
from app.store.models import Client, Payment
from app.web.deps import ClockDep, Db, Me, SettingsDep, release_connection
from app.web.forms import Form, is_htmx, parse_id, read_form
from app.web.render import render
from app.web.wallets import element_wallets

log = logging.getLogger("monitorpay.account")

log = logging.getLogger("monitorpay.account")

TABS = (
    ("make", N_("Make a Payment"), "/account/payment"),
    ("methods", N_("Payment Methods"), "/account/payment/methods"),
    ("autopay", N_("AutoPay"), "/account/payment/autopay"),
)
STILL_CONFIRMING = N_(
    "We're confirming your payment with your bank. Don't pay again: we'll text you the result, "
    "and Account Information shows it in a minute."
)
NOTICES = {
    "card_added": N_("Your card was saved."),
    "default_set": N_("Your default card was changed."),
    "card_removed": N_("The card was removed."),
    "autopay_on": N_("AutoPay is on. We will charge your card before each period ends."),
    "autopay_off": N_("AutoPay is off for that vehicle."),
    "language_set": N_("Your language was saved."),
}


def _gateway(request: Request[Any, Any, Any]) -> PaymentGateway:
    gateway: PaymentGateway = request.app.state.gateway
    return gateway


def not_found(exc: DomainError) -> NotFoundException:
    """The error page translates the detail (app.web.errors)."""
    return NotFoundException(detail=exc.message % exc.params if exc.params else exc.message)


def notice_for(done: str | None) -> str | None:
    """A ?done= notice, in the reader's language."""
    message = NOTICES.get(done or "")
    return i18n.gettext(message) if message else None


def speak(me: Client) -> None:
    """Pages of a signed-in client speak the client's language, unless the reader switched."""
    i18n.prefer(me.language)


def _back(target: str | None, default: str) -> str:
    """Only our own Payment page tabs and Account Information as redirect targets."""
    allowed = {"/account", *(path for _, _, path in TABS)}
    return target if target in allowed else default


def _redirect(request: Request[Any, Any, Any], target: str) -> Response[Any]:
    if is_htmx(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def _sandbox_challenge(payment: Payment) -> str:
    return (
        f"/sandbox/challenge/{payment.processor_ref}?return_to=/account/payment/return/{payment.id}"
    )


class PaymentTabs:
    """The Payment page's tabs, under AccountController's path (/account)."""

    # --- Make a Payment ----------------------------------------------------------------------

    async def _make_page(
        self,
        me: Client,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        vehicle_id: int | None,
        days_text: str | None,
        form: Form | None = None,
        status_code: int = 200,
        notice: str | None = None,
        **extra: Any,
    ) -> Response[Any]:
        now = clock.now()
        account = await summary.load_account(db, me.id or 0)
        today = local_today(now, account.location.timezone)
        form = form or Form()
        vehicle = _pick_vehicle(account.vehicles, vehicle_id)
        days = _pick_days(days_text, vehicle.billing_cycle_days if vehicle else 30)
        snap = None
        if vehicle is not None:
            days, snap = await _summary_for(db, me.id or 0, vehicle, days, now)
        card_views = await cards.list_cards(db, me.id or 0, today)
        plans = await autopay.for_client(db, me.id or 0, today)
        chosen = form.get("card") or next((str(c.id) for c in card_views if c.usable), "new")
        covers = (
            portal.cover(
                snap.period.end, vehicle.next_appointment, account.location.timezone, today
            )
            if snap is not None and snap.period is not None
            else None
        )
        return render(
            "account/payment_make.html",
            status_code=status_code,
            me=me,
            tab="make",
            tabs=TABS,
            location=account.location,
            vehicles=account.vehicles,
            vehicle=vehicle,
            days=days,
            allowed_days=ALLOWED_DAYS,
            past_due_only=PAST_DUE_ONLY,
            summary=snap,
            reviewed=snap.fingerprint if snap else "",
            covers=covers,
            live_link=await portal.live_link(db, me.id or 0, now),
            cards=card_views,
            chosen=chosen,
            form=form,
            notice=notice,
            enrolled=any(p.enrolled and vehicle and p.vehicle.id == vehicle.id for p in plans),
            gateway_name=settings.payments_gateway,
            stripe_publishable_key=settings.stripe_publishable_key,
            wallets=element_wallets(settings),
            support_phone=national(settings.support_phone),
            headers={"Vary": "HX-Request"},
            **extra,
        )

    @get("/payment", name="account_payment")
    async def payment(
        self,
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        vehicle_id: FromQuery[str | None] = None,
        days: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Response[Any]:
        speak(me)
        return await self._make_page(
            me, db, clock, settings, parse_id(vehicle_id), days, notice=notice_for(done)
        )

    @get("/payment/summary", name="account_payment_summary")
    async def payment_summary(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        vehicle_id: FromQuery[str | None] = None,
        days: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The Payment Summary for a vehicle and days: the fragment for htmx, else the page."""
        speak(me)
        if not is_htmx(request):
            query = urlencode({"vehicle_id": vehicle_id or "", "days": days or ""})
            return Redirect(f"/account/payment?{query}", status_code=303)
        account = await summary.load_account(db, me.id or 0)
        vid = parse_id(vehicle_id)
        if vid is None or not any(v.id == vid for v in account.vehicles):
            raise NotFoundException(detail=N_("That vehicle was not found."))
        vehicle = _pick_vehicle(account.vehicles, vid)
        assert vehicle is not None
        now = clock.now()
        _, snap = await _summary_for(
            db, me.id or 0, vehicle, _pick_days(days, vehicle.billing_cycle_days), now
        )
        tz = account.location.timezone
        return render(
            "account/_payment_summary.html",
            summary=snap,
            reviewed=snap.fingerprint,
            covers=(
                portal.cover(snap.period.end, vehicle.next_appointment, tz, local_today(now, tz))
                if snap.period is not None
                else None
            ),
            location=account.location,
            headers={"Vary": "HX-Request"},
        )

    @post("/payment", name="account_pay")
    async def pay(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
    ) -> Response[Any]:
        speak(me)
        form = await read_form(request)
        client_id = me.id or 0
        vehicle_id = parse_id(form.get("vehicle_id"))
        account = await summary.load_account(db, client_id)
        if vehicle_id is None or not any(v.id == vehicle_id for v in account.vehicles):
            raise NotFoundException(detail=N_("That vehicle was not found."))
        try:
            days = parse_choice(form.get("days"))
        except InvalidDays as exc:
            form.error("days", exc.message)
            days = 30
        choice = form.get("card")
        card_id = parse_id(choice) if choice != "new" else None
        token = form.get("payment_method") or None
        if choice == "new":
            if not token:
                form.error("card-entry", N_("Enter your card details."))
        elif card_id is None:
            form.error("card", N_("Choose how you want to pay."))
        if not form.ok:
            return await self._make_page(
                me, db, clock, settings, vehicle_id, choice_value(days), form, 422
            )
        req = portal.PayRequest(
            client_id=client_id,
            vehicle_id=vehicle_id,
            days=days,
            reviewed=form.get("reviewed"),
            card_id=card_id,
            new_payment_method=token if choice == "new" else None,
            save_card=choice == "new" and form.get("save_card") == "yes",
        )
        status = 200
        await release_connection(db)
        try:
            outcome = await portal.pay(
                request.app.state.sessionmaker, _gateway(request), clock, req, settings.company_name
            )
        except NotFound as exc:
            raise not_found(exc) from exc
        except NothingPastDue as exc:  # paid meanwhile: nothing past due to pay on its own
            form.error("days", exc.message)
            status = 409
        except StaleSummary:  # ours (StaleQuote) or the payment core's: the client's words
            form.error("form", portal.StaleQuote.message)
            status = 409
        except PaymentsNotAccepted as exc:
            form.error("form", exc.message)
            status = 409
        except cards.CardExpired as exc:
            form.error("card", exc.message)
            status = 422
        except payments.PaymentInProgress as exc:
            form.error("form", exc.message)
            status = 409
        except CardDeclined as exc:
            form.error(
                "card" if card_id else "card-entry",
                N_("%(reason)s Nothing was charged."),
                reason=i18n.gettext(exc.message),
            )
            status = 402
        except InvalidPaymentMethod as exc:  # a token nobody's card entry made: the form's fault
            form.error("card" if card_id else "card-entry", exc.message)
            status = 422
        except GatewayError as exc:
            form.error("form", exc.message)
            status = 503
        else:
            if outcome.status == "succeeded" and outcome.invoice_number:
                return _redirect(request, f"/account?paid={outcome.invoice_number}")
            if outcome.status == "requires_action" and settings.payments_gateway == "sandbox":
                # 3-D Secure on the sandbox bank's page, which comes back to /payment/return
                pending = await db.get(Payment, outcome.payment_id)
                assert pending is not None
                return _redirect(request, _sandbox_challenge(pending))
            if outcome.status == "requires_action" and outcome.client_secret:
                # 3-D Secure: the browser finishes it with the bank, then posts to /confirm.
                return await self._make_page(
                    me, db, clock, settings, vehicle_id, choice_value(days), form, 200,
                    next_action_secret=outcome.client_secret,
                    pending_payment=str(outcome.payment_id),
                )  # fmt: skip
            if outcome.status == "unknown":
                request.app.state.resolver.kick(outcome.payment_id)
            form.values.pop("payment_method", None)
            return await self._make_page(
                me, db, clock, settings, vehicle_id, choice_value(days), form, 202,
                confirming=i18n.gettext(STILL_CONFIRMING),
            )  # fmt: skip
        form.values.pop("payment_method", None)  # a used token is never put back in the page
        form.values.pop("reviewed", None)
        return await self._make_page(
            me, db, clock, settings, vehicle_id, choice_value(days), form, status
        )

    @post("/payment/confirm", name="account_pay_confirm")
    async def pay_confirm(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
    ) -> Response[Any]:
        """After 3-D Secure in the browser (Stripe.js): ask the processor, apply or report."""
        speak(me)
        form = await read_form(request)
        pid = parse_id(form.get("pending_payment"))
        return await self._after_bank(request, me, db, clock, settings, pid)

    @get("/payment/return/{payment_id:int}", name="account_pay_return")
    async def pay_return(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        payment_id: FromPath[int],
    ) -> Response[Any]:
        """Back from the sandbox bank's 3-D Secure page: ask the processor, apply or report.
        Asking changes nothing the processor has not already decided, so a GET is safe."""
        speak(me)
        return await self._after_bank(request, me, db, clock, settings, payment_id)

    async def _after_bank(
        self,
        request: Request[Any, Any, Any],
        me: Client,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        payment_id: int | None,
    ) -> Response[Any]:
        payment = await db.get(Payment, payment_id) if payment_id else None
        if payment is None or payment.client_id != me.id or payment.processor_ref is None:
            raise NotFoundException(detail=N_("That payment was not found."))
        vehicle_id = payment.vehicle_id
        if payment.status in outcomes.UNRESOLVED:
            await release_connection(db)
            result = await payments.settle_from_processor(
                request.app.state.sessionmaker, _gateway(request), clock, payment.id or 0,
                payment.processor_ref, settings.company_name,
            )  # fmt: skip
            if result.status == "requires_action":
                if settings.payments_gateway == "sandbox":
                    return Redirect(_sandbox_challenge(payment), status_code=303)
                return await self._make_page(
                    me, db, clock, settings, vehicle_id, choice_value(payment_days(payment)), Form(), 200,
                    next_action_secret=result.client_secret,
                    pending_payment=str(payment.id),
                )  # fmt: skip
            await db.refresh(payment)
        if payment.status in outcomes.SETTLED:
            outcome = await payments.outcome_of(db, payment)
            return Redirect(f"/account?paid={outcome.invoice_number}", status_code=303)
        form = Form()
        if payment.status == "failed":
            form.error(
                "card-entry",
                N_("%(reason)s Nothing was charged."),
                reason=i18n.gettext(payments.NOT_CONFIRMED),
            )
            return await self._make_page(
                me, db, clock, settings, vehicle_id, choice_value(payment_days(payment)), form, 402
            )
        return await self._make_page(
            me, db, clock, settings, vehicle_id, choice_value(payment_days(payment)), form, 202,
            confirming=i18n.gettext(STILL_CONFIRMING),
        )  # fmt: skip

    # --- Payment Methods ---------------------------------------------------------------------

    async def _methods_page(
        self,
        me: Client,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        form: Form | None = None,
        status_code: int = 200,
        notice: str | None = None,
    ) -> Response[Any]:
        location = await reads.location(db, me.location_id)
        today = local_today(clock.now(), location.timezone)
        return render(
            "account/payment_methods.html",
            status_code=status_code,
            me=me,
            tab="methods",
            tabs=TABS,
            location=location,
            cards=await cards.list_cards(db, me.id or 0, today),
            form=form or Form(),
            notice=notice,
            live_link=await portal.live_link(db, me.id or 0, clock.now()),
            gateway_name=settings.payments_gateway,
            stripe_publishable_key=settings.stripe_publishable_key,
            support_phone=national(settings.support_phone),
        )

    @get("/payment/methods", name="account_methods")
    async def methods(
        self,
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        done: FromQuery[str | None] = None,
    ) -> Response[Any]:
        speak(me)
        return await self._methods_page(me, db, clock, settings, notice=notice_for(done))

    @post("/payment/methods", name="account_methods_add")
    async def add_card(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
    ) -> Response[Any]:
        speak(me)
        form = await read_form(request)
        token = form.get("payment_method")
        if not token:
            form.error("card-entry", N_("Enter your card details."))
            return await self._methods_page(me, db, clock, settings, form, 422)
        try:
            await cards.save_new(
                db,
                _gateway(request),
                client_id=me.id or 0,
                payment_method=token,
                now=clock.now(),
                make_default=form.get("make_default") == "yes",
            )
        except NotFound as exc:  # another client's card reference posted as a new card
            raise not_found(exc) from exc
        except GatewayError as exc:
            form.values.pop("payment_method", None)
            said = i18n.gettext(exc.message)  # saving a card charges nothing: don't say so
            form.error(
                "card-entry", said.replace(i18n.gettext("Nothing was charged."), "").strip() or said
            )
            return await self._methods_page(me, db, clock, settings, form, 422)
        return Redirect("/account/payment/methods?done=card_added", status_code=303)

    @post("/payment/methods/{card_id:int}/default", name="account_methods_default")
    async def set_default(
        self, me: Me, db: Db, clock: ClockDep, settings: SettingsDep, card_id: FromPath[int]
    ) -> Response[Any]:
        speak(me)
        now = clock.now()
        today = await portal.today_for(db, me.location_id, now)
        try:
            await cards.set_default(db, client_id=me.id or 0, card_id=card_id, today=today, now=now)
        except NotFound as exc:
            raise not_found(exc) from exc
        except cards.CardExpired as exc:
            form = Form()
            form.error(f"card-{card_id}", exc.message)
            return await self._methods_page(me, db, clock, settings, form, 422)
        return Redirect("/account/payment/methods?done=default_set", status_code=303)

    @post("/payment/methods/{card_id:int}/remove", name="account_methods_remove")
    async def remove_card(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        card_id: FromPath[int],
    ) -> Response[Any]:
        speak(me)
        form = await read_form(request)
        now = clock.now()
        today = await portal.today_for(db, me.location_id, now)
        try:
            await cards.remove(
                db,
                _gateway(request),
                client_id=me.id or 0,
                card_id=card_id,
                today=today,
                now=now,
                move_autopay_to=parse_id(form.get("move_autopay_to")),
            )
        except NotFound as exc:
            raise not_found(exc) from exc
        except (cards.CardInUse, cards.CardExpired) as exc:
            form.error(f"move-{card_id}", exc.message, **exc.params)
            return await self._methods_page(me, db, clock, settings, form, 422)
        return Redirect("/account/payment/methods?done=card_removed", status_code=303)

    # --- AutoPay -----------------------------------------------------------------------------

    async def _autopay_page(
        self,
        me: Client,
        db: Db,
        clock: ClockDep,
        form: Form | None = None,
        status_code: int = 200,
        notice: str | None = None,
    ) -> Response[Any]:
        location = await reads.location(db, me.location_id)
        today = local_today(clock.now(), location.timezone)
        return render(
            "account/payment_autopay.html",
            status_code=status_code,
            me=me,
            tab="autopay",
            tabs=TABS,
            location=location,
            plans=await autopay.for_client(db, me.id or 0, today),
            cards=await cards.list_cards(db, me.id or 0, today),
            allowed_days=ALLOWED_DAYS,
            form=form or Form(),
            notice=notice,
            live_link=await portal.live_link(db, me.id or 0, clock.now()),
            lead_days=autopay.LEAD_DAYS,
        )

    @get("/payment/autopay", name="account_autopay")
    async def autopay_tab(
        self, me: Me, db: Db, clock: ClockDep, done: FromQuery[str | None] = None
    ) -> Response[Any]:
        speak(me)
        return await self._autopay_page(me, db, clock, notice=notice_for(done))

    @post("/payment/autopay", name="account_autopay_enroll")
    async def autopay_enroll(
        self,
        request: Request[Any, Any, Any],
        me: Me,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
    ) -> Response[Any]:
        """Enroll (or change card/days) in one step; also used by the Make a Payment promotion."""
        speak(me)
        form = await read_form(request)
        vehicle_id = parse_id(form.get("vehicle_id"))
        back = _back(form.get("back"), "/account/payment/autopay")
        if vehicle_id is None:
            raise NotFoundException(detail=N_("That vehicle was not found."))
        suffix = f"-{vehicle_id}"
        card_id = parse_id(form.get("card"))
        if card_id is None:
            form.error(
                "card" if back == "/account/payment" else f"card{suffix}",
                N_(
                    "Choose a saved card for AutoPay. To use a new card, save it under Payment "
                    "Methods first, or pay with it and tick “Save this card”."
                ),
            )
        try:
            days = parse_days(form.get("days"))
        except InvalidDays as exc:
            form.error(f"days{suffix}", exc.message)
            days = 30
        if form.ok:
            try:
                await autopay.enroll(
                    db,
                    client_id=me.id or 0,
                    vehicle_id=vehicle_id,
                    card_id=card_id or 0,
                    days=days,
                    now=clock.now(),
                )
            except NotFound as exc:
                raise not_found(exc) from exc
            except cards.CardExpired as exc:
                form.error("card" if back == "/account/payment" else f"card{suffix}", exc.message)
            except PaymentsNotAccepted as exc:
                form.error("form", exc.message)
            else:
                query = {"done": "autopay_on"}
                if back == "/account/payment":
                    query["vehicle_id"] = str(vehicle_id)
                return Redirect(f"{back}?{urlencode(query)}", status_code=303)
        if back == "/account/payment":
            return await self._make_page(
                me, db, clock, settings, vehicle_id, choice_value(days), form, 422
            )
        return await self._autopay_page(me, db, clock, form, 422)

    @post("/payment/autopay/{vehicle_id:int}/cancel", name="account_autopay_cancel")
    async def autopay_cancel(
        self, me: Me, db: Db, clock: ClockDep, vehicle_id: FromPath[int]
    ) -> Response[Any]:
        speak(me)
        try:
            await autopay.cancel(db, client_id=me.id or 0, vehicle_id=vehicle_id, now=clock.now())
        except NotFound as exc:
            raise not_found(exc) from exc
        return Redirect("/account/payment/autopay?done=autopay_off", status_code=303)


def payment_days(payment: Payment) -> int:
    try:
        days = json.loads(payment.summary_json).get("days")
        return 30 if days is None else int(days)
    except (ValueError, AttributeError, TypeError):
        return 30


def _pick_vehicle(vehicles: list[Any], vehicle_id: int | None) -> Any:
    if vehicle_id is not None:
        for v in vehicles:
            if v.id == vehicle_id:
                return v
        raise NotFoundException(detail=N_("That vehicle was not found."))
    return vehicles[0] if vehicles else None


def _pick_days(text: str | None, default: int) -> int:
    """14, 30 or PAST_DUE_ONLY from a link or form; anything else is the vehicle's usual days."""
    try:
        return parse_choice(text) if text else default
    except InvalidDays:
        return default


async def _summary_for(
    db: Any, client_id: int, vehicle: Any, days: int, now: Any
) -> tuple[int, InvoiceSummary]:
    """The summary for the choice, or for the vehicle's usual days when the past due balance
    only was asked for and nothing is past due (any more)."""
    try:
        snap = await summary.compute(
            db, client_id=client_id, vehicle_id=vehicle.id or 0, days=days, now=now
        )
    except NothingPastDue:
        days = vehicle.billing_cycle_days
        snap = await summary.compute(
            db, client_id=client_id, vehicle_id=vehicle.id or 0, days=days, now=now
        )
    return days, snap
