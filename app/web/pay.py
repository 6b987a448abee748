"""The Secure Payment page, /pay/{token}: a phone, a text message, ten minutes, one charge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect

from app import i18n
from app.domain import links
from app.domain.errors import DomainError, GatewayError, OutcomeUnknown, StaleSummary
from app.domain.outcomes import SETTLED, UNRESOLVED
from app.domain.phone import national
from app.services import pay_link, payments, send_link
from app.services.pay_link import LinkNotFound, LinkState, Payment
from app.services.payments import PaymentOutcome
from app.services.summary import PaymentsNotAccepted
from app.web import outcomes
from app.web.deps import Db, clock_of, connection_gone, release_connection, settings_of
from app.web.forms import Form, read_form
from app.web.render import render
from app.web.wallets import element_wallets

# What the pay link says differently from the shared map (app/web/outcomes.py): a summary that
# moved is a page of its own, not a message on the form.
PAY_LINK = outcomes.Channel(pages={StaleSummary: "pay/stale.html"})
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


def _not_found(request: Request[Any, Any, Any], exc: LinkNotFound) -> Response[Any]:
    """No link has this token (the exception handler of the pay pages)."""
    return render("pay/not_found.html", status_code=404, **_about(settings_of(request)))


def _renew_refused(settings: Any, reason: str, status_code: int) -> Response[Any]:
    return render(
        "pay/renew_refused.html",
        status_code=status_code,
        message=RENEW_REFUSED[reason],
        **_about(settings),
    )


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


def _challenge_url(settings: Any, token: str, payment: Payment) -> str | None:
    """Where the payer finishes 3-D Secure with the sandbox's bank page."""
    if settings.payments_gateway != "sandbox" or not payment.processor_ref:
        return None
    return f"/sandbox/challenge/{payment.processor_ref}?return_to=/pay/{token}"


def _back_to_receipt(session: dict[str, Any], state: LinkState) -> bool:
    """The browser that paid and was left waiting (confirming, the bank's check) goes on to
    its receipt, once; opening the paid link again later shows "already paid"."""
    waited = session.pop("pay_waiting", None) == state.link.id
    return state.status == "paid" and waited and session.get("receipt_link") == state.link.id


def _remember(session: dict[str, Any], state: LinkState, outcome: PaymentOutcome) -> None:
    """This browser paid: it may see the receipt, and waits for an outcome not known yet."""
    session["receipt_link"] = state.link.id
    session["pay_attempt"] = outcome.payment_id
    session.pop("pay_waiting", None)
    if outcome.status not in SETTLED:
        session["pay_waiting"] = state.link.id


def _filled(form: Form) -> bool:
    """The card entry and the terms, each refused by its field when missing."""
    if not form.get("payment_method"):
        form.error("card", i18n.N_("Enter your card details."))
    if form.get("terms") != "accepted":
        form.error("terms", i18n.N_("Agree to the payment terms to continue."))
    return form.ok


def _receipt_shown(state: LinkState, session: dict[str, Any], now: datetime) -> bool:
    """The receipt is for the browser that paid, shortly after paying; anyone else opening the
    link sees only "already paid"."""
    link = state.link
    return (
        state.status == "paid"
        and session.get("receipt_link") == link.id
        and link.paid_at is not None
        and now - link.paid_at <= RECEIPT_WINDOW
        and link.payment_id is not None
    )


@dataclass
class LinkVisit:
    """One request to a pay link (the controller's "visit" dependency): the link, what its
    pages need, and the link's answer to a refusal and to each step of app/web/outcomes.py.
    The handler calls speak() first: a dependency provider may run in a task of its own,
    whose choice of language the handler would not see."""

    request: Request[Any, Any, Any]
    db: Db
    clock: Any
    settings: Any
    token: str
    state: LinkState
    form: Form = field(default_factory=Form)
    payment_id: int | None = None
    client_secret: str | None = None
    failure: str | None = None  # what the bank said when it refused

    def speak(self) -> None:
        i18n.prefer(self.state.language)

    def here(self) -> Response[Any]:
        return Redirect(f"/pay/{self.token}", status_code=303)

    def page(
        self, form: Form, status_code: int = 200, state: LinkState | None = None, **extra: Any
    ) -> Response[Any]:
        state = state or self.state
        return render(
            "pay/page.html",
            status_code=status_code,
            state=state,
            summary=state.summary,
            form=form,
            **_about(self.settings),
            gateway_name=self.settings.payments_gateway,
            stripe_publishable_key=self.settings.stripe_publishable_key,
            wallets=element_wallets(self.settings),
            amount_cents=state.summary.total_cents,
            declines_left=links.MAX_DECLINES - state.link.decline_count,
            **extra,
        )

    def confirming_page(self, challenge_url: str | None = None) -> Response[Any]:
        """The payment's outcome is not known yet: never "nothing was charged", never a form."""
        return render(
            "pay/confirming.html",
            status_code=202,
            **_about(self.settings),
            amount_cents=self.state.summary.total_cents,
            challenge_url=challenge_url,
        )

    def renewed_page(self, status_code: int, *, already: bool = False) -> Response[Any]:
        """Where a renewed link went, for the payer: only the phone's last four digits."""
        return render(
            "pay/renewed.html",
            status_code=status_code,
            ending=self.state.link.phone_e164[-4:],
            already=already,
            **_about(self.settings),
        )

    async def ended(self, state: LinkState | None = None) -> Response[Any]:
        """The page of a link that cannot be paid, offering "Text me a new link" where the
        domain allows it; a link the payer already renewed says where the new one went."""
        state = state or self.state
        if state.link.renewed_by_link_id is not None:
            return self.renewed_page(410)
        can_renew = state.status == "expired" and (
            await send_link.renewal_refusal(
                self.db, state.link, status=state.status,
                accepts_payments=state.location.accepts_payments,
            )
            is None
        )  # fmt: skip
        return _final_page(state, self.settings, can_renew=can_renew)

    async def fresh(self) -> LinkState:
        return await pay_link.find(self.db, self.token, self.clock.now(), hot=self.reading)

    @property
    def reading(self) -> bool:
        """A GET only reads the link: on the session's plain connection (store/hot_reads.py)."""
        return self.request.method == "GET"

    async def connection_lost(self, exc: Exception) -> Response[Any]:
        """The database connection was lost during the payment. A claim on the link means the
        card may have been charged: the confirming page, as for a processor's lost answer (the
        claim stays until the payment is resolved). No claim: nothing was charged, so the 503
        page (the original error). Not readable either: it may have been charged."""
        try:
            claimed = await pay_link.claimed(
                self.request.app.state.sessionmaker, self.state.link.id
            )
        except Exception as again:
            if not connection_gone(again):
                raise
            claimed = True
        if not claimed:
            raise exc
        self.request.session["receipt_link"] = self.state.link.id
        self.request.session["pay_waiting"] = self.state.link.id
        return self.confirming_page()

    # -- a refusal ----------------------------------------------------------------------------

    async def refused(self, exc: DomainError) -> Response[Any]:
        said = outcomes.refusal(exc, PAY_LINK)
        if said.page:
            return render(said.page, status_code=said.status, **_about(self.settings))
        fresh = await self.fresh()
        if fresh.status not in links.LIVE_STATUSES:  # e.g. locked after too many declines
            return await self.ended(fresh)
        self.form.error(said.field, said.message, **said.params)
        return self.page(self.form, said.status, fresh)

    async def not_payable(self) -> Response[Any]:
        fresh = await self.fresh()
        if fresh.status in links.LIVE_STATUSES:  # another attempt holds it right now
            return self.here()
        return await self.ended(fresh)

    # -- the steps of an outcome (app/web/outcomes.OutcomeViews) ------------------------------

    async def receipt(self) -> Response[Any]:
        return Redirect(f"/pay/{self.token}/receipt", status_code=303)

    async def declined(self) -> Response[Any]:
        form = Form()
        form.error("card", self.failure or payments.NOT_CONFIRMED)
        return self.page(form, 402, await self.fresh())

    async def bank_page(self) -> Response[Any]:
        try:
            payment = await pay_link.payment(self.db, self.payment_id)
        except Exception as exc:
            if not connection_gone(exc):
                raise
            return self.confirming_page()  # it was charged or is on its way
        url = _challenge_url(self.settings, self.token, payment) if payment else None
        return Redirect(url, status_code=303) if url else self.here()

    async def bank_in_browser(self) -> Response[Any]:
        return self.page(self.form, 200, next_action_secret=self.client_secret)

    async def processing(self) -> Response[Any]:
        # The bank accepted; the money is on its way. The webhook finishes it: never fail it.
        return render("pay/processing.html", status_code=202, **_about(self.settings))

    async def confirming(self) -> Response[Any]:
        # The page that says so comes from a GET, so a reload never resubmits the form.
        return self.here()


async def provide_visit(
    request: Request[Any, Any, Any],
    db: Db,
    token: FromPath[str],
) -> LinkVisit:
    """The link a token opens; LinkNotFound (the not-found page) when there is none. A GET
    reads it on the session's plain connection; a POST through the ORM (the payment core's)."""
    clock = clock_of(request)
    state = await pay_link.find(db, token, clock.now(), hot=request.method == "GET")
    return LinkVisit(request, db, clock, settings_of(request), token, state)


Visit = NamedDependency[LinkVisit]


class PayController(Controller):
    path = "/pay"
    dependencies = {"visit": Provide(provide_visit)}
    exception_handlers = {LinkNotFound: _not_found}

    async def _settle_claim(self, v: LinkVisit) -> Payment | None:
        """A payment holding the link: ask the processor what became of it (3-D Secure done or
        failed, an answer lost), so the page shows the truth. Returns it while unresolved."""
        claim = v.state.link.claim_payment_id
        payment = await pay_link.payment(v.db, claim)
        if payment is None or payment.status not in UNRESOLVED:
            return None
        if payment.processor_ref is None and v.clock.now() - payment.created_at < ASK_AGAIN_AFTER:
            return payment  # the answer was just lost: asking again at once tells nothing new
        await release_connection(v.db)
        try:
            await payments.resolve(
                v.request.app.state.sessionmaker,
                v.request.app.state.gateway,
                v.clock,
                payment.id or 0,
                company=v.settings.company_name,
            )
        except OutcomeUnknown:
            pass
        await v.db.refresh(payment)
        return payment if payment.status in UNRESOLVED else None

    async def _waiting(self, v: LinkVisit, payment: Payment) -> Response[Any]:
        """A payment still unresolved: 3-D Secure still to finish in this browser goes back to
        Stripe.js; anything else is the confirming page (with the sandbox bank's page)."""
        if v.settings.payments_gateway == "stripe" and payment.processor_ref:
            try:
                result = await v.request.app.state.gateway.retrieve(payment.processor_ref)
            except GatewayError:
                result = None
            if result is not None and result.status == "requires_action":
                return v.page(Form(), 200, next_action_secret=result.client_secret)
        return v.confirming_page(_challenge_url(v.settings, v.token, payment))

    async def _last_attempt(self, v: LinkVisit) -> Form:
        """The form, with what became of this browser's last attempt if the bank refused it."""
        form = Form()
        attempt_id = v.request.session.pop("pay_attempt", None)
        attempt = await pay_link.payment(v.db, attempt_id if isinstance(attempt_id, int) else None)
        if attempt is None or attempt.link_id != v.state.link.id or attempt.status != "failed":
            return form
        if attempt.failure_code == "abandoned":
            form.error("card", ABANDONED)
        else:
            form.error("card", attempt.failure_message or payments.NOT_CONFIRMED)
        return form

    @get("/{token:str}", name="pay_page")
    async def page(self, visit: Visit) -> Response[Any]:
        v = visit
        v.speak()
        unresolved = await self._settle_claim(v)
        if unresolved is not None:
            return await self._waiting(v, unresolved)
        if v.state.link.claim_payment_id is not None:  # settled just now: read what it left
            v.state = await v.fresh()
        if _back_to_receipt(v.request.session, v.state):
            return Redirect(f"/pay/{v.token}/receipt", status_code=303)
        if v.state.status not in links.LIVE_STATUSES:
            return await v.ended()
        form = await self._last_attempt(v)
        await pay_link.mark_opened(v.db, v.state, v.clock.now())
        return v.page(form, 402 if form.errors else 200)

    @post("/{token:str}", name="pay_submit")
    async def submit(self, visit: Visit) -> Response[Any]:
        v = visit
        v.speak()
        v.form = form = await read_form(v.request)
        if form.get("action") == "renew":  # "Text me a new link", from the expired-link page
            return await self._renew(v)
        if v.state.status not in links.LIVE_STATUSES:
            return await v.ended()
        if not _filled(form):
            return v.page(form, 422)
        await release_connection(v.db)
        try:
            outcome = await pay_link.pay(
                v.request.app.state.sessionmaker,
                v.request.app.state.gateway,
                v.clock,
                v.state,
                form.get("payment_method"),
                v.settings.company_name,
            )
        except payments.LinkNotPayable:
            return await v.not_payable()
        except DomainError as exc:
            return await v.refused(exc)
        except Exception as exc:
            if not connection_gone(exc):
                raise
            return await v.connection_lost(exc)
        _remember(v.request.session, v.state, outcome)
        v.payment_id, v.client_secret = outcome.payment_id, outcome.client_secret
        v.failure = outcome.failure_message
        return await outcomes.follow(v.request, outcome, v, gateway=v.settings.payments_gateway)

    async def _renew(self, v: LinkVisit) -> Response[Any]:
        """One tap: a fresh link to the number the expired one went to (the number comes from
        the link, never from the form). Then the page (a GET) says where it went."""
        try:
            await send_link.renew(
                v.db,
                link_id=v.state.link.id or 0,
                now=v.clock.now(),
                ttl_seconds=v.settings.link_ttl_seconds,
                base_url=v.settings.base_url,
                company=v.settings.company_name,
                box=v.request.app.state.box,
            )
        except send_link.RenewalRefused as exc:
            if exc.reason == "renewed":
                return v.renewed_page(409, already=True)
            status_code = 403 if exc.reason in ("payments_not_accepted", "opted_out") else 409
            return _renew_refused(v.settings, exc.reason, status_code)
        except (send_link.TooManyLinks, send_link.TooManyTexts):
            return _renew_refused(v.settings, "limit", 429)
        except send_link.OptedOut:
            return _renew_refused(v.settings, "opted_out", 403)
        except PaymentsNotAccepted:
            return _renew_refused(v.settings, "payments_not_accepted", 403)
        except DomainError:
            return _renew_refused(v.settings, "other", 409)
        return v.here()

    @post("/{token:str}/confirm", name="pay_confirm")
    async def confirm(self, visit: Visit) -> Response[Any]:
        """After 3-D Secure in the browser: ask the processor, apply if it succeeded."""
        v = visit
        v.speak()
        link = v.state.link
        payment = await pay_link.payment(v.db, link.claim_payment_id or link.payment_id)
        if payment is None or payment.processor_ref is None:
            return v.here()
        await release_connection(v.db)
        result = await payments.settle_from_processor(
            v.request.app.state.sessionmaker,
            v.request.app.state.gateway,
            v.clock,
            payment.id or 0,
            payment.processor_ref,
            v.settings.company_name,
        )
        if result.status == "succeeded":
            v.request.session["receipt_link"] = link.id
        v.payment_id, v.client_secret = payment.id, result.client_secret
        return await outcomes.answer(
            v, result.status, gateway=v.settings.payments_gateway, client_secret=v.client_secret
        )

    @get("/{token:str}/receipt", name="pay_receipt")
    async def receipt(self, visit: Visit) -> Response[Any]:
        v = visit
        v.speak()
        if not _receipt_shown(v.state, v.request.session, v.clock.now()):
            if v.state.status in links.LIVE_STATUSES:
                return v.here()
            return await v.ended()
        v.request.session.pop("pay_waiting", None)  # seen: opening the link later says "paid"
        payment, invoice = await pay_link.receipt(v.db, v.state)
        return render(
            "pay/receipt.html",
            payment=payment,
            invoice=invoice,
            summary=v.state.summary,
            tz=v.state.location.timezone,
            **_about(v.settings),
        )
