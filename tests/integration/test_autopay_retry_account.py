"""My Account's AutoPay tab after a failed AutoPay charge: it says the charge failed and when it
is tried again (a soft decline), or that it will not be (a hard decline, or the last retry),
instead of a "next charge" date of today; Account Information says the same. The status is the
one staff see
(services/autopay.vehicles_view)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import col

from app.services.sign_in import hash_password
from app.store.models import Client, Vehicle
from tests.conftest import get_page, sign_in_client
from tests.integration.test_autopay_retries import BOTH, run
from tests.integration.test_autopay_run import austin_today, enrolled


async def _client_signed_in(session: Any, client: AsyncTestClient[Any], vehicle_id: int) -> None:
    """The enrolled test client gets a password and signs in to My Account."""
    vehicle = await session.get(Vehicle, vehicle_id)
    owner = await session.get(Client, vehicle.client_id)
    await session.execute(
        update(Client)
        .where(col(Client.id) == owner.id)
        .values(password_hash=hash_password("demo-client-pass"))
    )
    await session.commit()
    await sign_in_client(client, owner.account_number)


async def _on_autopay(session: Any, client: AsyncTestClient[Any], clock: Any, card: str) -> int:
    """A new client with one vehicle on AutoPay with `card`, due today, signed in."""
    _, today = await austin_today(session, clock)
    [vehicle] = await enrolled(session, clock, paid_through=today, card=card)
    await _client_signed_in(session, client, vehicle)
    return vehicle


async def _failed_once(
    app: Litestar, session: Any, client: AsyncTestClient[Any], clock: Any, card: str
) -> tuple[int, str]:
    """The tab before (a next charge today) and after the first run declined `card`: the
    vehicle and what its AutoPay now says."""
    vehicle = await _on_autopay(session, client, clock, card)
    before = await _state(client, vehicle)
    assert "AutoPay on" in before and "next charge" in before
    assert (await run(app, clock)).failed == 1
    state = await _state(client, vehicle)
    assert "AutoPay charge failed" in state
    return vehicle, state


async def _state(client: AsyncTestClient[Any], vehicle_id: int, query: str = "") -> str:
    _, page = await get_page(client, f"/account/payment/autopay{query}")
    return page.text(f"#autopay-{vehicle_id} .autopay-state")


@pytest.mark.postgres
@BOTH
async def test_the_tab_says_when_a_failed_charge_is_tried_again_or_that_it_will_not_be(
    app: Litestar, client: AsyncTestClient[Any], session: Any, clock: Any, db_url: str
) -> None:
    vehicle, state = await _failed_once(app, session, client, clock, "pm_sandbox_visa_9995")
    assert "did not go through. We'll try again on Nov 26, 2026" in state
    assert "next charge" not in state
    _, home = await get_page(client, "/account")  # Account Information says the same
    assert home.text(f"#autopay-state-{vehicle}") == state
    spanish = await _state(client, vehicle, "?lang=es")
    assert "Cobro de AutoPay fallido" in spanish and "Lo intentaremos de nuevo el" in spanish

    for days in (1, 2, 2):  # each retry day fails too
        clock.advance(days=days)
        assert (await run(app, clock)).failed == 1
    await _client_signed_in(session, client, vehicle)  # days later: a new session
    state = await _state(client, vehicle, "?lang=en")
    assert "AutoPay failed, retries exhausted" in state
    assert "will not be tried again" in state and "next charge" not in state

    # Another client's card is lost (a hard decline): not tried again, and the tab says so.
    _, state = await _failed_once(app, session, client, clock, "pm_sandbox_visa_9987")
    assert "was declined and will not be tried again" in state
    assert "try again on" not in state and "next charge" not in state
