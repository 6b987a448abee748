"""The charge types staff pick from on Add New Invoice (issue 22 item 5): an invoice of the
catalog keeps its key and is said in the client's language on the client's pages; a charge
typed by staff ("Other…") is shown as typed in any language; a key not in the catalog is
refused by the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from app import i18n
from app.domain import charges
from app.store.db import make_engine, make_sessionmaker
from app.store.models import Client, Invoice
from tests.conftest import sign_in_client, sign_in_staff
from tests.html import Page, parse
from tests.integration.test_history import HX, history, ids
from tests.integration.test_money_failures import both_databases

TYPED = "Reposición de cable — tarifa acordada"  # staff's own words, kept as typed


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncSession]:
    """The test's own session on its own event loop (no pool shared with the app's loop, as
    PostgreSQL's driver needs; see test_past_due_only's `maker`)."""
    engine = make_engine(db_url, poolclass=NullPool)
    async with make_sessionmaker(engine)() as s:
        yield s
    await engine.dispose()


async def _add(client: AsyncTestClient[Any], cid: int, **fields: str) -> Any:
    form = parse((await client.get(f"{history(cid)}/invoice-form", headers=HX)).text)
    data = {"_csrf_token": form.csrf(), "amount": "35.00", "due_date": "2026-12-01"} | fields
    return await client.post(f"{history(cid)}/invoices", data=data, headers=HX)


async def _speaks(db: AsyncSession, account: str, language: str) -> None:
    await db.execute(
        update(Client).where(Client.account_number == account).values(language=language)
    )
    await db.commit()


async def _invoice(db: AsyncSession, cid: int, description: str) -> Invoice:
    db.expire_all()
    return (
        await db.execute(
            select(Invoice).where(Invoice.client_id == cid, Invoice.description == description)
        )
    ).scalar_one()


def _invoice_texts(page: Page) -> list[str]:
    return [item.select("span")[1].get_text(" ", strip=True) for item in page.all(".invoice-item")]


def test_every_charge_of_the_catalog_has_its_own_spanish_text() -> None:
    keys = [c.key for c in charges.CATALOG]
    assert len(set(keys)) == len(keys) and charges.OTHER not in keys
    with i18n.using("es"):
        spanish = {c.key: i18n.gettext(c.text) for c in charges.CATALOG}
    assert all(spanish[c.key] != c.text for c in charges.CATALOG), spanish
    assert spanish["missed_appointment"] == "Cargo por cita perdida"


@both_databases
async def test_staff_pick_a_charge_and_a_spanish_client_reads_it_in_spanish(
    client: AsyncTestClient[Any], app: Litestar, db: AsyncSession
) -> None:
    await sign_in_staff(client)
    cid, _ = await ids(db)  # James Carter
    form = parse((await client.get(f"{history(cid)}/invoice-form", headers=HX)).text)
    options = [(o["value"], o.get_text(strip=True)) for o in form.all("#inv-charge option")]
    assert options[0] == ("", "Choose a charge") and options[-1] == ("other", "Other…")
    assert ("calibration", "Calibration fee") in options
    assert ("missed_appointment", "Missed appointment fee") in options

    r = await _add(client, cid, charge_type="calibration", description="")
    assert r.status_code == 200, r.text
    page = parse(r.text)
    assert "Calibration fee, $35.00" in page.text("#history-notice")
    assert "Calibration fee" in page.all("#ledger tbody tr")[0].get_text()  # staff: English
    invoice = await _invoice(db, cid, "Calibration fee")
    assert (invoice.charge_type, invoice.amount_cents) == ("calibration", 3500)

    r = await _add(client, cid, charge_type="other", description=f"  {TYPED}  ")
    assert r.status_code == 200, r.text
    assert (await _invoice(db, cid, TYPED)).charge_type is None

    # The client's own page: English, then Spanish for a Spanish-speaking client.
    await sign_in_client(client, "100002")
    page = parse((await client.get("/account")).text)
    texts = _invoice_texts(page)
    assert "Calibration fee" in texts and "Missed appointment fee" in texts and TYPED in texts
    await _speaks(db, "100002", "es")
    page = parse((await client.get("/account")).text)
    assert page.one("html")["lang"] == "es-US"
    texts = _invoice_texts(page)
    assert "Cargo por calibración" in texts
    assert "Cargo por cita perdida" in texts  # the demo's seeded fee, of the catalog too
    assert TYPED in texts  # typed: as typed
    assert "Calibration fee" not in texts and "Missed appointment fee" not in texts


async def test_an_english_text_typed_as_other_stays_as_typed(
    client: AsyncTestClient[Any], app: Litestar, db: AsyncSession
) -> None:
    """Other… is staff's words, even when they match a catalog text: nothing is guessed."""
    await sign_in_staff(client)
    cid, _ = await ids(db, "100001")
    r = await _add(client, cid, charge_type="other", description="Lockout reset fee, second")
    assert r.status_code == 200
    await _speaks(db, "100001", "es")
    await sign_in_client(client, "100001")
    page = parse((await client.get("/account")).text)
    assert "Lockout reset fee, second" in _invoice_texts(page)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"charge_type": "free_money", "description": ""}, "#inv-charge-error", "listed charges"),
        ({"charge_type": "x" * 5000, "description": ""}, "#inv-charge-error", "listed charges"),
        ({"charge_type": "", "description": ""}, "#inv-charge-error", "Choose a charge"),
        ({"charge_type": "other", "description": "  "}, "#inv-description-error", "description"),
    ],
)
async def test_an_unknown_or_missing_charge_is_refused_by_its_field(
    client: AsyncTestClient[Any], db: AsyncSession, fields: dict[str, str], field: str, words: str
) -> None:
    await sign_in_staff(client)
    cid, _ = await ids(db)
    before = len((await db.execute(select(Invoice.id))).all())
    r = await _add(client, cid, **fields)
    assert r.status_code == 422, r.text
    page = parse(r.text)
    assert words in page.text(field)
    assert page.one("#inv-amount")["value"] == "35.00"  # what was typed is kept
    described = "inv-charge-error" if field == "#inv-charge-error" else "inv-description-error"
    target = page.one("#inv-charge" if field == "#inv-charge-error" else "#inv-description")
    assert target["aria-invalid"] == "true" and described in target["aria-describedby"]
    db.expire_all()
    assert len((await db.execute(select(Invoice.id))).all()) == before


async def test_a_form_without_the_picker_keeps_working_as_other(
    client: AsyncTestClient[Any], db: AsyncSession
) -> None:
    """A post without `charge_type` (an older page still open) adds staff's words."""
    await sign_in_staff(client)
    cid, _ = await ids(db)
    r = await _add(client, cid, description="Cable repair")
    assert r.status_code == 200
    assert (await _invoice(db, cid, "Cable repair")).charge_type is None
