"""What the tabs of My Account's Payment page share (Make a Payment, Payment Methods, AutoPay):
the tabs, the ?done= notices, the 404 for another client's ids, and the one page builder.
Every lookup is scoped to the signed-in client; another client's ids are a 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from app import i18n
from app.adapters.payments.port import PaymentGateway
from app.clock import Clock
from app.domain.errors import DomainError
from app.domain.phone import national
from app.i18n import N_
from app.services import portal
from app.settings import Settings
from app.web import outcomes
from app.web.deps import Db, Me, clock_of, settings_of
from app.web.forms import Form, is_htmx
from app.web.render import render

TABS = (
    ("make", N_("Make a Payment"), "/account/payment"),
    ("methods", N_("Payment Methods"), "/account/payment/methods"),
    ("autopay", N_("AutoPay"), "/account/payment/autopay"),
)
TEMPLATES = {
    "make": "account/payment_make.html",
    "methods": "account/payment_methods.html",
    "autopay": "account/payment_autopay.html",
}
NOTICES = {
    "card_added": N_("Your card was saved."),
    "default_set": N_("Your default card was changed."),
    "card_removed": N_("The card was removed."),
    "autopay_on": N_("AutoPay is on. We will charge your card before each period ends."),
    "autopay_off": N_("AutoPay is off for that vehicle."),
    "language_set": N_("Your language was saved."),
}


def notice_for(done: str | None) -> str | None:
    """A ?done= notice, in the reader's language."""
    message = NOTICES.get(done or "")
    return i18n.gettext(message) if message else None


def speak(me: Any) -> None:
    """Pages of a signed-in client speak the client's language, unless the reader switched.
    Called by each handler: a dependency provider may run in a task of its own, whose choice
    of language the handler would not see."""
    i18n.prefer(me.language)


def not_found(exc: DomainError) -> NotFoundException:
    """The error page translates the detail (app.web.errors)."""
    return NotFoundException(detail=exc.message % exc.params if exc.params else exc.message)


def refuse(form: Form, exc: DomainError, channel: outcomes.Channel) -> int:
    """The map's message by the form's field, and its status; a record that is not this
    client's (404) is the not-found page instead."""
    said = outcomes.refusal(exc, channel)
    if said.status == 404:
        raise not_found(exc) from exc
    form.error(said.field, said.message, **said.params)
    return said.status


def back(target: str | None, default: str) -> str:
    """Only our own Payment page tabs and Account Information as redirect targets."""
    allowed = {"/account", *(path for _, _, path in TABS)}
    return target if target in allowed else default


def redirect(request: Request[Any, Any, Any], target: str) -> Response[Any]:
    """After a change: htmx is told where to go, a plain form post gets a 303."""
    if is_htmx(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


@dataclass(frozen=True)
class TabPage:
    """The signed-in client's Payment page, one tab at a time: the page builder of every tab."""

    me: Me
    db: Db
    clock: Clock
    settings: Settings

    @property
    def client_id(self) -> int:
        return self.me.id or 0

    async def place(self) -> tuple[Any, date]:
        """The client's service location and the date there."""
        return await portal.place(self.db, self.me.location_id, self.clock.now())

    def card_entry(self) -> dict[str, Any]:
        """What a tab with the card entry (pay/_card_entry.html) needs."""
        return {
            "gateway_name": self.settings.payments_gateway,
            "stripe_publishable_key": self.settings.stripe_publishable_key,
            "support_phone": national(self.settings.support_phone),
        }

    async def show(
        self,
        tab: str,
        contents: Callable[[TabPage, date], Awaitable[dict[str, Any]]],
        form: Form | None = None,
        status_code: int = 200,
        notice: str | None = None,
    ) -> Response[Any]:
        """A tab whose lists (`contents`) are read for the date at the client's location."""
        location, today = await self.place()
        context = await contents(self, today)
        return await self.render(tab, location, form, status_code, notice, **context)

    async def render(
        self,
        tab: str,
        location: Any,
        form: Form | None = None,
        status_code: int = 200,
        notice: str | None = None,
        **context: Any,
    ) -> Response[Any]:
        return render(
            TEMPLATES[tab],
            status_code=status_code,
            me=self.me,
            tab=tab,
            tabs=TABS,
            location=location,
            form=form or Form(),
            notice=notice,
            live_link=await portal.live_link(self.db, self.client_id, self.clock.now()),
            **context,
        )


Tab = NamedDependency[TabPage]  # each tab controller provides it as "tab" (provide_tab)


def gateway(request: Request[Any, Any, Any]) -> PaymentGateway:
    found: PaymentGateway = request.app.state.gateway
    return found


async def provide_tab(request: Request[Any, Any, Any], me: Me, db: Db) -> TabPage:
    return TabPage(me, db, clock_of(request), settings_of(request))
