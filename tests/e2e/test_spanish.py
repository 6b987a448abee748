"""A Spanish-speaking client at phone width: the Spanish text, the Spanish page, the
English/Español switch keeping what was typed (never the card number), a decline, a payment,
the receipt."""

import sqlite3
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, no_horizontal_scroll, shot
from tests.e2e.test_send_link import open_client, sign_in_agent


def speaks_spanish(server: LiveServer, account: str) -> None:
    path = server.settings.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE client SET language = 'es' WHERE account_number = ?", (account,))


def test_a_spanish_speaking_client_pays_in_spanish_on_a_phone(
    desktop: Any, phone: Any, live_server: LiveServer, artifacts_dir: Path
) -> None:
    speaks_spanish(live_server, "100002")
    staff = desktop
    sign_in_agent(staff)
    open_client(staff, "carter", "Carter, James")
    expect(staff.locator("#client-language option:checked")).to_have_text("Spanish (Español)")
    staff.get_by_role("link", name="Send Secure Payment Link").click()
    vehicle = staff.get_by_label("Vehicle", exact=True)
    vehicle.select_option(label=vehicle.locator("option", has_text="F-150").inner_text())
    staff.get_by_label("30 days").check()
    staff.get_by_role("button", name="Get Summary").click()
    staff.get_by_role("button", name="Send Message").click()
    expect(staff.locator("#link-status .status")).to_have_text("Delivered")
    staff.goto("/dev/sms")
    sms = staff.locator(".sms").first
    expect(sms).to_contain_text("Responda STOP")
    link = sms.locator("a").get_attribute("href")
    assert link and "/pay/" in link

    page = phone
    page.goto(link)
    expect(page.locator("html")).to_have_attribute("lang", "es-US")
    expect(page.get_by_role("heading", name="Resumen de pago")).to_be_visible()
    expect(page.locator(".summary-total dt")).to_have_text("Monto total a pagar")
    pay = page.get_by_role("button", name="Realizar pago")
    expect(pay).to_have_attribute("aria-disabled", "true")  # inactive until card and terms
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-01-page-360")
    page.set_viewport_size({"width": 320, "height": 740})
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-01b-page-320")
    page.set_viewport_size({"width": 360, "height": 740})

    page.get_by_label("Número de tarjeta").fill("4242 4242 4242 4242")
    page.get_by_label("Vencimiento (MM/AA)").fill("1230")
    page.get_by_label("Código postal (ZIP)").fill("78701")
    page.get_by_label("Autorizo un cargo único").check()

    # To English and back: the expiry, ZIP and terms are kept, the card number is not.
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Payment Summary")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en-US")
    expect(page.get_by_label("ZIP code")).to_have_value("78701")
    expect(page.get_by_label("Expiry (MM/YY)")).to_have_value("12/30")
    expect(page.get_by_label("I authorize a one-time charge")).to_be_checked()
    expect(page.get_by_label("Card number")).to_have_value("")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-02-switched-to-english-360")
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_role("heading", name="Resumen de pago")).to_be_visible()
    expect(page.get_by_label("Código postal (ZIP)")).to_have_value("78701")
    expect(page.get_by_label("Autorizo un cargo único")).to_be_checked()
    assert page.evaluate("sessionStorage.length") == 0  # restored once, then cleared

    # A decline, in Spanish: said once, in the error summary, which takes focus; expiry, ZIP and
    # the terms tick kept, the card number and security code cleared.
    page.get_by_label("Número de tarjeta").fill("4000 0000 0000 0002")
    page.get_by_label("Código de seguridad").fill("123")
    pay.click()
    declined = "Su tarjeta fue rechazada. Pruebe con otra tarjeta o llame a su banco."
    summary = page.locator("#pay-errors")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Hay un problema")
    expect(summary).to_contain_text(declined)
    assert page.locator("main").inner_text().count(declined) == 1
    expect(page.get_by_label("Número de tarjeta")).to_have_value("")
    expect(page.get_by_label("Código de seguridad")).to_have_value("")
    expect(page.get_by_label("Vencimiento (MM/AA)")).to_have_value("12/30")
    expect(page.get_by_label("Código postal (ZIP)")).to_have_value("78701")
    expect(page.get_by_label("Autorizo un cargo único")).to_be_checked()
    shot(page, artifacts_dir, "es-02b-declined-360")

    page.get_by_label("Número de tarjeta").fill("4242 4242 4242 4242")
    page.get_by_label("Código de seguridad").fill("123")
    expect(pay).to_be_enabled()
    pay.click()
    expect(page.get_by_role("heading", name="Gracias, recibimos su pago")).to_be_visible()
    expect(page.locator("#receipt-amount")).to_have_text("$182.01")
    expect(page.locator("#receipt-card")).to_have_text("Visa terminada en 4242")
    expect(page.locator(".autopay-invite")).to_contain_text("AutoPay")
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-03-receipt-360")
    page.set_viewport_size({"width": 320, "height": 740})
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-03b-receipt-320")
    assert page.js_errors == []

    # My Account speaks James's language too, with the switch in the top bar.
    page.set_viewport_size({"width": 320, "height": 740})
    page.goto("/account/login")
    page.get_by_label("Número de cuenta").fill("100002")
    page.get_by_label("Contraseña").fill("demo-client-pass")
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Información de la cuenta", exact=True)).to_be_visible()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-04-account-320")
    page.get_by_role("link", name="Pago", exact=True).click()
    expect(page.get_by_role("heading", name="Hacer un pago")).to_be_visible()
    assert no_horizontal_scroll(page)
    shot(page, artifacts_dir, "es-05-make-a-payment-320")
    assert page.js_errors == []
