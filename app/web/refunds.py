"""PLUS Web refunds (Account History; supervisors and admins): the refund form for one of the
client's payments, its confirmation, and the refund, once per request key."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from app.domain.errors import DomainError
from app.domain.money import cents_to_plain, parse_amount
from app.domain.periods import local_today
from app.domain.refunds import RefundInvalid, check_refund, refundable_cents
from app.formatting import money
from app.services import ledger
from app.services.ledger import PaymentView, RefundView
from app.services.payments import refunds
from app.services.staff_request import StaffRequest, is_key, new_key
from app.services.summary import NotFound
from app.web.deps import Staff, clock_of, release_connection, settings_of
from app.web.forms import MAX_ID, Form, is_htmx, read_form
from app.web.history_page import PATH, base, card_words, context, panel, respond
from app.web.plus import CLIENT_PAGE, ClientPage, Page

REFUNDABLE = ("succeeded", "partially_refunded")
MAX_REASON = 200


def refund_notice(refund: RefundView) -> tuple[str, str]:
    amount, card = money(refund.amount_cents), card_words(refund.payment)
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


async def _payment_or_404(page: ClientPage, payment_id: int) -> PaymentView:
    """One of this client's payments (404 for anyone else's, or an id no row can have)."""
    payment = None
    if payment_id <= MAX_ID:
        payment = await ledger.payment(page.db, page.client_id, payment_id)
    if payment is None:
        raise NotFoundException()
    return payment


async def refund_panel(
    request: Request[Any, Any, Any], page: ClientPage, payment_id: int, form: Form,
    with_ledger: bool,
) -> tuple[dict[str, Any], int]:  # fmt: skip
    """The tab with the refund form for one of this client's payments (404 for anyone
    else's), and the status to answer with: 403 for an agent, 409 when nothing is left."""
    ctx = await context(page, with_ledger=with_ledger)
    if page.staff.role not in refunds.REFUND_ROLES:
        ctx["notice"] = ("error", refunds.RefundNotAllowed.message)
        return ctx, 403
    payment = await _payment_or_404(page, payment_id)
    pending = await refunds.pending_cents(page.db, payment_id)
    left = refundable_cents(payment.amount_cents, payment.refunded_cents, pending)
    ctx.update(
        action="refund",
        step="form",
        form=form,
        error_summary=not is_htmx(request),
        refund_payment=payment,
        refund_card=card_words(payment),
        refund_paid_on=local_today(
            payment.completed_at or payment.created_at, page.account.location.timezone
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


def _refund_amount(form: Form, left: int | None) -> int:
    """Read the amount; with `left`, it is also checked against what is left to refund."""
    try:
        cents = parse_amount(form.get("amount"))
    except DomainError:
        form.error("amount", "Enter an amount in dollars and cents, like 50.00.")
        return 0
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
    return cents


def refund_fields(form: Form, left: int | None) -> tuple[int, str]:
    """Read the amount and reason; errors go next to the fields. With `left`, the amount is
    also checked against what is left to refund."""
    cents = _refund_amount(form, left)
    reason = " ".join(form.get("reason").split())
    if not reason:
        form.error("reason", "Say why the payment is refunded, like “Charged twice”.")
    elif len(reason) > MAX_REASON:
        form.error("reason", f"Keep the reason to {MAX_REASON} characters or fewer.")
    return cents, reason


def _confirmed_fields(form: Form) -> tuple[int, str]:
    """The confirmed refund's amount and reason, and its request key checked. What is left is
    checked by the service, after it has looked for this request key."""
    cents, reason = refund_fields(form, left=None)
    if not is_key(form.get("request_key")):
        form.error("form", "This form is out of date. Review the refund again.")
    return cents, reason


class RefundsController(Controller):
    path = PATH
    dependencies = CLIENT_PAGE

    @get("/payments/{payment_id:int}/refund", name="plus_refund_form")
    async def refund_form(
        self, request: Request[Any, Any, Any], page: Page, payment_id: FromPath[int],
        amount: FromQuery[str] = "", reason: FromQuery[str] = "",
    ) -> Response[Any]:  # fmt: skip
        """Amount (what is left, editable for a partial refund) and reason; `amount` and
        `reason` in the query come back from the confirmation's Back link."""
        values = {"amount": amount[:20], "reason": reason[:200]}
        form = Form(values={k: v for k, v in values.items() if v})
        ctx, status = await refund_panel(request, page, payment_id, form, not is_htmx(request))
        ctx["error_summary"] = False  # nothing was submitted yet
        return panel(request, ctx, status)

    @post("/payments/{payment_id:int}/refund/review", name="plus_refund_review")
    async def refund_review(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page, payment_id: FromPath[int]
    ) -> Response[Any]:
        """The confirmation step: repeats amount and card; nothing is refunded yet."""
        form = await read_form(request)
        ctx, status = await refund_panel(request, page, payment_id, form, not is_htmx(request))
        if status != 200:
            return panel(request, ctx, status)
        cents, reason = refund_fields(form, ctx["refund_left_cents"])
        if not form.ok:
            return panel(request, ctx, 422)
        ctx.update(
            step="confirm",
            refund_cents=cents,
            refund_reason=reason,
            request_key=new_key(),
        )
        return panel(request, ctx)

    @post("/payments/{payment_id:int}/refund", name="plus_refund")
    async def refund(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page, payment_id: FromPath[int]
    ) -> Response[Any]:
        """Refund once per request key (a double click or a resent form finds the first
        refund), then show the ledger with the refund row, or the form with what went wrong."""
        clock, settings = clock_of(request), settings_of(request)
        form = await read_form(request)

        async def back_to_form(status: int) -> Response[Any]:
            ctx, refused = await refund_panel(
                request, page.at(clock.now()), payment_id, form, with_ledger=True
            )
            return respond(request, ctx, refused if refused == 403 else status)

        if staff.role not in refunds.REFUND_ROLES:
            return await back_to_form(403)
        if payment_id > MAX_ID:
            raise NotFoundException()
        cents, reason = _confirmed_fields(form)
        if not form.ok:
            return await back_to_form(422)
        maker = request.app.state.sessionmaker
        await release_connection(page.db)
        try:
            ask = StaffRequest(staff, page.client_id, form.get("request_key"))
            refund_id = await refunds.request(
                maker, clock, ask, payment_id=payment_id, amount_cents=cents, reason=reason
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
        page = await page.reread(clock.now())
        refund = await ledger.refund(page.db, page.client_id, refund_id)
        assert refund is not None
        if outcome == "failed":
            form.values.pop("request_key", None)
            form.error(
                "form",
                "The refund did not go through: "
                f"{refund.failure_message or 'the processor refused it.'} Nothing was refunded.",
            )
            return await back_to_form(409)
        if not is_htmx(request):
            return Redirect(f"{base(page.client_id)}?refunded={refund_id}", status_code=303)
        ctx = await context(page)
        ctx["notice"] = refund_notice(refund)
        return respond(request, ctx, 200 if outcome == "succeeded" else 202)
