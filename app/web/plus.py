"""PLUS Web: the client page and Send Secure Payment Link (client search: web/search.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import links as link_rules
from app.domain.errors import InvalidDays, InvalidPhone
from app.domain.periods import local_today
from app.domain.phone import national
from app.domain.summary import (
    InvoiceSummary,
    NothingPastDue,
    OpenInvoice,
    parse_choice,
    past_due_total,
)
from app.services import client_language, send_link
from app.services.summary import NotFound, PaymentsNotAccepted, summarize
from app.store import queries, reads
from app.store.models import PaymentLink
from app.store.reads import AccountView
from app.web.deps import ClockDep, Db, SettingsDep, Staff
from app.web.forms import Form, is_htmx, parse_id, parse_whole, read_form
from app.web.render import render

VARY = {"Vary": "HX-Request"}
STEPS = ("queued", "sent", "delivered", "opened", "paid")


@dataclass(frozen=True)
class Step:
    name: str
    reached: bool
    at: datetime | None  # when it happened, when known


@dataclass(frozen=True)
class LinkView:
    link: PaymentLink
    status: str  # effective: a live link past its expiry shows as expired
    final: bool
    seconds_left: int
    steps: tuple[Step, ...]  # queued → paid, each reached or not, whatever the link became
    ended: bool  # expired, cancelled, failed, locked or superseded: shown after the steps
    ended_at: datetime | None


def link_view(link: PaymentLink, now: datetime) -> LinkView:
    status = link_rules.effective_status(link.status, link.expires_at, now)
    times = (link.created_at, link.sent_at, link.delivered_at, link.opened_at, link.paid_at)
    # A step is reached when it has a time, or a later step (or the stored status) got there:
    # an expired link still shows whether it was delivered and opened.
    furthest = max(
        [i for i, at in enumerate(times) if at is not None]
        + ([STEPS.index(link.status)] if link.status in STEPS else [])
    )
    ended_at = {
        "expired": link.expires_at,
        "cancelled": link.cancelled_at,
        "superseded": link.cancelled_at,
        "failed": link.failed_at,
    }.get(status)
    return LinkView(
        link=link,
        status=status,
        final=status not in link_rules.LIVE_STATUSES,
        seconds_left=link_rules.seconds_left(link.expires_at, now),
        steps=tuple(Step(s, i <= furthest, times[i]) for i, s in enumerate(STEPS)),
        ended=status in link_rules.FINAL_STATUSES and status != "paid",
        ended_at=ended_at,
    )


async def account_or_404(
    db: AsyncSession, client_id: int, *, latest_link: bool = False
) -> AccountView:
    account = await reads.account(db, client_id, latest_link=latest_link)
    if account is None:
        raise NotFoundException()
    return account


def past_due_cents(account: AccountView, invoices: list[OpenInvoice], now: datetime) -> int:
    return past_due_total(invoices, local_today(now, account.location.timezone))


def client_header_context(account: AccountView, past_due_cents: int) -> dict[str, Any]:
    return {
        "client": account.client,
        "location": account.location,
        "vehicles": account.vehicles,
        "tz": account.location.timezone,
        "past_due_cents": past_due_cents,
    }


async def header_with_open_invoices(
    db: AsyncSession, account: AccountView, now: datetime
) -> tuple[dict[str, Any], list[OpenInvoice]]:
    invoices = await reads.open_invoices(db, account.client.id)
    return client_header_context(account, past_due_cents(account, invoices, now)), invoices


def fragment_or_page(
    request: Request[Any, Any, Any],
    fragment: str,
    page: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response[Any]:
    name = fragment if is_htmx(request) else page
    return render(name, status_code=status_code, headers=VARY, **context)


class PlusController(Controller):
    path = "/plus"

    @get("/clients/{client_id:int}", name="plus_client")
    async def client_page(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:
        now = clock.now()
        account = await account_or_404(db, client_id, latest_link=True)
        latest = account.latest_link
        ctx, _ = await header_with_open_invoices(db, account, now)
        ctx.update(staff=staff, tab="info", state="closed", form=Form(), now=now)
        if latest is not None:
            view = link_view(latest, now)
            if not view.final or request.query_params.get("sent"):
                ctx.update(state="sent", lv=view)
        return render("plus/client.html", headers=VARY, **ctx)

    @post("/clients/{client_id:int}/language", name="plus_client_language")
    async def set_language(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:
        """The language the client's texts and pages come in (Account Information)."""
        form = await read_form(request)
        try:
            await client_language.set_language(
                db,
                client_id=client_id,
                language=form.get("language"),
                actor_type="staff",
                actor_id=staff.id,
                now=clock.now(),
            )
        except NotFound:
            raise NotFoundException() from None
        except client_language.UnknownLanguage as exc:
            raise ValidationException(detail=exc.message) from None
        return Redirect(f"/plus/clients/{client_id}?language=saved", status_code=303)

    @get("/clients/{client_id:int}/send-link", name="plus_send_link_form")
    async def send_link_form(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:
        """Open the form (no query) or Get Summary (vehicle_id and days given)."""
        now = clock.now()
        account = await account_or_404(db, client_id)
        ctx, invoices = await header_with_open_invoices(db, account, now)
        params = request.query_params
        form = Form(values={k: str(params.get(k, "")) for k in ("vehicle_id", "days", "phone")})
        ctx.update(staff=staff, tab="info", form=form, now=now, state="form")
        status = 200
        if not account.location.accepts_payments:
            ctx["state"] = "closed"
            form.error("form", PaymentsNotAccepted.message)
            status = 409
        elif "vehicle_id" in params or "days" in params:
            summary, status = _get_summary(account, form, now, invoices)
            if summary is not None:
                ctx.update(state="summary", summary=summary)
                if not form.get("phone"):
                    form.values["phone"] = national(account.client.phone_e164)
        else:
            v = account.vehicles[0] if account.vehicles else None
            form.values["vehicle_id"] = str(v.id) if v else ""
            form.values["days"] = str(v.billing_cycle_days) if v else "30"
        return fragment_or_page(request, "plus/_send_link.html", "plus/client.html", ctx, status)

    @post("/clients/{client_id:int}/links", name="plus_send_link")
    async def send_message(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        settings: SettingsDep,
        client_id: FromPath[int],
    ) -> Response[Any]:
        now = clock.now()
        account = await account_or_404(db, client_id)
        form = await read_form(request)
        ctx, invoices = await header_with_open_invoices(db, account, now)
        ctx.update(staff=staff, tab="info", form=form, now=now, state="summary")
        if not account.location.accepts_payments:
            form.error("form", PaymentsNotAccepted.message)
            ctx["state"] = "closed"
            return fragment_or_page(request, "plus/_send_link.html", "plus/client.html", ctx, 409)
        summary, status = _get_summary(account, form, now, invoices)
        if summary is None:
            ctx["state"] = "form"
            return fragment_or_page(
                request, "plus/_send_link.html", "plus/client.html", ctx, status
            )
        ctx["summary"] = summary
        # What staff reviewed, to refuse sending if the amount moved since; never the amount.
        reviewed_text = form.get("reviewed_total_cents")
        reviewed = parse_whole(reviewed_text, max_digits=9)
        try:
            sent = await send_link.send(
                db,
                staff=staff,
                client_id=client_id,
                vehicle_id=summary.vehicle_id,
                days=summary.days,
                raw_phone=form.get("phone"),
                reviewed_total_cents=reviewed,
                now=now,
                ttl_seconds=settings.link_ttl_seconds,
                base_url=settings.base_url,
                company=settings.company_name,
                box=request.app.state.box,
            )
        except (InvalidPhone, send_link.OptedOut) as exc:
            form.error("phone", exc.message)
            return fragment_or_page(request, "plus/_send_link.html", "plus/client.html", ctx, 422)
        except (send_link.TooManyLinks, send_link.TooManyTexts) as exc:
            form.error("form", exc.message)
            return fragment_or_page(request, "plus/_send_link.html", "plus/client.html", ctx, 429)
        except (send_link.SummaryChanged, NothingPastDue) as exc:  # the account moved meanwhile
            form.error("form", exc.message)
            return fragment_or_page(request, "plus/_send_link.html", "plus/client.html", ctx, 409)
        if not is_htmx(request):
            return Redirect(
                f"/plus/clients/{client_id}?sent={sent.link.id}#send-link", status_code=303
            )
        ctx.update(state="sent", lv=link_view(sent.link, now), just_sent=True)
        return render("plus/_send_link.html", headers=VARY, **ctx)

    @get("/clients/{client_id:int}/links/{link_id:int}/status", name="plus_link_status")
    async def link_status(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
        link_id: FromPath[int],
    ) -> Response[Any]:
        link = await db.get(PaymentLink, link_id)
        if link is None or link.client_id != client_id:
            raise NotFoundException()
        if not is_htmx(request):
            return Redirect(f"/plus/clients/{client_id}/links#link-{link_id}", status_code=303)
        account = await account_or_404(db, client_id)
        view = link_view(link, clock.now())
        headers = dict(VARY)
        if view.status == "paid":  # the client page redraws the vehicles' paid-through dates
            headers["HX-Trigger"] = "link-paid"
        return render(
            "plus/_link_status.html",
            headers=headers,
            lv=view,
            client=account.client,
            tz=account.location.timezone,
        )

    @get("/clients/{client_id:int}/vehicles", name="plus_client_vehicles")
    async def vehicles(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:
        """The vehicles panel (and the past-due alert, out of band), read again after a link
        was paid; a plain request gets the client page."""
        if not is_htmx(request):
            return Redirect(f"/plus/clients/{client_id}", status_code=303)
        account = await account_or_404(db, client_id)
        ctx, _ = await header_with_open_invoices(db, account, clock.now())
        return render("plus/_vehicles_refresh.html", headers=VARY, oob=True, **ctx)

    @post("/clients/{client_id:int}/links/{link_id:int}/cancel", name="plus_link_cancel")
    async def cancel_link(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
        link_id: FromPath[int],
    ) -> Response[Any]:
        now = clock.now()
        link = await db.get(PaymentLink, link_id)
        if link is None or link.client_id != client_id:
            raise NotFoundException()
        error = None
        try:
            link = await send_link.cancel(
                db, staff=staff, client_id=client_id, link_id=link_id, now=now
            )
        except send_link.LinkNotCancellable as exc:
            error = exc.message
            await db.refresh(link)
        account = await account_or_404(db, client_id)
        if not is_htmx(request):
            return Redirect(f"/plus/clients/{client_id}/links#link-{link_id}", status_code=303)
        return render(
            "plus/_link_status.html",
            status_code=409 if error else 200,
            headers=VARY,
            lv=link_view(link, now),
            client=account.client,
            tz=account.location.timezone,
            error=error,
        )

    @get("/clients/{client_id:int}/links", name="plus_client_links")
    async def links_tab(
        self,
        request: Request[Any, Any, Any],
        staff: Staff,
        db: Db,
        clock: ClockDep,
        client_id: FromPath[int],
    ) -> Response[Any]:
        now = clock.now()
        account = await account_or_404(db, client_id)
        ctx, _ = await header_with_open_invoices(db, account, now)
        rows = await queries.client_links(db, client_id)
        ctx.update(
            staff=staff, tab="links", rows=[(r, link_view(r.link, now)) for r in rows], now=now
        )
        return render("plus/links.html", headers=VARY, **ctx)


def _get_summary(
    account: AccountView, form: Form, now: datetime, invoices: list[OpenInvoice]
) -> tuple[InvoiceSummary | None, int]:
    """Validate vehicle and days from the form and compute the summary (or record errors)."""
    vehicle = None
    try:
        vehicle_id = parse_id(form.get("vehicle_id"))
        vehicle = next(v for v in account.vehicles if v.id == vehicle_id)
    except StopIteration:
        form.error("vehicle_id", "Choose one of this client's vehicles.")
    days = 0
    try:
        days = parse_choice(form.get("days"))
    except InvalidDays as exc:
        form.error("days", exc.message)
    if not form.ok or vehicle is None:
        return None, 422
    try:
        return summarize(account.location, vehicle, days, now, invoices), 200
    except NothingPastDue as exc:
        form.error("days", exc.message)
        return None, 409
