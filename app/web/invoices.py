"""PLUS Web Account History: Add New Invoice, and voiding an open invoice (supervisors)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from app.domain.periods import local_today
from app.formatting import money
from app.services import ledger
from app.services.summary import NotFound
from app.web.deps import Staff
from app.web.forms import is_htmx, read_form
from app.web.history_page import PATH, base, context, panel, respond
from app.web.plus import CLIENT_PAGE, Page


class InvoicesController(Controller):
    path = PATH
    dependencies = CLIENT_PAGE

    @get("/invoice-form", name="plus_invoice_form")
    async def invoice_form(self, request: Request[Any, Any, Any], page: Page) -> Response[Any]:
        if not is_htmx(request):
            return Redirect(f"{base(page.client_id)}?action=add_invoice", status_code=303)
        ctx = await context(page, with_ledger=False)
        ctx.update(action="add_invoice")
        return panel(request, ctx)

    @post("/invoices", name="plus_add_invoice")
    async def add_invoice(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page
    ) -> Response[Any]:
        account = page.account
        form = await read_form(request)
        new = None
        try:
            new = ledger.validate_invoice(
                vehicle_id=form.get("vehicle_id"),
                charge_type=form.get("charge_type"),
                description=form.get("description"),
                amount=form.get("amount"),
                due_date=form.get("due_date"),
                vehicle_ids={v.id or 0 for v in account.vehicles},
                today=local_today(page.now, account.location.timezone),
            )
        except ledger.InvoiceInvalid as exc:
            form.errors = {**exc.errors, **form.errors}  # a refused field keeps read_form's message
        if new is None or not form.ok:  # not form.ok: a field read_form refused (a 400)
            ctx = await context(page)
            ctx.update(action="add_invoice", form=form)
            return respond(request, ctx, 422)
        invoice = await ledger.add_checked(
            page.db, new, staff=staff, client_id=page.client_id, now=page.now
        )
        if not is_htmx(request):
            return Redirect(f"{base(page.client_id)}?added={invoice.number}", status_code=303)
        ctx = await context(page)
        ctx["notice"] = (
            "ok",
            f"Invoice {invoice.number} added: {new.description}, {money(invoice.total_cents)}.",
        )
        return respond(request, ctx)

    @post("/invoices/{invoice_id:int}/void", name="plus_void_invoice")
    async def void(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page, invoice_id: FromPath[int]
    ) -> Response[Any]:
        try:
            invoice = await ledger.void_invoice(
                page.db, staff=staff, client_id=page.client_id, invoice_id=invoice_id, now=page.now
            )
        except NotFound:
            raise NotFoundException() from None
        except (ledger.NotAllowed, ledger.CannotVoid) as exc:
            ctx = await context(page)
            ctx["notice"] = ("error", exc.message)
            return respond(request, ctx, 403 if isinstance(exc, ledger.NotAllowed) else 409)
        if not is_htmx(request):
            return Redirect(f"{base(page.client_id)}?voided={invoice.number}", status_code=303)
        ctx = await context(page)
        ctx["notice"] = ("ok", f"Invoice {invoice.number} voided.")
        return respond(request, ctx)
