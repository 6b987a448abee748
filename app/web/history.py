"""PLUS Web Account History: the ledger, Add New Invoice, void, Take Payment, and refunds.

Every form works as a plain post (redirect back to the tab) and as htmx (a fragment in place,
with the ledger refreshed out of band).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import CardDeclined, DomainError, GatewayError, InvalidDays, StaleSummary
from app.domain.money import cents_to_plain, parse_amount
from app.domain.periods import ALLOWED_DAYS, local_today, parse_days
from app.domain.refunds import RefundInvalid, check_refund, refundable_cents
from app.formatting import money
from app.services import ledger, payments, refunds, take_payment
from app.services.cards import CardExpired
from app.services.summary import NotFound, PaymentsNotAccepted
from app.store.models import Payment, Refund
from app.store.reads import AccountView as Account
from app.web.deps import ClockDep, Db, SettingsDep, Staff, release_connection
from app.web.forms import FINGERPRINT, MAX_ID, Form, is_htmx, parse_id, read_form
from app.web.plus import VARY, account_or_404, client_header_context, header_with_open_invoices
from app.web.render import render

LEDGER_VARY = {"Vary": "HX-Request, HX-Target"}


def _base(client_id: int) -> str:
    return f"/plus/clients/{client_id}/history"


async def _context(
    db: AsyncSession,
    staff: Any,
    account: Account,
    now: datetime,
    with_ledger: bool = True,
    before: str = "",
) -> dict[str, Any]:
    """What the tab's templates use: with the ledger's page that starts `before` (the newest
    without it), or without the ledger, for an htmx answer that only redraws the panel."""
    if with_ledger:
        tz = account.location.timezone
        try:
            led = await ledger.ledger(
                db, account.client.id, now=now, tz=tz, vehicles=account.labels, before=before
            )
        except ledger.BadCursor as exc:
            raise ClientException(detail=exc.message) from None
        ctx = client_header_context(account, led.past_due_cents)
    else:
        led = None
        ctx, _ = await header_with_open_invoices(db, account, now)
    ctx.update(
        staff=staff,
        tab="history",
        now=now,
        today=local_today(now, account.location.timezone),
        ledger=led,
        before=before,
        can_void=staff.role in ledger.VOID_ROLES,
        can_refund=staff.role in refunds.REFUND_ROLES,
        base=_base(account.client.id),
        action="",
        form=Form(),
        notice=None,
    )
    return ctx


def _respond(
    request: Request[Any, Any, Any], ctx: dict[str, Any], status_code: int = 200
) -> Response[Any]:
    """htmx: the action panel, plus the ledger and header alert out of band. Else: the page."""
    name = "plus/_history_action.html" if is_htmx(request) else "plus/history.html"
    return render(name, status_code=status_code, headers=VARY, oob=True, **ctx)


def _default_vehicle(account: Account, wanted: str) -> str:
    ids = [str(v.id) for v in account.vehicles]
    if wanted in ids:
        return wanted
    return ids[0] if ids else ""


def _cycle_days(account: Account, vehicle_id: str) -> str:
    for v in account.vehicles:
        if str(v.id) == vehicle_id:
            return str(v.billing_cycle_days if v.billing_cycle_days in ALLOWED_DAYS else 30)
    return "30"


class HistoryController(Controller):
    path = "/plus/clients/{client_id:int}/history"

    @get("/", name="plus_history")
    async def page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
        action: FromQuery[str] = "",
        paid: FromQuery[int | None] = None,
        added: FromQuery[str] = "",
        voided: FromQuery[str] = "",
        refunded: FromQuery[int | None] = None,
        before: FromQuery[str] = "",
    ) -> Response[Any]:
        """The tab, or with `before` one older page of the ledger (the "Older" link; htmx
        aiming at #ledger gets only the ledger)."""
        now = clock.now()
        account = await account_or_404(db, client_id)
        ctx = await _context(db, staff, account, now, before=before[:40])
        if is_htmx(request) and request.headers.get("hx-target") == "ledger":
            return render("plus/_ledger.html", headers=LEDGER_VARY, oob=False, **ctx)
        if action == "add_invoice":
            ctx.update(action="add_invoice")
        elif action == "take_payment":
            await self._take_form(db, account, ctx, Form(), now)
        elif paid is not None:
            payment = await db.get(Payment, paid)
            if payment is not None and payment.client_id == client_id:
                ctx["notice"] = _paid_notice(payment)
        elif added:
            ctx["notice"] = ("ok", f"Invoice {added[:20]} added.")
        elif voided:
            ctx["notice"] = ("ok", f"Invoice {voided[:20]} voided.")
        elif refunded is not None:
            refund = await db.get(Refund, refunded)
            payment = await db.get(Payment, refund.payment_id) if refund else None
            if refund is not None and payment is not None and refund.client_id == client_id:
                ctx["notice"] = _refund_notice(refund, payment)
        return render("plus/history.html", headers=LEDGER_VARY, **ctx)

    # -- Add New Invoice -------------------------------------------------------------------
    @get("/invoice-form", name="plus_invoice_form")
    async def invoice_form(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        if not is_htmx(request):
            return Redirect(f"{_base(client_id)}?action=add_invoice", status_code=303)
        account = await account_or_404(db, client_id)
        ctx = await _context(db, staff, account, clock.now(), with_ledger=False)
        ctx.update(action="add_invoice")
        return render("plus/_history_action.html", headers=VARY, oob=False, **ctx)

    @get("/close", name="plus_history_close")
    async def close(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        if not is_htmx(request):
            return Redirect(_base(client_id), status_code=303)
        account = await account_or_404(db, client_id)
        ctx = await _context(db, staff, account, clock.now(), with_ledger=False)
        return render("plus/_history_action.html", headers=VARY, oob=False, **ctx)

    @post("/invoices", name="plus_add_invoice")
    async def add_invoice(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        now = clock.now()
        account = await account_or_404(db, client_id)
        form = await read_form(request)
        try:
            vid, description, cents, due = ledger.validate_invoice(
                vehicle_id=form.get("vehicle_id"),
                description=form.get("description"),
                amount=form.get("amount"),
                due_date=form.get("due_date"),
                vehicle_ids={v.id or 0 for v in account.vehicles},
                today=local_today(now, account.location.timezone),
            )
        except ledger.InvoiceInvalid as exc:
            form.errors.update(exc.errors)
            ctx = await _context(db, staff, account, now)
            ctx.update(action="add_invoice", form=form)
            return _respond(request, ctx, 422)
        invoice = await ledger.create_invoice(
            db,
            staff=staff,
            client_id=client_id,
            vehicle_id=vid,
            description=description,
            amount_cents=cents,
            due_date=due,
            now=now,
        )
        if not is_htmx(request):
            return Redirect(f"{_base(client_id)}?added={invoice.number}", status_code=303)
        ctx = await _context(db, staff, account, now)
        ctx["notice"] = (
            "ok",
            f"Invoice {invoice.number} added: {description}, {money(invoice.total_cents)}.",
        )
        return _respond(request, ctx)

    @post("/invoices/{invoice_id:int}/void", name="plus_void_invoice")
    async def void(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int], invoice_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        now = clock.now()
        account = await account_or_404(db, client_id)
        try:
            invoice = await ledger.void_invoice(
                db, staff=staff, client_id=client_id, invoice_id=invoice_id, now=now
            )
        except NotFound:
            raise NotFoundException() from None
        except ledger.NotAllowed as exc:
            ctx = await _context(db, staff, account, now)
            ctx["notice"] = ("error", exc.message)
            return _respond(request, ctx, 403)
        except ledger.CannotVoid as exc:
            ctx = await _context(db, staff, account, now)
            ctx["notice"] = ("error", exc.message)
            return _respond(request, ctx, 409)
        if not is_htmx(request):
            return Redirect(f"{_base(client_id)}?voided={invoice.number}", status_code=303)
        ctx = await _context(db, staff, account, now)
        ctx["notice"] = ("ok", f"Invoice {invoice.number} voided.")
        return _respond(request, ctx)

    # -- Take Payment ----------------------------------------------------------------------
    async def _take_form(
        self, db: AsyncSession, account: Account, ctx: dict[str, Any], form: Form, now: datetime
    ) -> int:
        """Fill the Take Payment step: pick (vehicle, days) and, when valid, the summary + cards."""
        vehicle_id = _default_vehicle(account, form.get("vehicle_id"))
        form.values["vehicle_id"] = vehicle_id
        if form.get("days") not in {str(d) for d in ALLOWED_DAYS}:
            if form.get("days"):
                form.error("days", "Choose 14 or 30 days.")
            form.values["days"] = _cycle_days(account, vehicle_id)
        ctx.update(action="take_payment", form=form, step="pick", quote=None)
        if not account.location.accepts_payments:
            form.error("form", PaymentsNotAccepted.message)
            return 409
        if not vehicle_id:
            form.error("form", "This client has no vehicles to take a payment for.")
            return 409
        try:
            quote = await take_payment.quote(
                db,
                client_id=account.client.id,
                vehicle_id=parse_id(vehicle_id) or 0,  # one of this client's (checked above)
                days=parse_days(form.get("days")),
                now=now,
            )
        except (InvalidDays, NotFound) as exc:
            form.error("days" if isinstance(exc, InvalidDays) else "vehicle_id", exc.message)
            return 422
        ctx["quote"] = quote
        usable = [c for c in quote.cards if c.usable]
        if "card_id" not in form.values and usable:
            form.values["card_id"] = str(usable[0].id)
        return 200

    @get("/take-payment", name="plus_take_payment")
    async def take_form(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int], vehicle_id: FromQuery[str] = "", days: FromQuery[str] = "",
        quoted_vehicle_id: FromQuery[str] = "",
    ) -> Response[Any]:  # fmt: skip
        now = clock.now()
        if quoted_vehicle_id and quoted_vehicle_id != vehicle_id:
            days = ""  # another vehicle was picked: start from its own billing cycle
        account = await account_or_404(db, client_id)
        ctx = await _context(db, staff, account, now, with_ledger=not is_htmx(request))
        form = Form(values={k: v for k, v in (("vehicle_id", vehicle_id), ("days", days)) if v})
        status = await self._take_form(db, account, ctx, form, now)
        name = "plus/_history_action.html" if is_htmx(request) else "plus/history.html"
        return render(name, status_code=status, headers=VARY, oob=False, **ctx)

    @post("/take-payment/review", name="plus_take_payment_review")
    async def review(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        """The confirmation step: repeats amount and card; nothing is charged yet."""
        now = clock.now()
        account = await account_or_404(db, client_id)
        form = await read_form(request)
        ctx = await _context(db, staff, account, now)
        status = await self._take_form(db, account, ctx, form, now)
        if status != 200:
            return _respond(request, ctx, status)
        card_id = parse_id(form.get("card_id"))
        try:
            if card_id is None:
                raise NotFound("Choose a card on file.")
            card = await take_payment.chosen_card(
                db, client_id=client_id, card_id=card_id, now=now,
                tz=account.location.timezone,
            )  # fmt: skip
        except (NotFound, CardExpired) as exc:
            form.error("card_id", exc.message)
            return _respond(request, ctx, 422)
        ctx.update(step="confirm", card=card, request_key=secrets.token_hex(16))
        return _respond(request, ctx)

    @post("/payments", name="plus_take_payment_charge")
    async def charge(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        settings: SettingsDep, client_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        account = await account_or_404(db, client_id)
        form = await read_form(request)
        reviewed = form.get("reviewed")

        async def back_to_pick(message: str, status: int, field: str = "form") -> Response[Any]:
            ctx = await _context(db, staff, account, clock.now())
            await self._take_form(db, account, ctx, form, clock.now())
            form.error(field, message)
            return _respond(request, ctx, status)

        card_id = parse_id(form.get("card_id"))
        vehicle_id = parse_id(form.get("vehicle_id"))
        if card_id is None or vehicle_id is None or not FINGERPRINT.fullmatch(reviewed):
            return await back_to_pick("Choose a card and review the payment first.", 422)
        await release_connection(db)
        try:
            outcome, card = await take_payment.take(
                request.app.state.sessionmaker,
                request.app.state.gateway,
                clock,
                staff=staff,
                client_id=client_id,
                vehicle_id=vehicle_id,
                days=parse_days(form.get("days")),
                card_id=card_id,
                reviewed=reviewed,
                request_key=form.get("request_key"),
                company=settings.company_name,
            )
        except (StaleSummary, payments.PaymentInProgress, PaymentsNotAccepted) as exc:
            return await back_to_pick(exc.message, 409)
        except CardDeclined as exc:
            return await back_to_pick(
                f"The card was declined: {exc.message} Nothing was charged.", 402, "card_id"
            )
        except (CardExpired, NotFound, InvalidDays) as exc:
            return await back_to_pick(exc.message, 422, "card_id")
        except GatewayError as exc:
            return await back_to_pick(exc.message, 503)
        except DomainError as exc:  # e.g. an out-of-date request key
            return await back_to_pick(exc.message, 422)
        if outcome.status == "failed":
            return await back_to_pick(
                f"The card was declined: {outcome.failure_message or ''} Nothing was charged.",
                402,
                "card_id",
            )
        if outcome.status == "unknown":
            request.app.state.resolver.kick(outcome.payment_id)
        if not is_htmx(request):
            return Redirect(f"{_base(client_id)}?paid={outcome.payment_id}", status_code=303)
        ctx = await _context(db, staff, account, clock.now())
        payment = await db.get(Payment, outcome.payment_id)
        assert payment is not None
        ctx["notice"] = _paid_notice(payment, fallback=f"{card.brand} ending {card.last4}")
        return _respond(request, ctx)

    # -- Refund (supervisors and admins) ---------------------------------------------------
    async def _refund_panel(
        self, request: Request[Any, Any, Any], db: AsyncSession, staff: Any, account: Account,
        payment_id: int, form: Form, now: datetime, with_ledger: bool,
    ) -> tuple[dict[str, Any], int]:  # fmt: skip
        """The tab with the refund form for one of this client's payments (404 for anyone
        else's), and the status to answer with: 403 for an agent, 409 when nothing is left."""
        ctx = await _context(db, staff, account, now, with_ledger=with_ledger)
        if staff.role not in refunds.REFUND_ROLES:
            ctx["notice"] = ("error", refunds.RefundNotAllowed.message)
            return ctx, 403
        payment = await db.get(Payment, payment_id) if payment_id <= MAX_ID else None
        if payment is None or payment.client_id != account.client.id:
            raise NotFoundException()
        pending = await refunds.pending_cents(db, payment_id)
        left = refundable_cents(payment.amount_cents, payment.refunded_cents, pending)
        ctx.update(
            action="refund",
            step="form",
            form=form,
            error_summary=not is_htmx(request),
            refund_payment=payment,
            refund_card=_card_words(payment),
            refund_paid_on=local_today(
                payment.completed_at or payment.created_at, account.location.timezone
            ),
            refund_left_cents=left,
            refund_pending_cents=pending,
            refund_open=False,
        )
        if payment.status not in REFUNDABLE or not payment.processor_ref:
            form.error("form", "Only a payment that went through can be refunded.")
            return ctx, 409
        if left <= 0:
            form.error(
                "form",
                "Nothing is left to refund on this payment."
                + (" A refund of it is still being confirmed." if pending else ""),
            )
            return ctx, 409
        ctx["refund_open"] = True
        if "amount" not in form.values:
            form.values["amount"] = cents_to_plain(left)
        return ctx, 200

    @get("/payments/{payment_id:int}/refund", name="plus_refund_form")
    async def refund_form(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int], payment_id: FromPath[int], amount: FromQuery[str] = "",
        reason: FromQuery[str] = "",
    ) -> Response[Any]:  # fmt: skip
        """Amount (what is left, editable for a partial refund) and reason; `amount` and
        `reason` in the query come back from the confirmation's Back link."""
        account = await account_or_404(db, client_id)
        values = {"amount": amount[:20], "reason": reason[:200]}
        form = Form(values={k: v for k, v in values.items() if v})
        ctx, status = await self._refund_panel(
            request, db, staff, account, payment_id, form, clock.now(), not is_htmx(request)
        )
        ctx["error_summary"] = False  # nothing was submitted yet
        return _panel(request, ctx, status)

    @post("/payments/{payment_id:int}/refund/review", name="plus_refund_review")
    async def refund_review(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        client_id: FromPath[int], payment_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        """The confirmation step: repeats amount and card; nothing is refunded yet."""
        account = await account_or_404(db, client_id)
        form = await read_form(request)
        ctx, status = await self._refund_panel(
            request, db, staff, account, payment_id, form, clock.now(), not is_htmx(request)
        )
        if status != 200:
            return _panel(request, ctx, status)
        cents, reason = _refund_fields(form, ctx["refund_left_cents"])
        if not form.ok:
            return _panel(request, ctx, 422)
        ctx.update(
            step="confirm",
            refund_cents=cents,
            refund_reason=reason,
            request_key=refunds.new_request_key(),
        )
        return _panel(request, ctx)

    @post("/payments/{payment_id:int}/refund", name="plus_refund")
    async def refund(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, clock: ClockDep,
        settings: SettingsDep, client_id: FromPath[int], payment_id: FromPath[int],
    ) -> Response[Any]:  # fmt: skip
        """Refund once per request key (a double click or a resent form finds the first
        refund), then show the ledger with the refund row, or the form with what went wrong."""
        account = await account_or_404(db, client_id)
        form = await read_form(request)

        async def back_to_form(status: int) -> Response[Any]:
            ctx, refused = await self._refund_panel(
                request, db, staff, account, payment_id, form, clock.now(), with_ledger=True
            )
            return _respond(request, ctx, refused if refused == 403 else status)

        if staff.role not in refunds.REFUND_ROLES:
            return await back_to_form(403)
        if payment_id > MAX_ID:
            raise NotFoundException()
        # What is left is checked by the service, after it has looked for this request key.
        cents, reason = _refund_fields(form, left=None)
        if not REQUEST_KEY.fullmatch(form.get("request_key")):
            form.error("form", "This form is out of date. Review the refund again.")
        if not form.ok:
            return await back_to_form(422)
        maker = request.app.state.sessionmaker
        await release_connection(db)
        try:
            refund_id = await refunds.request(
                maker,
                clock,
                staff=staff,
                client_id=client_id,
                payment_id=payment_id,
                amount_cents=cents,
                reason=reason,
                request_key=form.get("request_key"),
            )
        except NotFound:
            raise NotFoundException() from None
        except refunds.RefundNotAllowed:
            return await back_to_form(403)
        except RefundInvalid as exc:
            form.error(exc.field, exc.message)
            return await back_to_form(422)
        outcome = await refunds.execute(
            maker, request.app.state.gateway, clock, refund_id, company=settings.company_name
        )
        # The service wrote in its own sessions: read the account again, not this session's copy.
        db.expunge_all()
        account = await account_or_404(db, client_id)
        refund = await db.get(Refund, refund_id)
        payment = await db.get(Payment, payment_id)
        assert refund is not None and payment is not None
        if outcome == "failed":
            form.values.pop("request_key", None)
            form.error(
                "form",
                f"The refund did not go through: {refund.failure_message or 'the processor refused it.'}"
                " Nothing was refunded.",
            )
            return await back_to_form(409)
        if not is_htmx(request):
            return Redirect(f"{_base(client_id)}?refunded={refund_id}", status_code=303)
        ctx = await _context(db, staff, account, clock.now())
        ctx["notice"] = _refund_notice(refund, payment)
        return _respond(request, ctx, 200 if outcome == "succeeded" else 202)


REFUNDABLE = ("succeeded", "partially_refunded")
REQUEST_KEY = re.compile(r"[0-9a-f]{32}")  # refunds.new_request_key()
MAX_REASON = 200


def _panel(
    request: Request[Any, Any, Any], ctx: dict[str, Any], status_code: int = 200
) -> Response[Any]:
    """htmx: only the action panel (the ledger did not change). Else: the page."""
    name = "plus/_history_action.html" if is_htmx(request) else "plus/history.html"
    return render(name, status_code=status_code, headers=VARY, oob=False, **ctx)


def _refund_fields(form: Form, left: int | None) -> tuple[int, str]:
    """Read the amount and reason; errors go next to the fields. With `left`, the amount is
    also checked against what is left to refund."""
    cents = 0
    try:
        cents = parse_amount(form.get("amount"))
    except DomainError:
        form.error("amount", "Enter an amount in dollars and cents, like 50.00.")
    else:
        if cents <= 0:
            form.error("amount", "Enter an amount over $0.00.")
        elif left is not None:
            try:
                check_refund(cents, left)
            except RefundInvalid as exc:
                form.error(
                    "amount",
                    f"Enter an amount up to {money(left)}, what is left to refund."
                    if left > 0
                    else exc.message,
                )
    reason = " ".join(form.get("reason").split())
    if not reason:
        form.error("reason", "Say why the payment is refunded, like “Charged twice”.")
    elif len(reason) > MAX_REASON:
        form.error("reason", f"Keep the reason to {MAX_REASON} characters or fewer.")
    return cents, reason


def _card_words(payment: Payment, fallback: str = "the card") -> str:
    if payment.card_brand and payment.card_last4:
        return f"{payment.card_brand} ending {payment.card_last4}"
    return fallback


def _refund_notice(refund: Refund, payment: Payment) -> tuple[str, str]:
    amount, card = money(refund.amount_cents), _card_words(payment)
    if refund.status == "succeeded":
        return ("ok", f"Refunded {amount} to {card}.")
    if refund.status == "pending":
        return (
            "warn",
            f"The refund of {amount} to {card} was sent; we're waiting for the processor to "
            "confirm it. Don't refund it again: the ledger shows the result once it is confirmed.",
        )
    return (
        "error",
        f"The refund of {amount} to {card} did not go through: "
        f"{refund.failure_message or 'the processor refused it.'} Nothing was refunded.",
    )


def _paid_notice(payment: Payment, fallback: str = "the card") -> tuple[str, str]:
    card = _card_words(payment, fallback)
    amount = money(payment.amount_cents)
    if payment.status == "succeeded":
        return ("ok", f"Payment of {amount} charged to {card}.")
    if payment.status in ("pending", "unknown"):
        return (
            "warn",
            f"We're confirming the payment of {amount} to {card} with the processor. Don't "
            "charge again: the ledger shows the result in a minute.",
        )
    return ("error", f"The payment of {amount} to {card} did not go through.")
