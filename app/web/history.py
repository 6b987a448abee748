"""PLUS Web Account History: the tab with the client's ledger (a page at a time), and the
notice after a plain post came back to it. Its panels: Add New Invoice and void
(web/invoices.py), Take Payment (web/take_payment.py), refunds (web/refunds.py); the page they
share: web/history_page.py."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from litestar.response import Redirect

from app.services import ledger
from app.web.forms import MAX_ID, Form, is_htmx
from app.web.history_page import LEDGER_VARY, PATH, base, context, panel
from app.web.plus import CLIENT_PAGE, ClientPage, Page
from app.web.refunds import refund_notice
from app.web.render import render
from app.web.take_payment import fill_form, paid_notice


async def _notice(
    page: ClientPage, paid: int | None, added: str, voided: str, refunded: int | None
) -> tuple[str, str] | None:
    """What a plain post that came back to the tab says (`?paid=`, `?added=`, ...)."""
    if paid is not None:
        payment = await ledger.payment(page.db, page.client_id, paid) if paid <= MAX_ID else None
        return paid_notice(payment) if payment is not None else None
    if added:
        return ("ok", f"Invoice {added[:20]} added.")
    if voided:
        return ("ok", f"Invoice {voided[:20]} voided.")
    if refunded is not None:
        refund = (
            await ledger.refund(page.db, page.client_id, refunded) if refunded <= MAX_ID else None
        )
        return refund_notice(refund) if refund is not None else None
    return None


class HistoryController(Controller):
    path = PATH
    dependencies = CLIENT_PAGE

    @get("/", name="plus_history")
    async def tab(
        self,
        request: Request[Any, Any, Any],
        page: Page,
        action: FromQuery[str] = "",
        paid: FromQuery[int | None] = None,
        added: FromQuery[str] = "",
        voided: FromQuery[str] = "",
        refunded: FromQuery[int | None] = None,
        before: FromQuery[str] = "",
    ) -> Response[Any]:
        """The tab, or with `before` one older page of the ledger (the "Older" link; htmx
        aiming at #ledger gets only the ledger)."""
        ctx = await context(page, before=before[:40])
        if is_htmx(request) and request.headers.get("hx-target") == "ledger":
            return render("plus/_ledger.html", headers=LEDGER_VARY, oob=False, **ctx)
        if action == "add_invoice":
            ctx.update(action="add_invoice")
        elif action == "take_payment":
            await fill_form(page, ctx, Form())
        else:
            ctx["notice"] = await _notice(page, paid, added, voided, refunded)
        return render("plus/history.html", headers=LEDGER_VARY, **ctx)

    @get("/close", name="plus_history_close")
    async def close(self, request: Request[Any, Any, Any], page: Page) -> Response[Any]:
        if not is_htmx(request):
            return Redirect(base(page.client_id), status_code=303)
        return panel(request, await context(page, with_ledger=False))
