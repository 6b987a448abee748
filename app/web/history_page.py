"""The Account History tab's page, shared by its panels (web/history.py, invoices.py,
take_payment.py, refunds.py): its context (client header, a page of the ledger, what the staff
member may do) and how an answer is drawn.

Every form of the tab works as a plain post (redirect back to the tab) and as htmx (the action
panel in place, with the ledger and the header's alert refreshed out of band).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException

from app.domain.periods import local_today
from app.services import ledger
from app.services.ledger import PaymentView
from app.services.payments import refunds
from app.web.forms import Form, is_htmx
from app.web.plus import VARY, ClientPage, client_header_context
from app.web.render import render

PATH = "/plus/clients/{client_id:int}/history"
LEDGER_VARY = {"Vary": "HX-Request, HX-Target"}
PAGE, PANEL = "plus/history.html", "plus/_history_action.html"


def base(client_id: int) -> str:
    return f"/plus/clients/{client_id}/history"


async def context(page: ClientPage, with_ledger: bool = True, before: str = "") -> dict[str, Any]:
    """What the tab's templates use: with the ledger's page that starts `before` (the newest
    without it), or without the ledger, for an htmx answer that only redraws the panel."""
    account, staff = page.account, page.staff
    if with_ledger:
        tz = account.location.timezone
        try:
            led = await ledger.ledger(
                page.db, page.client_id, now=page.now, tz=tz, vehicles=account.labels, before=before
            )
        except ledger.BadCursor as exc:
            raise ClientException(detail=exc.message) from None
        ctx = client_header_context(account, led.past_due_cents)
        ctx.update(staff=staff, now=page.now)
    else:
        led = None
        ctx, _ = await page.header()
    ctx.update(
        tab="history",
        today=local_today(page.now, account.location.timezone),
        ledger=led,
        before=before,
        can_void=staff.role in ledger.VOID_ROLES,
        can_refund=staff.role in refunds.REFUND_ROLES,
        base=base(page.client_id),
        action="",
        form=Form(),
        notice=None,
    )
    return ctx


def respond(
    request: Request[Any, Any, Any], ctx: dict[str, Any], status_code: int = 200
) -> Response[Any]:
    """htmx: the action panel, plus the ledger and header alert out of band. Else: the page."""
    name = PANEL if is_htmx(request) else PAGE
    return render(name, status_code=status_code, headers=VARY, oob=True, **ctx)


def panel(
    request: Request[Any, Any, Any], ctx: dict[str, Any], status_code: int = 200
) -> Response[Any]:
    """htmx: only the action panel (the ledger did not change). Else: the page."""
    name = PANEL if is_htmx(request) else PAGE
    return render(name, status_code=status_code, headers=VARY, oob=False, **ctx)


def card_words(payment: PaymentView, fallback: str = "the card") -> str:
    if payment.card_brand and payment.card_last4:
        return f"{payment.card_brand} ending {payment.card_last4}"
    return fallback
