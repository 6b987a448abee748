from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import csrf_for, get_page, sign_in_client, sign_in_staff
from tests.html import parse


async def test_healthz_checks_the_database(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("url", "login"), [("/plus", "/plus/login"), ("/account", "/account/login")]
)
async def test_signed_out_pages_redirect_to_their_login(
    client: AsyncTestClient[Any], url: str, login: str
) -> None:
    r = await client.get(url, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(login)


async def test_htmx_request_when_signed_out_gets_hx_redirect(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/plus", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/plus/login"


async def test_staff_sign_in_and_out(client: AsyncTestClient[Any]) -> None:
    await sign_in_staff(client)
    status, page = await get_page(client, "/plus")
    assert status == 200
    assert "Alex Agent" in page.text(".topbar")
    token = page.csrf()
    r = await client.post("/plus/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = await client.get("/plus", follow_redirects=False)
    assert r.status_code == 303


async def test_wrong_password_keeps_email_and_says_so_next_to_the_field(
    client: AsyncTestClient[Any],
) -> None:
    token = await csrf_for(client, "/plus/login")
    r = await client.post(
        "/plus/login",
        data={"email": "agent@demo.test", "password": "nope", "_csrf_token": token},
    )
    assert r.status_code == 401
    page = parse(r.text)
    assert page.one("#email")["value"] == "agent@demo.test"
    assert page.one("#password")["value"] == ""
    assert page.one("#password")["aria-invalid"] == "true"
    assert "not right" in page.text("#password-error")
    assert page.has(".error-summary")


async def test_empty_login_form_is_a_422_with_messages(client: AsyncTestClient[Any]) -> None:
    token = await csrf_for(client, "/account/login")
    r = await client.post("/account/login", data={"account_number": "12ab", "_csrf_token": token})
    assert r.status_code == 422
    page = parse(r.text)
    assert "6 digits" in page.text("#account_number-error")
    assert "Enter your password" in page.text("#password-error")
    assert page.one("#account_number")["value"] == "12ab"


async def test_repeated_failures_are_rate_limited(client: AsyncTestClient[Any]) -> None:
    token = await csrf_for(client, "/account/login")
    for _ in range(5):
        r = await client.post(
            "/account/login",
            data={"account_number": "100001", "password": "wrong", "_csrf_token": token},
        )
        assert r.status_code == 401
    r = await client.post(
        "/account/login",
        data={"account_number": "100001", "password": "demo-client-pass", "_csrf_token": token},
    )
    assert r.status_code == 429
    assert "Too many failed sign-in attempts" in parse(r.text).text(".error-summary")


async def test_lockout_ends_after_the_window(client: AsyncTestClient[Any], clock: Any) -> None:
    token = await csrf_for(client, "/account/login")
    for _ in range(5):
        await client.post(
            "/account/login",
            data={"account_number": "100001", "password": "wrong", "_csrf_token": token},
        )
    clock.advance(minutes=16)
    await sign_in_client(client)


async def test_post_without_csrf_token_is_refused(client: AsyncTestClient[Any]) -> None:
    await client.get("/plus/login")
    r = await client.post(
        "/plus/login", data={"email": "agent@demo.test", "password": "demo-agent-pass"}
    )
    assert r.status_code == 403
    assert "expired" in parse(r.text).text("h1")


async def test_client_sign_in_shows_account_information(client: AsyncTestClient[Any]) -> None:
    await sign_in_client(client)
    status, page = await get_page(client, "/account")
    assert status == 200
    assert "Account Information" in page.text("h1")


async def test_next_parameter_cannot_redirect_off_site(client: AsyncTestClient[Any]) -> None:
    token = await csrf_for(client, "/plus/login")
    r = await client.post(
        "/plus/login",
        data={
            "email": "agent@demo.test",
            "password": "demo-agent-pass",
            "next": "//evil.example/plus",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/plus"


async def test_pages_carry_security_headers(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/plus/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


async def test_unknown_page_is_a_friendly_404(client: AsyncTestClient[Any]) -> None:
    status, page = await get_page(client, "/nope")
    assert status == 404 and page.text("h1") == "Page not found"
