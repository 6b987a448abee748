"""Garbage in any field of any form gets a 4xx (or a redirect), never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from app.store.models import Client
from tests.conftest import csrf_for, sign_in_client, sign_in_staff

GARBAGE = ["", "abc", "-1", "0", "99999999999999999999", "1e9", "<script>", "14.5", "../", "\x00"]


async def james_id(session: Any) -> int:
    return int(
        (
            await session.execute(select(Client.id).where(Client.account_number == "100002"))
        ).scalar_one()
    )


@pytest.mark.parametrize("value", GARBAGE)
async def test_staff_forms_never_fail_with_a_server_error(
    client: AsyncTestClient[Any], session: Any, value: str
) -> None:
    await sign_in_staff(client, "supervisor@demo.test", "demo-supervisor-pass")
    cid = await james_id(session)
    token = await csrf_for(client, f"/plus/clients/{cid}")
    fields = {
        "vehicle_id": value, "days": value, "phone": value, "reviewed_total_cents": value,
        "description": value, "amount": value, "due_date": value, "card_id": value,
        "request_key": value, "quoted_vehicle_id": value,
    }  # fmt: skip
    for hx in ({}, {"HX-Request": "true"}):
        for url in (
            f"/plus/clients/{cid}/links",
            f"/plus/clients/{cid}/history/invoices",
            f"/plus/clients/{cid}/history/take-payment/review",
            f"/plus/clients/{cid}/history/payments",
        ):
            r = await client.post(url, data={"_csrf_token": token, **fields}, headers=hx)
            assert r.status_code < 500, (url, value, r.status_code)
        for url in (
            f"/plus/clients/{cid}/send-link",
            f"/plus/clients/{cid}/history/take-payment",
            "/plus",
        ):
            r = await client.get(url, params={**fields, "q": value}, headers=hx)
            assert r.status_code < 500, (url, value, r.status_code)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("number", ["0", "99999999999999999999", "2147483648"])
async def test_ids_in_paths_too_large_for_any_record_are_404(
    client: AsyncTestClient[Any], number: str, db_url: str
) -> None:
    await sign_in_staff(client)
    for url in (f"/plus/clients/{number}", f"/plus/clients/{number}/history",
                f"/plus/clients/{number}/links"):  # fmt: skip
        r = await client.get(url)
        assert r.status_code == 404, (url, r.status_code)


@pytest.mark.parametrize("value", GARBAGE)
async def test_client_forms_never_fail_with_a_server_error(
    client: AsyncTestClient[Any], value: str
) -> None:
    await sign_in_client(client, "100002")
    token = await csrf_for(client, "/account/payment")
    fields = {
        "vehicle_id": value, "days": value, "card": value, "payment_method": value,
        "reviewed": value, "save_card": value, "make_default": value, "move_autopay_to": value,
        "back": value,
    }  # fmt: skip
    for url in (
        "/account/payment",
        "/account/payment/methods",
        "/account/payment/autopay",
        "/account/payment/methods/1/default",
        "/account/payment/methods/1/remove",
        "/account/payment/autopay/1/cancel",
    ):
        r = await client.post(url, data={"_csrf_token": token, **fields})
        assert r.status_code < 500, (url, value, r.status_code)
    for url in ("/account/payment", "/account/payment/summary", "/account"):
        r = await client.get(url, params=fields, headers={"HX-Request": "true"})
        assert r.status_code < 500, (url, value, r.status_code)
