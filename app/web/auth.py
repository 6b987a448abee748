"""Sign-in and sign-out for staff (/plus/login) and clients (/account/login)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from app.domain.errors import DomainError
from app.services import sign_in
from app.web.deps import ClockDep, Db
from app.web.forms import read_form
from app.web.render import render


def _safe_next(target: str | None, prefix: str) -> str:
    """Only same-site paths under the surface's own prefix: no open redirects."""
    if not target:
        return prefix
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith(prefix) or "//" in target:
        return prefix
    return target


class StaffAuthController(Controller):
    path = "/plus"

    @get("/login", name="plus_login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Any:
        if request.session.get("staff_id"):
            return Redirect(_safe_next(next, "/plus"))
        return render("plus/login.html", values={}, errors={}, next=_safe_next(next, "/plus"))

    @post("/login", name="plus_login_post")
    async def login(self, request: Request[Any, Any, Any], db: Db, clock: ClockDep) -> Any:
        form = await read_form(request)
        email, password = form.get("email"), form.values.get("password", "")
        nxt = _safe_next(form.get("next"), "/plus")
        if not email:
            form.error("email", "Enter your work email address.")
        if not password:
            form.error("password", "Enter your password.")
        if form.ok:
            try:
                user = await sign_in.staff_sign_in(db, email, password, clock.now())
            except sign_in.TooManyAttempts as exc:
                form.error("form", exc.message)
                status = 429
            except DomainError as exc:
                form.error("password", exc.message)
                status = 401
            else:
                request.clear_session()
                request.set_session({"staff_id": user.id, "role": user.role})
                return Redirect(nxt, status_code=303)
        else:
            status = 422
        form.values.pop("password", None)
        return render(
            "plus/login.html",
            status_code=status,
            values=form.values,
            errors=form.errors,
            next=nxt,
        )

    @post("/logout", name="plus_logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/plus/login", status_code=303)


class ClientAuthController(Controller):
    path = "/account"

    @get("/login", name="account_login")
    async def login_page(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Any:
        if request.session.get("client_id"):
            return Redirect(_safe_next(next, "/account"))
        return render(
            "account/login.html",
            values={},
            errors={},
            next=_safe_next(next, "/account"),
        )

    @post("/login", name="account_login_post")
    async def login(self, request: Request[Any, Any, Any], db: Db, clock: ClockDep) -> Any:
        form = await read_form(request)
        account, password = form.get("account_number"), form.values.get("password", "")
        nxt = _safe_next(form.get("next"), "/account")
        if not account:
            form.error("account_number", "Enter your 6-digit account number.")
        elif not (account.isdigit() and len(account) == 6):
            form.error("account_number", "Your account number is 6 digits, like 100001.")
        if not password:
            form.error("password", "Enter your password.")
        if form.ok:
            try:
                client = await sign_in.client_sign_in(db, account, password, clock.now())
            except sign_in.TooManyAttempts as exc:
                form.error("form", exc.message)
                status = 429
            except DomainError as exc:
                form.error("password", exc.message)
                status = 401
            else:
                request.clear_session()
                request.set_session({"client_id": client.id})
                return Redirect(nxt, status_code=303)
        else:
            status = 422
        form.values.pop("password", None)
        return render(
            "account/login.html",
            status_code=status,
            values=form.values,
            errors=form.errors,
            next=nxt,
        )

    @post("/logout", name="account_logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/account/login", status_code=303)
