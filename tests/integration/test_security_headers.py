"""The security headers are on every response: pages, redirects, errors, 404s for paths no route
knows (answered by the router, before any route middleware), static files. HSTS in
production. No OpenAPI schema in any environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.clock import FixedClock
from app.main import create_app
from app.settings import Settings
from app.store import queries
from tests.conftest import make_settings, sign_in_staff

HSTS = "max-age=31536000; includeSubDomains"


def prod_settings(db_url: str) -> Settings:
    """A production configuration that starts without reaching any provider."""
    return make_settings(
        db_url,
        app_env="prod",
        payments_gateway="stripe",
        stripe_secret_key="sk_test_x",
        stripe_webhook_secret="whsec_x",
        sms_provider="twilio",
        twilio_account_sid="AC1",
        twilio_auth_token="t",
        twilio_from_number="+15125550100",
        public_base_url="https://pay.example.test",
        secret_key="prod-secret-0123456789abcdefghijklmnop",
    )


def assert_secure(r: Any, *, prod: bool = False) -> None:
    where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
    h = r.headers
    assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), where
    if h.get("content-type", "").startswith("text/html"):
        assert "default-src 'self'" in h["content-security-policy"], where
    else:  # a stylesheet, a script, JSON: not a document, so it may load nothing
        assert h["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'", where
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") in ("same-origin", "no-referrer"), where
    if prod:
        assert h.get("strict-transport-security") == HSTS, where
    else:
        assert "strict-transport-security" not in h, where


@pytest.fixture
async def prod_client(db_url: str, clock: FixedClock) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(prod_settings(db_url), clock=clock)
    # https: production cookies are Secure, and a browser only sends them back over https.
    async with AsyncTestClient(app=app, base_url="https://pay.example.test") as c:
        yield c


async def test_headers_on_pages_redirects_and_static_files(client: AsyncTestClient[Any]) -> None:
    for url in ("/plus/login", "/account/login", "/plus", "/healthz", "/static/app.css"):
        assert_secure(await client.get(url, follow_redirects=False))
    r = await client.get("/static/htmx.min.js")
    assert r.status_code == 200
    assert_secure(r)


@pytest.mark.parametrize(
    "url", ["/nope", "/plus/nope", "/static/nope.css", "/plus/clients/²", "/pay/", "/schema"]
)
async def test_headers_on_404s_answered_before_any_route(
    client: AsyncTestClient[Any], url: str
) -> None:
    r = await client.get(url)
    assert r.status_code == 404
    assert_secure(r)
    assert "Page not found" in r.text or r.headers["content-type"].startswith("application/json")


async def test_headers_on_405_csrf_refusal_and_server_error(
    client: AsyncTestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await client.delete("/plus/login")
    assert r.status_code == 405
    assert_secure(r)
    r = await client.post("/plus/login", data={"email": "a@b.c", "password": "x"})
    assert r.status_code == 403  # no CSRF token
    assert_secure(r)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(queries, "recent_sms", broken)
    r = await client.get("/dev/sms")
    assert r.status_code == 500
    assert_secure(r)


async def test_private_pages_are_not_cached_and_link_pages_leak_no_referrer(
    client: AsyncTestClient[Any],
) -> None:
    await sign_in_staff(client)
    r = await client.get("/plus")
    assert r.headers["cache-control"] == "no-store"
    r = await client.get("/pay/not-a-token")
    assert r.status_code == 404
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert "noindex" in r.headers["x-robots-tag"]


async def test_hsts_only_in_production(
    client: AsyncTestClient[Any], prod_client: AsyncTestClient[Any]
) -> None:
    for url in ("/plus/login", "/nope", "/static/app.css", "/healthz"):
        assert_secure(await client.get(url, follow_redirects=False), prod=False)
        assert_secure(await prod_client.get(url, follow_redirects=False), prod=True)


@pytest.mark.parametrize(
    "url", ["/schema", "/schema/openapi.json", "/schema/openapi.yaml", "/schema/swagger"]
)
async def test_no_openapi_schema_in_dev_or_prod(
    client: AsyncTestClient[Any], prod_client: AsyncTestClient[Any], url: str
) -> None:
    for c, prod in ((client, False), (prod_client, True)):
        r = await c.get(url)
        assert r.status_code == 404, (url, prod)
        assert "openapi" not in r.text.lower()
        assert_secure(r, prod=prod)


async def test_dev_pages_do_not_exist_in_production(prod_client: AsyncTestClient[Any]) -> None:
    for url in ("/dev/sms", "/sandbox/challenge/x"):
        r = await prod_client.get(url)
        assert r.status_code == 404, url
        assert_secure(r, prod=True)
    r = await prod_client.post("/sandbox/payment_methods", json={"number": "4242424242424242"})
    assert r.status_code in (403, 404)
