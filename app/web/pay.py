"""The Secure Payment page, /pay/{token}: a phone, a text message, ten minutes, one charge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from app import i18n
from app.domain import links, outcomes
from app.domain.errors import (
    CardDeclined,
    DomainError,
    GatewayError,
    InvalidPaymentMethod,
    OutcomeUnknown,
    StaleSummary,
)
from app.domain.phone import national
from app.services import pay_link, payments, send_link
from app.services.pay_link import LinkNotFound, LinkState
from app.services.summary import PaymentsNotAccepted
from app.store.models import Invoice, Payment
from app.web.deps import ClockDep, Db, SettingsDep, release_connection
from app.web.forms import Form, read_form
from app.web.render import render
from app.web.wallets import element_wallets

RECEIPT_WINDOW = timedelta(minutes=30)
ASK_AGAIN_AFTER = timedelta(seconds=3)
# Shown to the payer who left the bank's check unfinished (reconcile cancelled it).
ABANDONED = i18n.N_(
    "Your bank's check was not finished, so nothing was charged. Enter your card again."
)
# "Text me a new link" refused: what the payer reads, by the domain's reason.
RENEW_REFUSED: dict[str, str] = {
    "not_expired": i18n.N_(
        "A new link can only be texted from a link whose time ran out. This link was paid,"
        " cancelled or replaced, so no text was sent."
    ),
    "payments_not_accepted": i18n.N_(
        "Payments by link are not available for this account right now, so no text was sent."
    ),
    "opted_out": i18n.N_(
        "This phone number has opted out of our text messages, so no text was sent."
        " Reply START to our number to receive texts again."
    ),
    "limit": i18n.N_(
        "Too many texts or links were sent to this number recently, so no text was sent."
        " Try again later."
    ),
    "other": i18n.N_("A new link could not be texted right now, so no text was sent."),
}


def _about(settings: Any) -> dict[str, Any]:
    """What every pay page says about whose page it is: the company and its support number."""
    return {"company": settings.company_name, "support_phone": national(settings.support_phone)}


def _not_found(settings: Any) -> Response[Any]:
    return render("pay/not_found.html", status_code=404, **_about(settings))


def _ending(state: LinkState) -> str:
    """Where a renewed link went, for the payer: only the phone's last four digits."""
    return state.link.phone_e164[-4:]


def _renewed_page(
    state: LinkState, settings: Any, status_code: int, *, already: bool = False
) -> Response[Any]:
    return render(
        "pay/renewed.html",
        status_code=status_code,
        ending=_ending(state),
        already=already,
        **_about(settings),
    )


def _renew_refused(settings: Any, reason: str, status_code: int) -> Response[Any]:
    return render(
        "pay/renew_refused.html",
        status_code=status_code,
        message=RENEW_REFUSED[reason],
        **_about(settings),
    )


async def _ended_page(db: Db, state: LinkState, settings: Any) -> Response[Any]:
    """The page of a link that cannot be paid, offering "Text me a new link" where the domain
    allows it; a link the payer already renewed says where the new one went."""
    if state.link.renewed_by_link_id is not None:
        return _renewed_page(state, settings, 410)
    can_renew = state.status == "expired" and (
        await send_link.renewal_refusal(
            db, state.link, status=state.status, accepts_payments=state.location.accepts_payments
        )
        is None
    )
    return _final_page(state, settings, can_renew=can_renew)


def _final_page(state: LinkState, settings: Any, *, can_renew: bool = False) -> Response[Any]:
    """Pages for links that can no longer be paid: no personal details, no amounts. All but
    "paid" are 410 Gone: the link will never work again, whether its time ran out (expired),
    staff cancelled it, a newer link replaced it (superseded) or its text never arrived."""
    if state.status == "paid":
        return render("pay/paid.html", status_code=200, **_about(settings))
    if state.status == "locked":
        return render("pay/locked.html", status_code=410, **_about(settings))
    if state.status == "expired":
        count, unit = links.lifetime(state.link.created_at, state.link.expires_at)
        return render(
            "pay/expired.html",
            status_code=410,
            ttl_count=count,
            ttl_unit=unit,
            can_renew=can_renew,
            **_about(settings),
        )
    return render("pay/ended.html", status_code=410, status=state.status, **_about(settings))


def _page(
    state: LinkState, settings: Any, form: Form, status_code: int = 200, **extra: Any
) -> Response[Any]:
    return render(
        "pay/page.html",
        status_code=status_code,
        state=state,
        summary=state.summary,
        form=form,
        **_about(settings),
        gateway_name=settings.payments_gateway,
        stripe_publishable_key=settings.stripe_publishable_key,
        wallets=element_wallets(settings),
        amount_cents=state.summary.total_cents,
        declines_left=links.MAX_DECLINES - state.link.decline_count,
        **extra,
    )


def _confirming(state: LinkState, settings: Any, challenge_url: str | None = None) -> Response[Any]:
    """The payment's outcome is not known yet: never "nothing was charged", never a form."""
    return render(
        "pay/confirming.html",
        status_code=202,
        **_about(settings),
        amount_cents=state.summary.total_cents,
        challenge_url=challenge_url,
    )


def _challenge_url(settings: Any, token: str, payment: Payment) -> str | None:
    """Where the payer finishes 3-D Secure with the sandbox's bank page."""
    if settings.payments_gateway != "sandbox" or not payment.processor_ref:
        return None
    return f"/sandbox/challenge/{payment.processor_ref}?return_to=/pay/{token}"


class PayController(Controller):
    path = "/pay"

    async def _settle_claim(
        self, request: Request[Any, Any, Any], db: Db, clock: Any, settings: Any, state: LinkState
    ) -> Payment | None:
        """A payment holding the link: ask the processor what became of it (3-D Secure done or
        failed, an answer lost), so the page shows the truth. Returns it while unresolved."""
        claim = state.link.claim_payment_id
        payment = await db.get(Payment, claim) if claim else None
        if payment is None or payment.status not in outcomes.UNRESOLVED:
            return None
        if payment.processor_ref is None and clock.now() - payment.created_at < ASK_AGAIN_AFTER:
            return payment  # the answer was just lost: asking again at once tells nothing new
        await release_connection(db)
        try:
            await payments.resolve(
                request.app.state.sessionmaker,
                request.app.state.gateway,
                clock,
                payment.id or 0,
                company=settings.company_name,
            )
        except OutcomeUnknown:
            pass
        await db.refresh(payment)
        return payment if payment.status in outcomes.UNRESOLVED else None

    @get("/{token:str}", name="pay_page")
    async def page(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        token: FromPath[str],
    ) -> Response[Any]:
        try:
            state = await pay_link.find(db, token, clock.now())
        except LinkNotFound:
            return _not_found(settings)
        i18n.prefer(state.language)
        unresolved = await self._settle_claim(request, db, clock, settings, state)
        if unresolved is not None:
            if settings.payments_gateway == "stripe" and unresolved.processor_ref:
                try:  # 3-D Secure still to finish in this browser: hand it back to Stripe.js
                    result = await request.app.state.gateway.retrieve(unresolved.processor_ref)
                except GatewayError:
                    result = None
                if result is not None and result.status == "requires_action":
                    return _page(
                        state, settings, Form(), 200, next_action_secret=result.client_secret
                    )
            return _confirming(state, settings, _challenge_url(settings, token, unresolved))
        if state.link.claim_payment_id is not None:  # settled just now: read what it left
            state = await pay_link.find(db, token, clock.now())
        # The browser that paid and was left waiting (confirming, the bank's check) goes on to
        # its receipt, once; opening the paid link again later shows "already paid".
        waited = request.session.pop("pay_waiting", None) == state.link.id
        if (
            state.status == "paid"
            and waited
            and request.session.get("receipt_link") == state.link.id
        ):
            return Redirect(f"/pay/{token}/receipt", status_code=303)
        if state.status not in links.LIVE_STATUSES:
            return await _ended_page(db, state, settings)
        form = Form()
        attempt_id = request.session.pop("pay_attempt", None)
        attempt = await db.get(Payment, attempt_id) if isinstance(attempt_id, int) else None
        if attempt is not None and attempt.link_id == state.link.id and attempt.status == "failed":
            if attempt.failure_code == "abandoned":
                form.error("card", ABANDONED)
            else:
                form.error("card", attempt.failure_message or payments.NOT_CONFIRMED)
        await pay_link.mark_opened(db, state, clock.now())
        return _page(state, settings, form, 402 if form.errors else 200)

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
        i18n.prefer(state.language)
        form = await read_form(request)
        if form.get("action") == "renew":  # "Text me a new link", from the expired-link page
            return await self._renew(request, db, settings, state, token, now)
        if state.status not in links.LIVE_STATUSES:
            return await _ended_page(db, state, settings)
        payment_method = form.get("payment_method")
        if not payment_method:
            form.error("card", i18n.N_("Enter your card details."))
        if form.get("terms") != "accepted":
            form.error("terms", i18n.N_("Agree to the payment terms to continue."))
        if not form.ok:
            return _page(state, settings, form, 422)
        await release_connection(db)
        try:
            outcome = await pay_link.pay(
                request.app.state.sessionmaker,
                request.app.state.gateway,
                clock,
                state,
                payment_method,
                settings.company_name,
            )
        except payments.LinkNotPayable:
            fresh = await pay_link.find(db, token, clock.now())
            if fresh.status in links.LIVE_STATUSES:  # another attempt holds it right now
                return Redirect(f"/pay/{token}", status_code=303)
            return await _ended_page(db, fresh, settings)
        except StaleSummary:
            return render("pay/stale.html", status_code=409, **_about(settings))
        except payments.PaymentInProgress as exc:
            form.error("form", exc.message)
            return _page(await pay_link.find(db, token, now), settings, form, 409)
        except CardDeclined as exc:
            fresh = await pay_link.find(db, token, clock.now())
            if fresh.status == "locked":
                return await _ended_page(db, fresh, settings)
            form.error("card", exc.message)
            return _page(fresh, settings, form, 402)
        except InvalidPaymentMethod as exc:  # a card reference the processor cannot read
            form.error("card", exc.message)
            return _page(await pay_link.find(db, token, now), settings, form, 422)
        except GatewayError as exc:
            form.error("form", exc.message)
            return _page(await pay_link.find(db, token, now), settings, form, 503)
        request.session["receipt_link"] = state.link.id
        request.session["pay_attempt"] = outcome.payment_id
        request.session.pop("pay_waiting", None)
        if outcome.status not in outcomes.SETTLED:  # this browser waits for the outcome
            request.session["pay_waiting"] = state.link.id
        if outcome.status == "unknown":
            request.app.state.resolver.kick(outcome.payment_id)
        if outcome.status == "requires_action" and settings.payments_gateway == "stripe":
            return _page(state, settings, form, 200, next_action_secret=outcome.client_secret)
        if outcome.status in outcomes.SETTLED:
            return Redirect(f"/pay/{token}/receipt", status_code=303)
        payment = await db.get(Payment, outcome.payment_id)
        assert payment is not None
        if outcome.status == "requires_action":  # the sandbox's bank page
            url = _challenge_url(settings, token, payment)
            if url:
                return Redirect(url, status_code=303)
        if outcome.status == "processing":
            return render("pay/processing.html", status_code=202, **_about(settings))
        # Unknown: the page that says so comes from a GET, so a reload never resubmits the form.
        return Redirect(f"/pay/{token}", status_code=303)

    async def _renew(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Any,
        state: LinkState,
        token: str,
        now: Any,
    ) -> Response[Any]:
        """One tap: a fresh link to the number the expired one went to (the number comes from
        the link, never from the form). Then the page (a GET) says where it went."""
        try:
            await send_link.renew(
                db,
                link_id=state.link.id or 0,
                now=now,
                ttl_seconds=settings.link_ttl_seconds,
                base_url=settings.base_url,
                company=settings.company_name,
                box=request.app.state.box,
            )
        except send_link.RenewalRefused as exc:
            if exc.reason == "renewed":
                return _renewed_page(state, settings, 409, already=True)
            status_code = 403 if exc.reason in ("payments_not_accepted", "opted_out") else 409
            return _renew_refused(settings, exc.reason, status_code)
        except (send_link.TooManyLinks, send_link.TooManyTexts):
            return _renew_refused(settings, "limit", 429)
        except send_link.OptedOut:
            return _renew_refused(settings, "opted_out", 403)
        except PaymentsNotAccepted:
            return _renew_refused(settings, "payments_not_accepted", 403)
        except DomainError:
            return _renew_refused(settings, "other", 409)
        return Redirect(f"/pay/{token}", status_code=303)

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
        i18n.prefer(state.language)
        payment = await db.get(Payment, state.link.claim_payment_id or state.link.payment_id or 0)
        if payment is None or payment.processor_ref is None:
            return Redirect(f"/pay/{token}", status_code=303)
        await release_connection(db)
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
            return render("pay/processing.html", status_code=202, **_about(settings))
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
        i18n.prefer(state.language)
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
            return await _ended_page(db, state, settings)
        request.session.pop("pay_waiting", None)  # seen: opening the link later says "paid"
        payment = await db.get(Payment, link.payment_id)
        assert payment is not None
        invoice = await db.get(Invoice, payment.invoice_id) if payment.invoice_id else None
        return render(
            "pay/receipt.html",
            payment=payment,
            invoice=invoice,
            summary=state.summary,
            tz=state.location.timezone,
            **_about(settings),
        )
