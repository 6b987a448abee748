"""PLUS Web: the client page and Send Secure Payment Link (client search: web/search.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import links as link_rules
from app.domain.errors import DomainError, InvalidDays, InvalidPhone, StaleSummary
from app.domain.periods import local_today
from app.domain.phone import national
from app.domain.summary import (
    InvoiceSummary,
    NothingPastDue,
    OpenInvoice,
    parse_choice,
    past_due_total,
)
from app.services import accounts, autopay, client_language, send_link
from app.services.accounts import AccountView, PaymentLink
from app.services.summary import NotFound, PaymentsNotAccepted, summarize
from app.web.deps import (
    Db,
    Staff,
    clock_of,
    read_account,
    read_open_invoices,
    settings_of,
)
from app.web.forms import Form, is_htmx, parse_id, read_form
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
    account = await read_account(db, client_id, latest_link=latest_link)
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
    invoices = await read_open_invoices(db, account.client.id)
    return client_header_context(account, past_due_cents(account, invoices, now)), invoices


@dataclass(frozen=True)
class ClientPage:
    """What every handler of a client's PLUS pages starts from: who asks, the request's
    session and time, and the client's account (404 when there is no such client)."""

    staff: Any  # the signed-in StaffUser (the `staff` dependency)
    db: AsyncSession
    now: datetime
    account: AccountView

    @property
    def client_id(self) -> int:
        return self.account.client.id

    async def header(self, **values: Any) -> tuple[dict[str, Any], list[OpenInvoice]]:
        """The client header's context (with the past-due alert), the staff member, the time
        and `values`, and the open invoices it was computed from."""
        ctx, invoices = await header_with_open_invoices(self.db, self.account, self.now)
        ctx.update(staff=self.staff, now=self.now, **values)
        return ctx, invoices

    def at(self, now: datetime) -> ClientPage:
        """The same page at another time (after a call to the processor)."""
        return replace(self, now=now)

    async def reread(self, now: datetime) -> ClientPage:
        """The page at `now` with the account read again (after a service wrote in its own
        sessions): nothing of this session's copies is kept."""
        self.db.expunge_all()
        account = await account_or_404(self.db, self.client_id)
        return ClientPage(self.staff, self.db, now, account)


# The clock comes from the app's state, not a dependency: a provider whose dependencies resolve
# one at a time (db, then staff) spares Litestar a task group per request.
async def provide_client_page(
    request: Request[Any, Any, Any], staff: Staff, db: Db, client_id: FromPath[int]
) -> ClientPage:
    now = clock_of(request).now()
    return ClientPage(staff, db, now, await account_or_404(db, client_id))


async def provide_client_page_with_link(
    request: Request[Any, Any, Any], staff: Staff, db: Db, client_id: FromPath[int]
) -> ClientPage:
    """The page with the client's newest payment link (the client page's Send panel)."""
    account = await account_or_404(db, client_id, latest_link=True)
    return ClientPage(staff, db, clock_of(request).now(), account)


CLIENT_PAGE = {"page": Provide(provide_client_page)}
Page = NamedDependency[ClientPage]


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
    dependencies = CLIENT_PAGE

    @get(
        "/clients/{client_id:int}",
        name="plus_client",
        dependencies={"page": Provide(provide_client_page_with_link)},
    )
    async def client_page(self, request: Request[Any, Any, Any], page: Page) -> Response[Any]:
        ctx, _ = await page.header(tab="info", state="closed", form=Form())
        latest = page.account.latest_link
        if latest is not None:
            view = link_view(latest, page.now)
            if not view.final or request.query_params.get("sent"):
                ctx.update(state="sent", lv=view)
        return render("plus/client.html", headers=VARY, **ctx)

    @post("/clients/{client_id:int}/language", name="plus_client_language")
    async def set_language(
        self, request: Request[Any, Any, Any], staff: Staff, db: Db, client_id: FromPath[int]
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
                now=clock_of(request).now(),
            )
        except NotFound:
            raise NotFoundException() from None
        except client_language.UnknownLanguage as exc:
            raise ValidationException(detail=exc.message) from None
        return Redirect(f"/plus/clients/{client_id}?language=saved", status_code=303)

    @get("/clients/{client_id:int}/send-link", name="plus_send_link_form")
    async def send_link_form(self, request: Request[Any, Any, Any], page: Page) -> Response[Any]:
        """Open the form (no query) or Get Summary (vehicle_id and days given)."""
        account = page.account
        params = request.query_params
        form = Form(values={k: str(params.get(k, "")) for k in ("vehicle_id", "days", "phone")})
        ctx, invoices = await page.header(tab="info", form=form, state="form")
        status = 200
        if not account.location.accepts_payments:
            ctx["state"] = "closed"
            form.error("form", PaymentsNotAccepted.message)
            status = 409
        elif "vehicle_id" in params or "days" in params:
            summary, status = _get_summary(account, form, page.now, invoices)
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
        self, request: Request[Any, Any, Any], staff: Staff, page: Page
    ) -> Response[Any]:
        form = await read_form(request)
        settings = settings_of(request)
        ctx, invoices = await page.header(tab="info", form=form, state="summary")

        def answer(status: int, state: str = "summary") -> Response[Any]:
            ctx["state"] = state
            return fragment_or_page(
                request, "plus/_send_link.html", "plus/client.html", ctx, status
            )

        if not page.account.location.accepts_payments:
            form.error("form", PaymentsNotAccepted.message)
            return answer(409, "closed")
        summary, status = _get_summary(page.account, form, page.now, invoices)
        if summary is None:
            return answer(status, "form")
        ctx["summary"] = summary
        try:
            sent = await send_link.send(
                page.db,
                staff=staff,
                client_id=page.client_id,
                vehicle_id=summary.vehicle_id,
                days=summary.days,
                raw_phone=form.get("phone"),
                # The fingerprint of the summary staff reviewed: a send is refused if the summary
                # moved since (period, invoices or amount), never only if the total did.
                reviewed=form.get("reviewed"),
                now=page.now,
                ttl_seconds=settings.link_ttl_seconds,
                base_url=settings.base_url,
                company=settings.company_name,
                box=request.app.state.box,
            )
        except DomainError as exc:
            field, status, message = _send_refusal(exc)
            form.error(field, message)
            return answer(status)
        if not is_htmx(request):
            return Redirect(
                f"/plus/clients/{page.client_id}?sent={sent.link.id}#send-link", status_code=303
            )
        ctx.update(state="sent", lv=link_view(sent.link, page.now), just_sent=True)
        return render("plus/_send_link.html", headers=VARY, **ctx)

    @get("/clients/{client_id:int}/links/{link_id:int}/status", name="plus_link_status")
    async def link_status(
        self, request: Request[Any, Any, Any], page: Page, link_id: FromPath[int]
    ) -> Response[Any]:
        link = await accounts.link(page.db, page.client_id, link_id)
        if link is None:
            raise NotFoundException()
        if not is_htmx(request):
            return Redirect(f"/plus/clients/{page.client_id}/links#link-{link_id}", status_code=303)
        view = link_view(link, page.now)
        headers = dict(VARY)
        if view.status == "paid":  # the client page redraws the vehicles' paid-through dates
            headers["HX-Trigger"] = "link-paid"
        return _link_status(page, view, headers)

    @get("/clients/{client_id:int}/vehicles", name="plus_client_vehicles")
    async def vehicles(self, request: Request[Any, Any, Any], page: Page) -> Response[Any]:
        """The vehicles panel with each vehicle's AutoPay status (and the past-due alert, out
        of band): read once the client page has loaded, and again after a link was paid; a
        plain request gets the client page."""
        if not is_htmx(request):
            return Redirect(f"/plus/clients/{page.client_id}", status_code=303)
        ctx, _ = await header_with_open_invoices(page.db, page.account, page.now)
        retry_days = settings_of(request).retry_days
        ctx["autopay"] = await autopay.staff_view(page.db, page.account, retry_days)
        return render("plus/_vehicles_refresh.html", headers=VARY, oob=True, **ctx)

    @post("/clients/{client_id:int}/links/{link_id:int}/cancel", name="plus_link_cancel")
    async def cancel_link(
        self, request: Request[Any, Any, Any], staff: Staff, page: Page, link_id: FromPath[int]
    ) -> Response[Any]:
        client_id = page.client_id
        link = await accounts.link(page.db, client_id, link_id)
        if link is None:
            raise NotFoundException()
        error = None
        try:
            link = await send_link.cancel(
                page.db, staff=staff, client_id=client_id, link_id=link_id, now=page.now
            )
        except send_link.LinkNotCancellable as exc:
            error = exc.message
            link = await accounts.link(page.db, client_id, link_id)
            assert link is not None
        if not is_htmx(request):
            return Redirect(f"/plus/clients/{client_id}/links#link-{link_id}", status_code=303)
        view = link_view(link, page.now)
        return _link_status(page, view, VARY, status_code=409 if error else 200, error=error)

    @get("/clients/{client_id:int}/links", name="plus_client_links")
    async def links_tab(self, page: Page) -> Response[Any]:
        rows = await accounts.links(page.db, page.client_id)
        ctx, _ = await page.header(
            tab="links", rows=[(r, link_view(r.link, page.now)) for r in rows]
        )
        return render("plus/links.html", headers=VARY, **ctx)


def _link_status(
    page: ClientPage, view: LinkView, headers: dict[str, str], status_code: int = 200, **extra: Any
) -> Response[Any]:
    return render(
        "plus/_link_status.html",
        status_code=status_code,
        headers=headers,
        lv=view,
        client=page.account.client,
        tz=page.account.location.timezone,
        **extra,
    )


def _send_refusal(exc: DomainError) -> tuple[str, int, str]:
    """Why a link was not sent, as (field, status, message) for the form."""
    if isinstance(exc, InvalidPhone | send_link.OptedOut):
        return "phone", 422, exc.message
    if isinstance(exc, send_link.TooManyLinks | send_link.TooManyTexts):
        return "form", 429, exc.message
    if isinstance(exc, StaleSummary):  # the account moved meanwhile: staff's words
        return (
            "form",
            409,
            (
                "The amount changed since you reviewed it (the account was updated). Review the "
                "new Total Due Amount, then send."
            ),
        )
    if isinstance(exc, NothingPastDue):  # paid meanwhile: nothing past due to send on its own
        return "form", 409, exc.message
    raise exc


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
    if vehicle is None or form.errors.keys() & {"vehicle_id", "days"}:
        return None, 422  # the summary's own fields; another field's error is said by it
    try:
        return summarize(account.location, vehicle, days, now, invoices), 200
    except NothingPastDue as exc:
        form.error("days", exc.message)
        return None, 409
