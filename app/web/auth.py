"""Sign-in and sign-out for staff (/plus/login) and clients (/account/login): one flow.

Signing in starts a new server-side session with a new id (web/sessions.py); signing out
deletes it from the shared store. After a timeout the login page says why, returns the person
to the page they were on, and offers to send again a form they posted into the ended session.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from app.domain.errors import DomainError
from app.i18n import N_, ngettext
from app.i18n import gettext as _
from app.services import sign_in
from app.settings import Settings
from app.web import deps
from app.web.deps import CLIENT, STAFF, Area, Db, clock_of
from app.web.forms import Form, read_form
from app.web.render import render

TEMPLATES = {"plus": "plus/login.html", "account": "account/login.html"}

# (signed-in id, what else the session keeps about them)
SignIn = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


def _safe_next(target: str | None, prefix: str) -> str:
    """Only same-site paths under the surface's own prefix: no open redirects."""
    if not target:
        return prefix
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith(prefix) or "//" in target:
        return prefix
    return target


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address the connection comes from. Behind a proxy that is the proxy's own, unless
    the server is told to trust the proxy's X-Forwarded-For (uvicorn trusts it from
    FORWARDED_ALLOW_IPS, 127.0.0.1 by default): the app never reads that header itself, since
    anyone can send one."""
    return request.client.host if request.client else "unknown"


def _notice(area: Area, note: dict[str, Any], settings: Settings) -> str | None:
    if note.get("reason") == "idle":
        minutes = area.idle_seconds(settings) // 60
        return _(
            "You were signed out after %(minutes)s minutes without activity. Sign in again to "
            "carry on.",
            minutes=minutes,
        )
    if note.get("reason") == "expired":
        hours = settings.session_max_age_seconds // 3600
        return _(
            "For your security you were signed out %(hours)s hours after signing in. Sign in "
            "again to carry on.",
            hours=hours,
        )
    return None


async def _login_page(request: Request[Any, Any, Any], area: Area, next: str | None) -> Any:
    prefix = f"/{area.name}"
    if await deps.signed_in(request, area) is not None:
        return Redirect(_safe_next(next, prefix))
    note = deps.ended_note(request, area)
    notice = _notice(area, note, deps.settings_of(request))
    note.pop("reason", None)  # said once; what to send again stays until sign-in
    return render(
        TEMPLATES[area.name],
        values={},
        errors={},
        next=_safe_next(next or note.get("next"), prefix),
        notice=notice,
    )


async def _login(request: Request[Any, Any, Any], area: Area, form: Form, run: SignIn) -> Any:
    nxt = _safe_next(form.get("next"), f"/{area.name}")
    headers = None
    if form.ok:
        try:
            user_id, extra = await run()
        except sign_in.TooManyAttempts as exc:
            form.error(
                "form",
                ngettext(
                    "Too many attempts. Try again in %(num)s minute.",
                    "Too many attempts. Try again in %(num)s minutes.",
                    exc.minutes,
                )
                if area is CLIENT and exc.minutes < 120
                else exc.message,
            )
            status = 429
            headers = {"Retry-After": str(max(1, math.ceil(exc.wait.total_seconds())))}
        except DomainError as exc:
            form.error("password", exc.message)
            status = 401
        else:
            return _welcome(request, area, user_id, extra, nxt)
    else:
        status = 422
    form.values.pop("password", None)
    return render(
        TEMPLATES[area.name],
        status_code=status,
        headers=headers,
        values=form.values,
        errors=form.errors,
        next=nxt,
        notice=None,
    )


def _welcome(
    request: Request[Any, Any, Any],
    area: Area,
    user_id: int,
    extra: dict[str, Any],
    nxt: str,
) -> Any:
    note = deps.ended_note(request, area)
    deps.start_session(request, area, user_id, clock_of(request).now(), **extra)
    resume = note.get("resume") if note.get("user") == user_id else None
    if isinstance(resume, dict) and _safe_next(resume.get("action"), f"/{area.name}") == (
        resume.get("action")
    ):
        # Posted into the session that timed out: the same person may send it again now.
        return render(TEMPLATES[area.name], values={}, errors={}, next=nxt, resume=resume)
    return Redirect(nxt, status_code=303)


class StaffAuthController(Controller):
    path = "/plus"

    @get("/login", name="plus_login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Any:
        return await _login_page(request, STAFF, next)

    @post("/login", name="plus_login_post")
    async def login(self, request: Request[Any, Any, Any], db: Db) -> Any:
        form = await read_form(request)
        email, password = form.get("email"), form.values.get("password", "")
        if not email:
            form.error("email", "Enter your work email address.")
        if not password:
            form.error("password", "Enter your password.")

        async def run() -> tuple[int, dict[str, Any]]:
            user = await sign_in.staff_sign_in(
                db, email, password, client_address(request), clock_of(request).now()
            )
            assert user.id is not None
            return user.id, {"role": user.role}

        return await _login(request, STAFF, form, run)

    @post("/logout", name="plus_logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()  # deleted from the shared store: the cookie is worth nothing now
        return Redirect("/plus/login", status_code=303)


class ClientAuthController(Controller):
    path = "/account"

    @get("/login", name="account_login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Any:
        return await _login_page(request, CLIENT, next)

    @post("/login", name="account_login_post")
    async def login(self, request: Request[Any, Any, Any], db: Db) -> Any:
        form = await read_form(request)
        account, password = form.get("account_number"), form.values.get("password", "")
        if not account:
            form.error("account_number", N_("Enter your 6-digit account number."))
        elif not sign_in.ACCOUNT_NUMBER.fullmatch(account):
            form.error("account_number", N_("Your account number is 6 digits, like 100001."))
        if not password:
            form.error("password", N_("Enter your password."))

        async def run() -> tuple[int, dict[str, Any]]:
            client = await sign_in.client_sign_in(
                db, account, password, client_address(request), clock_of(request).now()
            )
            assert client.id is not None
            return client.id, {}

        return await _login(request, CLIENT, form, run)

    @post("/logout", name="account_logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/account/login", status_code=303)
