"""Every text in both languages: who sends it, whose bill, the amount, help; GSM-7 (accents
outside its alphabet would triple the cost on old phones), and as few segments as it can be."""

from datetime import UTC, datetime

import pytest

from app.domain.sms_length import measure
from app.services.texts import Recipient, render_text

URL = "https://pay.example-interlock.com/pay/" + "T" * 43  # a production-length link
COMMON = {"company": "Demo Interlock", "amount": 18201, "vehicle": "2015 Ford F-150"}
CARD = {"brand": "Visa", "last4": "4242"}
TEXTS = {
    "link": ({"url": URL, "expires": datetime(2026, 11, 25, 16, 10, tzinfo=UTC)}, 2),
    "link_past_due": ({"url": URL, "expires": datetime(2026, 11, 25, 16, 10, tzinfo=UTC)}, 2),
    "receipt": ({**CARD, "invoice": "INV-0000055"}, 1),
    "refund": ({**CARD, "conflict": False}, 1),
    "autopay_failed": ({}, 1),
    "not_charged": ({}, 1),
    "help": ({}, 1),
}


def to(language: str) -> Recipient:
    return Recipient("James", "carter", language, "America/Chicago", "+18005550199")


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_each_text_is_gsm7_and_short(name: str, language: str) -> None:
    context, most = TEXTS[name]
    text = render_text(name, to(language), **(COMMON | context))
    length = measure(text)
    assert length.encoding == "GSM-7" and length.segments <= most, (text, length)
    assert text.startswith("Demo Interlock") or text.startswith("Mensajes de pago de Demo")
    assert "(800) 555-0199" in text or name in {"receipt"}
    assert "\n" not in text and "  " not in text


def test_the_link_text_says_whose_bill_what_for_and_until_when() -> None:
    context, _ = TEXTS["link"]
    en = render_text("link", to("en"), **(COMMON | context))
    es = render_text("link", to("es"), **(COMMON | context))
    assert en == (
        "Demo Interlock: James C., your interlock monitoring for the 2015 Ford F-150 is $182.01."
        f" Pay securely by 10:10 AM CST: {URL} Help: (800) 555-0199. Reply STOP to opt out"
    )
    assert es == (
        "Demo Interlock: James C., el monitoreo del interlock de su 2015 Ford F-150 es $182.01."
        f" Pague seguro antes de las 10:10 a.m. CST: {URL} Ayuda: (800) 555-0199."
        " Responda STOP para no recibir mensajes"
    )


def test_a_refund_for_a_period_already_paid_says_so_in_spanish() -> None:
    text = render_text("refund", to("es"), **(COMMON | CARD | {"conflict": True}))
    assert "ese periodo ya estaba pagado" in text and "$182.01" in text


def test_an_unknown_language_falls_back_to_english() -> None:
    text = render_text("help", to("fr"), company="Demo Interlock")
    assert (
        text == "Demo Interlock payment texts. Call (800) 555-0199 for help. Reply STOP to opt out"
    )
