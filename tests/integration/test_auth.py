import asyncio
import contextlib
import secrets
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlmodel import col

from app.clock import FixedClock
from app.domain.errors import DomainError
from app.main import create_app
from app.services import sign_in
from app.store.models import Client, Location, LoginThrottle, Vehicle
from app.web import limits
from tests.conftest import csrf_for, get_page, sign_in_client, sign_in_staff
from tests.html import parse
from tests.integration.test_pay import make_link


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


# -- sign-in throttling: growing delays, never a lock of the right password --------------------


async def try_staff(
    client: AsyncTestClient[Any],
    token: str,
    email: str = "agent@demo.test",
    password: str = "wrong",
) -> Any:
    return await client.post(
        "/plus/login",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )


def said(r: Any) -> str:
    return parse(r.text).text(".error-summary")


async def test_after_five_wrong_passwords_the_right_one_waits_only_for_the_delay(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    token = await csrf_for(client, "/account/login")
    attempt = {"account_number": "100001", "password": "wrong", "_csrf_token": token}
    for _ in range(5):
        r = await client.post("/account/login", data=attempt)
        assert r.status_code == 401
    right = attempt | {"password": "demo-client-pass"}
    r = await client.post("/account/login", data=right, follow_redirects=False)
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    assert "Too many attempts. Try again in 1 minute." in said(r)
    clock.advance(seconds=61)
    r = await client.post("/account/login", data=right, follow_redirects=False)
    assert r.status_code == 303


async def test_the_delay_grows_and_attempts_during_it_do_not_lengthen_it(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    token = await csrf_for(client, "/plus/login")
    for _ in range(5):
        assert (await try_staff(client, token)).status_code == 401
    for minutes in (1, 2, 4, 8, 15, 15):
        unit = "minute" if minutes == 1 else "minutes"
        for _ in range(3):  # hammering during the delay: refused, and the delay stays put
            r = await try_staff(client, token)
            assert r.status_code == 429 and f"Try again in {minutes} {unit}." in said(r)
            assert r.headers["retry-after"] == str(minutes * 60)
        clock.advance(minutes=minutes)
        assert (await try_staff(client, token)).status_code == 401  # checked, and wrong
    clock.advance(minutes=15)
    assert (await try_staff(client, token, password="demo-agent-pass")).status_code == 303


async def test_an_unknown_account_gets_the_same_answers_as_a_wrong_password(
    client: AsyncTestClient[Any],
) -> None:
    token = await csrf_for(client, "/plus/login")
    answers: dict[str, list[tuple[int, str]]] = {}
    for email in ("agent@demo.test", "nobody@demo.test"):
        answers[email] = []
        for _ in range(6):
            r = await try_staff(client, token, email)
            page = parse(r.text)
            answers[email].append((r.status_code, page.text(".error-summary")))
    assert answers["agent@demo.test"] == answers["nobody@demo.test"]
    assert [status for status, _ in answers["nobody@demo.test"]] == [401] * 5 + [429]


async def test_one_address_trying_twenty_accounts_is_slowed_down_but_the_accounts_are_not(
    client: AsyncTestClient[Any], clock: FixedClock, session: Any
) -> None:
    token = await csrf_for(client, "/plus/login")
    for i in range(20):
        assert (await try_staff(client, token, f"user{i}@demo.test")).status_code == 401
    r = await try_staff(client, token, password="demo-agent-pass")
    assert r.status_code == 429 and "Try again in 1 minute." in said(r)
    # The agent, from anywhere else, is not held back by that address.
    user = await sign_in.staff_sign_in(
        session, "agent@demo.test", "demo-agent-pass", "203.0.113.9", clock.now()
    )
    assert user.email == "agent@demo.test"
    clock.advance(seconds=61)
    assert (await try_staff(client, token, password="demo-agent-pass")).status_code == 303


async def test_a_hundred_failures_in_a_day_hold_the_account_until_the_day_is_over(
    client: AsyncTestClient[Any], clock: FixedClock, session: Any
) -> None:
    now = clock.now()
    session.add(
        LoginThrottle(
            key=sign_in.account_key("staff", "agent@demo.test"),
            failures=99,
            window_start=now - timedelta(hours=2),
            expires_at=now + timedelta(hours=22),
            version=1,
        )
    )
    await session.commit()
    token = await csrf_for(client, "/plus/login")
    assert (await try_staff(client, token)).status_code == 401  # the 100th failure today
    r = await try_staff(client, token, password="demo-agent-pass")
    assert r.status_code == 429 and "Try again in 22 hours." in said(r)
    clock.advance(hours=21, minutes=30)
    r = await try_staff(client, token, password="demo-agent-pass")
    assert r.status_code == 429 and "Try again in 30 minutes." in said(r)
    clock.advance(minutes=30)
    assert (await try_staff(client, token, password="demo-agent-pass")).status_code == 303


async def test_parallel_guesses_when_a_delay_ends_get_one_password_check(
    client: AsyncTestClient[Any], clock: FixedClock
) -> None:
    token = await csrf_for(client, "/plus/login")
    for _ in range(5):
        await try_staff(client, token)
    clock.advance(seconds=61)
    answers = await asyncio.gather(*(try_staff(client, token) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [401] + [429] * 7


# -- request rate limits per address ----------------------------------------------------------


async def test_guessing_tokens_is_refused_per_address_with_retry_after(
    client: AsyncTestClient[Any],
) -> None:
    for _ in range(limits.PAY_MISSES_PER_MINUTE):
        r = await client.get("/pay/" + secrets.token_urlsafe(32))
        assert r.status_code == 404
    refused = [
        await client.get("/pay/" + secrets.token_urlsafe(n))
        for n in (32, 5, 32)  # malformed tokens count as guesses too
    ]
    r = refused[-1]
    assert {x.status_code for x in refused} == {429}
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["ratelimit-limit"] == str(limits.PAY_MISSES_PER_MINUTE)
    assert "Too many requests" in parse(r.text).text("main")
    assert r.headers["cache-control"] == "no-store"  # the security headers are still there
    assert (await client.get("/plus/login")).status_code == 200  # other pages are not limited


async def test_two_hundred_random_tokens_from_one_address_end_in_429(
    client: AsyncTestClient[Any],
) -> None:
    codes = [
        (await client.get("/pay/" + secrets.token_urlsafe(32))).status_code for _ in range(200)
    ]
    assert codes.count(404) == limits.PAY_MISSES_PER_MINUTE
    assert codes[limits.PAY_MISSES_PER_MINUTE :] == [429] * (200 - limits.PAY_MISSES_PER_MINUTE)


async def _links(app: Any, how_many: int) -> list[str]:
    """`how_many` live links, each for another client's first vehicle (sent as staff do)."""
    async with app.state.sessionmaker() as s:
        accounts = (
            await s.execute(
                select(col(Client.account_number), col(Vehicle.model))
                .join(Vehicle, col(Vehicle.client_id) == col(Client.id))
                .join(Location, col(Location.id) == col(Client.location_id))
                .where(col(Location.payments_enabled), col(Location.processor_account) != "")
                .order_by(col(Client.id), col(Vehicle.id))
            )
        ).all()
    tokens: list[str] = []
    for account, model in dict(reversed(accounts)).items():
        with contextlib.suppress(DomainError):  # a number that opted out, a client paid up
            tokens.append(await make_link(app, account=account, vehicle=model))
        if len(tokens) == how_many:
            return tokens
    raise AssertionError(f"the demo data has fewer than {how_many} clients to send a link to")


async def test_a_neighbours_guessing_does_not_stop_payers_on_open_links(
    app: Any, client: AsyncTestClient[Any]
) -> None:
    """Carrier-grade NAT: many phones, one address. Links opened before a neighbour used up
    the address's guesses keep working; the guesser (and any link not yet seen) is refused
    until the minute is over."""
    tokens = await _links(app, 10)
    assert [(await client.get(f"/pay/{t}")).status_code for t in tokens] == [200] * 10
    for _ in range(limits.PAY_MISSES_PER_MINUTE):
        await client.get("/pay/" + secrets.token_urlsafe(32))
    assert (await client.get("/pay/" + secrets.token_urlsafe(32))).status_code == 429
    assert [(await client.get(f"/pay/{t}")).status_code for t in tokens] == [200] * 10


async def test_twenty_valid_links_from_one_address_within_a_minute_pass(
    app: Any, client: AsyncTestClient[Any]
) -> None:
    tokens = await _links(app, 20)
    codes = []
    for token in tokens:
        for _ in range(3):  # open, reload, open again
            codes.append((await client.get(f"/pay/{token}")).status_code)
    assert codes == [200] * 60


async def test_one_link_is_limited_by_its_use(client: AsyncTestClient[Any], app: Any) -> None:
    (token,) = await _links(app, 1)
    codes = [
        (await client.get(f"/pay/{token}")).status_code for _ in range(limits.PAY_PER_MINUTE + 1)
    ]
    assert codes == [200] * limits.PAY_PER_MINUTE + [429]


async def test_webhooks_are_rate_limited_per_address(
    monkeypatch: pytest.MonkeyPatch, settings: Any, clock: FixedClock
) -> None:
    settings = settings.model_copy(update={"webhook_requests_per_minute": 3})
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as c:
        for _ in range(3):
            r = await c.post("/webhooks/twilio/status", data={"MessageSid": "SM1"})
            assert r.status_code != 429
        r = await c.post("/webhooks/twilio/status", data={"MessageSid": "SM1"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
