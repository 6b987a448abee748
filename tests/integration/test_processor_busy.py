# ruff: noqa: F811 - the stripe flow's fixtures (client, fake) are imported by name
"""A person paying while Stripe says "too many requests" (429: it did nothing): one short wait
and one more try with the same idempotency key; if it is still busy, "the payment processor is
busy, nothing was charged", with no payment left behind (not `failed`, nothing texted) and the
link payable again. The real SDK against the fake Stripe; the wait is recorded, not slept."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlmodel import col

from app.domain.errors import ProcessorBusy
from app.store.models import Payment, SmsMessage
from tests.fakes.fake_stripe import FakeStripe
from tests.html import parse
from tests.integration.test_pay import make_link
from tests.integration.test_stripe_flow import (  # noqa: F401 - fixtures
    client,
    fake,
    link_of,
    payments_of,
    settings,
    submit,
)

# the module (the package's `charge` attribute is the function of that name)
charge_module = importlib.import_module("app.services.payments.charge")

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def texts_about_payments(app: Litestar) -> int:
    async with app.state.sessionmaker() as s:
        return int(
            (
                await s.execute(
                    select(func.count())
                    .select_from(SmsMessage)
                    .where(col(SmsMessage.kind) != "link")
                )
            ).scalar_one()
        )


async def test_one_429_is_waited_out_and_the_payment_goes_through(
    client: AsyncTestClient[Any],
    app: Litestar,
    fake: FakeStripe,
    waits: list[float],
) -> None:
    token = await make_link(app)
    fake.fault_path, fake.rate_limit = "/v1/payment_intents", 1
    fake.rate_limit_headers = {"Retry-After": "1"}
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")
    assert len(waits) == 1 and 1 <= waits[0] <= charge_module.SHORT_WAIT_MAX
    [p] = await payments_of(app, token)
    assert p.status == "succeeded" and len(fake.charges) == 1
    keys = {r.idempotency_key for r in fake.requests_to("POST", "/v1/payment_intents")}
    assert len(keys) == 1  # asked again with the same key


async def test_still_busy_says_nothing_was_charged_and_leaves_the_link_payable(
    client: AsyncTestClient[Any],
    app: Litestar,
    fake: FakeStripe,
    waits: list[float],
) -> None:
    token = await make_link(app)
    fake.fault_path, fake.rate_limit = "/v1/payment_intents", 2
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 503, r.text
    assert ProcessorBusy.message in parse(r.text).text("main")
    assert len(waits) == 1 and len(fake.requests_to("POST", "/v1/payment_intents")) == 2
    assert await payments_of(app, token) == []  # taken back: not failed, nothing to show
    link = await link_of(app, token)
    assert link.claim_payment_id is None and link.decline_count == 0
    async with app.state.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(Payment))).scalar_one() > 0
    assert await texts_about_payments(app) == 0
    # The payer presses Pay again a minute later: it goes through, once.
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 303 and r.headers["location"].endswith("/receipt")
    [p] = await payments_of(app, token)
    assert p.status == "succeeded" and len(fake.charges) == 1


async def test_a_long_retry_after_is_not_waited_by_a_person(
    client: AsyncTestClient[Any],
    app: Litestar,
    fake: FakeStripe,
    waits: list[float],
) -> None:
    token = await make_link(app)
    fake.fault_path, fake.rate_limit = "/v1/payment_intents", 1
    fake.rate_limit_headers = {"Retry-After": "30"}
    r = await submit(client, token, "pm_card_visa")
    assert r.status_code == 503 and waits == []
    assert await payments_of(app, token) == [] and fake.charges == []
