"""Pages in the reader's language: Accept-Language, the English/Español switch and its cookie,
the client's stored language, staff pages always English, and a catalog with nothing missing."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from app import i18n
from app.formatting import day, money
from app.store.models import AuditEvent, Client
from tests.conftest import sign_in_client, sign_in_staff
from tests.html import parse
from tests.integration.test_pay import make_link

pytestmark = pytest.mark.anyio
ES = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}
PO = Path(i18n.TRANSLATIONS) / "es" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


async def set_language(app: Litestar, account: str, language: str) -> None:
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(Client).where(Client.account_number == account).values(language=language)
        )
        await s.commit()


async def test_no_header_gives_english_pages(client: AsyncTestClient[Litestar]) -> None:
    r = await client.get("/account/login")
    page = parse(r.text)
    assert page.one("html")["lang"] == "en-US"
    assert page.one("h1").get_text(strip=True) == "Sign in to My Account"
    assert "mp_lang" not in r.headers.get("set-cookie", "")


async def test_accept_language_es_gives_spanish_login_and_pay_page(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    r = await client.get("/account/login", headers=ES)
    page = parse(r.text)
    assert page.one("html")["lang"] == "es-US"
    assert page.one("h1").get_text(strip=True) == "Inicie sesión en Mi Cuenta"
    assert page.one("label[for=account_number]").get_text(strip=True) == "Número de cuenta"
    assert "Accept-Language" in r.headers["vary"] and "Cookie" in r.headers["vary"]

    # A pay link page with no client to go by (not found): the header picks the language.
    r = await client.get("/pay/" + "x" * 43, headers=ES)
    page = parse(r.text)
    assert page.one("html")["lang"] == "es-US"
    assert page.one("h1").get_text(strip=True) == "No encontramos este enlace de pago"
    assert page.one(".topbar .brand").get_text(strip=True) == "Pago seguro"

    # A live link: a Spanish-speaking client's page, asked for in Spanish.
    await set_language(app, "100002", "es")
    token = await make_link(app)
    r = await client.get(f"/pay/{token}", headers=ES)
    page = parse(r.text)
    assert page.one("html")["lang"] == "es-US"
    assert page.one("#payment-summary-title").get_text(strip=True) == "Resumen de pago"
    assert page.one("[data-pay-submit]").get_text(strip=True) == "Realizar pago"
    assert "Monto total a pagar" in page.text(".summary-total")
    # The switch offers English, keeping the page's path.
    switch = page.one(".lang-switch a[lang=en]")
    assert switch["href"] == f"/pay/{token}?lang=en"
    assert page.one(".lang-switch [aria-current]").get_text(strip=True) == "Español"
    # card.js gets its words from the page
    entry = page.one("[data-card-entry]")
    assert entry["data-msg-processing"] == "Procesando…"


async def test_an_english_clients_page_stays_english_whatever_the_header(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    """The client's stored language wins over Accept-Language; only the switch beats it."""
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}", headers=ES)).text)
    assert page.one("#payment-summary-title").get_text(strip=True) == "Payment Summary"
    page = parse((await client.get(f"/pay/{token}?lang=es", headers=ES)).text)
    assert page.one("#payment-summary-title").get_text(strip=True) == "Resumen de pago"


async def test_switch_overrides_the_header_and_is_kept_in_a_cookie(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await set_language(app, "100002", "es")
    token = await make_link(app)
    r = await client.get(f"/pay/{token}?lang=en", headers=ES)
    assert parse(r.text).one("html")["lang"] == "en-US"
    cookie = r.headers["set-cookie"]
    assert "mp_lang=en" in cookie
    assert "samesite=lax" in cookie.lower() and "httponly" in cookie.lower()
    assert "Max-Age=31536000" in cookie
    # Without ?lang the cookie still wins over Accept-Language and the client's language.
    r = await client.get(f"/pay/{token}", headers=ES)
    assert parse(r.text).one("#payment-summary-title").get_text(strip=True) == "Payment Summary"
    # And back to Spanish.
    r = await client.get(f"/pay/{token}?lang=es")
    assert parse(r.text).one("#payment-summary-title").get_text(strip=True) == "Resumen de pago"


async def test_a_spanish_clients_link_opens_in_spanish_without_a_header(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await set_language(app, "100002", "es")
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}")).text)
    assert page.one("html")["lang"] == "es-US"
    assert page.one("#card-title").get_text(strip=True) == "Pagar con tarjeta"
    assert "Tiempo para pagar" in page.text(".time-left")
    # An explicit switch still beats the stored language.
    page = parse((await client.get(f"/pay/{token}?lang=en")).text)
    assert page.one("#card-title").get_text(strip=True) == "Pay by card"


async def test_a_spanish_decline_and_missing_terms_are_said_in_spanish(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await set_language(app, "100002", "es")
    token = await make_link(app)
    page = parse((await client.get(f"/pay/{token}")).text)
    r = await client.post(f"/pay/{token}", data={"_csrf_token": page.csrf()})
    assert r.status_code == 422
    page = parse(r.text)
    assert "Ingrese los datos de su tarjeta." in page.text("#card-error")
    assert "Acepte los términos de pago para continuar." in page.text("#terms-error")
    assert page.one("#pay-errors h2").get_text(strip=True) == "Hay un problema"


async def test_staff_pages_stay_english(
    app: Litestar, client: AsyncTestClient[Litestar], session: Any
) -> None:
    r = await client.get("/plus/login", headers=ES)
    page = parse(r.text)
    assert page.one("html")["lang"] == "en-US"
    assert page.text("h1") == "Staff sign in"
    r = await client.get("/plus/login?lang=es", headers=ES)
    assert parse(r.text).one("html")["lang"] == "en-US"
    assert "mp_lang" not in r.headers.get("set-cookie", "")
    await sign_in_staff(client)
    c = (
        await session.execute(select(Client).where(Client.account_number == "100002"))
    ).scalar_one()
    page = parse((await client.get(f"/plus/clients/{c.id}", headers=ES)).text)
    assert page.one("html")["lang"] == "en-US"
    assert "Account Information" in page.text(".tabs")


async def test_staff_set_the_clients_language_and_it_is_audited(
    app: Litestar, client: AsyncTestClient[Litestar], session: Any
) -> None:
    await sign_in_staff(client)
    c = (
        await session.execute(select(Client).where(Client.account_number == "100002"))
    ).scalar_one()
    page = parse((await client.get(f"/plus/clients/{c.id}")).text)
    assert page.one("#client-language option[selected]")["value"] == "en"
    form = page.one("#client-language-form")
    r = await client.post(
        str(form["action"]),
        data={"_csrf_token": page.csrf(), "language": "es"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = parse((await client.get(r.headers["location"])).text)
    assert page.one("#client-language option[selected]")["value"] == "es"
    async with app.state.sessionmaker() as s:
        stored = (await s.execute(select(Client).where(Client.id == c.id))).scalar_one()
        assert stored.language == "es"
        events = (
            (await s.execute(select(AuditEvent).where(AuditEvent.client_id == c.id)))
            .scalars()
            .all()
        )
    assert any(e.action == "client.language_set" and e.actor_type == "staff" for e in events)
    r = await client.post(str(form["action"]), data={"_csrf_token": page.csrf(), "language": "fr"})
    assert r.status_code == 400


async def test_my_account_in_the_clients_language_with_a_spanish_error_next_to_the_field(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await set_language(app, "100001", "es")
    await sign_in_client(client)
    page = parse((await client.get("/account")).text)
    assert page.one("html")["lang"] == "es-US"
    assert page.one("h1").get_text(strip=True) == "Información de la cuenta"
    assert "Mi Cuenta" in page.text(".topbar .brand")
    page = parse((await client.get("/account/payment/methods")).text)
    r = await client.post("/account/payment/methods", data={"_csrf_token": page.csrf()})
    assert r.status_code == 422
    page = parse(r.text)
    assert page.text("#card-entry-error") == "Error: Ingrese los datos de su tarjeta."
    assert page.one("[data-pay-submit]").get_text(strip=True) == "Guardar tarjeta"


async def test_client_sets_language_in_my_account(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    await sign_in_client(client)
    page = parse((await client.get("/account")).text)
    assert page.one("#language option[selected]")["value"] == "en"
    r = await client.post(
        "/account/language",
        data={"_csrf_token": page.csrf(), "language": "es"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = parse((await client.get(r.headers["location"])).text)
    assert page.one("#account-notice").get_text(strip=True) == "Se guardó su idioma."
    assert page.one("#language option[selected]")["value"] == "es"
    # A value that is not a language: the message, in the page's language, next to the field.
    r = await client.post("/account/language", data={"_csrf_token": page.csrf(), "language": "xx"})
    assert r.status_code == 422
    assert parse(r.text).text("#language-error") == "Error: Elija English o Español."
    # Without the form's CSRF token nothing changes.
    r = await client.post("/account/language", data={"language": "en"})
    assert r.status_code == 403


async def test_amounts_and_dates_are_formatted_for_spanish() -> None:
    with i18n.using("es"):
        assert day(date(2026, 11, 26)) == "26 nov 2026"
        assert money(18201) == "$182.01"
        assert i18n.gettext("Secure Payment") == "Pago seguro"
    with i18n.using("en"):
        assert day(date(2026, 11, 26)) == "Nov 26, 2026"


def test_every_message_has_a_spanish_string_with_the_same_placeholders() -> None:
    with PO.open("rb") as fp:
        catalog = read_po(fp)
    checked = 0
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {ids[0]!r}"
        assert "fuzzy" not in message.flags, f"fuzzy: {ids[0]!r}"
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            found = set(PLACEHOLDER.findall(text))
            # a plural's singular may say "un" instead of the count
            assert found <= wanted and (found == wanted or len(ids) > 1), (ids[0], text)
        checked += 1
    assert checked > 200
    fixed = {
        "Secure Payment": "Pago seguro",
        "Payment Summary": "Resumen de pago",
        "Make Payment": "Realizar pago",
        "Make a Payment": "Hacer un pago",
        "Account Information": "Información de la cuenta",
        "My Account": "Mi Cuenta",
        "Total Due Amount": "Monto total a pagar",
        "AutoPay": "AutoPay",
    }
    for english, spanish in fixed.items():
        assert catalog[english].string == spanish


async def test_an_unknown_address_answers_in_the_readers_language(
    client: AsyncTestClient[Any],
) -> None:
    """The router answers an unknown path before any middleware: the page still speaks the
    reader's language (and staff paths stay English)."""
    r = await client.get("/account/nope", headers={"accept-language": "es-US,es;q=0.9"})
    assert r.status_code == 404 and parse(r.text).text("h1") == "Página no encontrada"
    r = await client.get("/nope", headers={"accept-language": "en-US"})
    assert r.status_code == 404 and parse(r.text).text("h1") == "Page not found"
    r = await client.get("/plus/nope", headers={"accept-language": "es"})
    assert r.status_code == 404 and parse(r.text).text("h1") == "Page not found"
