"""An audit of every route of the app, in development and in production configuration.

A route that changes state (POST, PUT, PATCH, DELETE) must be CSRF-protected and guarded by a
sign-in (the `staff` or `me` dependency), unless it is listed below as a reviewed exception with
the reason it is safe. Every route answers with the security headers, whatever its status. A new
route fails this test until it is protected or reviewed here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.main import create_app
from app.store.models import Client
from tests.conftest import csrf_for, sign_in_client, sign_in_staff
from tests.integration.test_security_headers import assert_secure, prod_settings

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
GUARDS = {"staff", "me"}  # the sign-in dependencies (app/web/deps.py)

# Reviewed: unsafe routes outside CSRF protection (CSRFConfig.exclude), and why that is safe.
CSRF_EXEMPT = {
    ("POST", "/webhooks/stripe"): "Stripe-Signature HMAC within ±300 s; 404 unless Stripe",
    ("POST", "/webhooks/twilio/status"): "X-Twilio-Signature; 404 unless Twilio",
    ("POST", "/webhooks/twilio/inbound"): "X-Twilio-Signature; 404 unless Twilio",
    ("POST", "/sandbox/payment_methods"): "sandbox only: the test processor's tokenizer",
    ("POST", "/sandbox/challenge/{intent:str}"): "sandbox only: the test bank's 3-D Secure page",
}
SANDBOX_ONLY = {key for key in CSRF_EXEMPT if key[1].startswith("/sandbox/")}
# Reviewed: unsafe routes open without signing in, and what stands in for a sign-in.
PUBLIC = {
    ("POST", "/plus/login"): "signing in (throttled)",
    ("POST", "/account/login"): "signing in (throttled)",
    ("POST", "/plus/logout"): "ends whatever session the browser has",
    ("POST", "/account/logout"): "ends whatever session the browser has",
    ("POST", "/pay/{token:str}"): "the link token (256 random bits) is the credential",
    ("POST", "/pay/{token:str}/confirm"): "the link token (256 random bits) is the credential",
    ("POST", "/dev/sms/{message_id:int}/reply"): "dev only (never registered in production):"
    " anyone plays the client's phone, CSRF-protected",
    **CSRF_EXEMPT,  # a signature, or the sandbox, instead of a session
}


@dataclass(frozen=True)
class Handler:
    method: str
    path: str
    handler: HTTPRouteHandler

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def guarded(self) -> bool:
        return bool(GUARDS & self.needs()) or bool(self.handler.resolve_guards())

    def needs(self) -> set[str]:
        """Every dependency the handler asks for, directly or through another dependency
        (My Account's tabs ask for `tab`, which asks for `me`)."""
        provided = self.handler.resolve_dependencies()
        seen: set[str] = set()
        todo = list(self.handler.parsed_fn_signature.parameters)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in provided:
                todo.extend(provided[name].parsed_fn_signature.parameters)
        return seen

    def url(self, ids: dict[str, str] | None = None) -> str:
        ids = ids or {}

        def fill(m: re.Match[str]) -> str:
            name, kind = m.group(1), m.group(2)
            return {"int": ids.get(name, "1"), "path": "app.css"}.get(kind, "x")

        return re.sub(r"\{(\w+):(\w+)\}", fill, self.path)


def handlers(app: Litestar) -> list[Handler]:
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            assert isinstance(handler, HTTPRouteHandler), (route.path, handler)  # no raw ASGI
            for method in sorted(handler.http_methods):
                out.append(Handler(method, route.path, handler))
    return out


def csrf_protected(app: Litestar, h: Handler) -> bool:
    """As Litestar's CSRFMiddleware decides: not opted out, path not excluded."""
    config = app.csrf_config
    if config is None or h.handler.opt.get(config.exclude_from_csrf_key):
        return False
    patterns = [config.exclude] if isinstance(config.exclude, str) else (config.exclude or [])
    return not any(re.search(p, h.url()) for p in patterns)


def audit(app: Litestar) -> list[str]:
    problems = []
    for h in handlers(app):
        if h.method not in UNSAFE:
            continue
        if not csrf_protected(app, h) and h.key not in CSRF_EXEMPT:
            problems.append(f"{h.method} {h.path}: no CSRF protection and not reviewed")
        if not h.guarded and h.key not in PUBLIC:
            problems.append(f"{h.method} {h.path}: no sign-in guard and not reviewed")
        if csrf_protected(app, h) and h.key in CSRF_EXEMPT:
            problems.append(f"{h.method} {h.path}: reviewed as CSRF-exempt but protected")
    return problems


@pytest.fixture
def dev_app(app: Litestar) -> Litestar:
    return app


@pytest.fixture
def prod_app(db_url: str, clock: FixedClock) -> Litestar:
    return create_app(prod_settings(db_url), clock=clock)


@pytest.fixture
async def prod_client(prod_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=prod_app, base_url="https://pay.example.test") as c:
        yield c


# -- static: what each route declares ----------------------------------------------------------


def test_every_unsafe_route_is_csrf_protected_and_guarded_or_reviewed(
    dev_app: Litestar, prod_app: Litestar
) -> None:
    assert audit(dev_app) == []
    assert audit(prod_app) == []


def test_the_reviewed_exceptions_are_routes_that_exist(
    dev_app: Litestar, prod_app: Litestar
) -> None:
    dev = {h.key for h in handlers(dev_app)}
    prod = {h.key for h in handlers(prod_app)}
    assert set(PUBLIC) <= dev, set(PUBLIC) - dev  # nothing stale in the lists
    assert not SANDBOX_ONLY & prod, "sandbox routes must not exist in production"
    assert {key for key in PUBLIC if not key[1].startswith("/dev/")} - SANDBOX_ONLY <= prod
    assert not {h.key for h in handlers(prod_app) if h.path.startswith("/dev/")}


def test_the_audit_catches_an_unprotected_route(dev_app: Litestar) -> None:
    """The audit itself works: a handler without a guard, or on an excluded path, is named."""
    from litestar import post

    @post("/plus/unguarded")
    async def unguarded() -> None: ...

    @post("/webhooks/unsigned")
    async def unsigned() -> None: ...

    app = Litestar(
        route_handlers=[unguarded, unsigned], csrf_config=dev_app.csrf_config, openapi_config=None
    )
    assert sorted(audit(app)) == [
        "POST /plus/unguarded: no sign-in guard and not reviewed",
        "POST /webhooks/unsigned: no CSRF protection and not reviewed",
        "POST /webhooks/unsigned: no sign-in guard and not reviewed",
    ]


# -- dynamic: what each route answers ----------------------------------------------------------


async def james(app: Litestar) -> dict[str, str]:
    async with app.state.sessionmaker() as s:
        cid = (
            await s.execute(select(Client.id).where(Client.account_number == "100002"))
        ).scalar_one()
    return {"client_id": str(cid)}


async def test_unsafe_routes_refuse_a_post_without_csrf_token_or_sign_in(
    dev_app: Litestar, client: AsyncTestClient[Any]
) -> None:
    ids = await james(dev_app)
    token = await csrf_for(client, "/plus/login")
    for h in handlers(dev_app):
        if h.method not in UNSAFE or h.key in CSRF_EXEMPT:
            continue
        # No token: refused by CSRF before anything else.
        r = await client.request(h.method, h.url(ids), data={"x": "1"}, follow_redirects=False)
        assert r.status_code == 403, (h.key, r.status_code)
        assert_secure(r)
        if h.key in PUBLIC:
            continue
        # A valid token, but nobody signed in: sent to the sign-in page, nothing done.
        r = await client.request(
            h.method, h.url(ids), data={"_csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303, (h.key, r.status_code)
        assert r.headers["location"] in ("/plus/login", "/account/login"), h.key
        assert_secure(r)


async def test_csrf_exempt_routes_refuse_an_unsigned_request(
    client: AsyncTestClient[Any], prod_client: AsyncTestClient[Any]
) -> None:
    for (method, path), _why in CSRF_EXEMPT.items():
        if path.startswith("/webhooks/"):
            r = await prod_client.request(method, path, data={"MessageStatus": "delivered"})
            assert r.status_code in (400, 403), (path, r.status_code)
            assert_secure(r, prod=True)
            r = await client.request(method, path, data={"MessageStatus": "delivered"})
            assert r.status_code == 404, path  # dev: the sandbox and outbox, no webhooks
        else:
            r = await prod_client.request(method, path.replace("{intent:str}", "x"))
            assert r.status_code == 404, path


async def test_every_get_route_answers_with_the_security_headers(
    dev_app: Litestar, client: AsyncTestClient[Any], prod_client: AsyncTestClient[Any]
) -> None:
    ids = await james(dev_app)
    gets = [h for h in handlers(dev_app) if h.method in ("GET", "HEAD", "OPTIONS")]
    for h in gets:  # signed out: mostly redirects to a sign-in page
        r = await client.request(h.method, h.url(ids), follow_redirects=False)
        assert_secure(r)
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    async with AsyncTestClient(app=dev_app, base_url="http://127.0.0.1:8000") as me:
        await sign_in_client(me, "100002")
        statuses = {}
        for h in gets:  # signed in: the pages themselves
            browser = me if h.path.startswith("/account") else client
            r = await browser.request(h.method, h.url(ids), follow_redirects=False)
            statuses[h.key] = r.status_code
            assert_secure(r)
    assert statuses[("GET", "/plus/clients/{client_id:int}/history")] == 200
    assert statuses[("GET", "/account/payment")] == 200
    prod_app: Litestar = prod_client.app  # type: ignore[assignment]
    for h in handlers(prod_app):
        r = await prod_client.request(h.method, h.url(ids), follow_redirects=False)
        assert_secure(r, prod=True)
