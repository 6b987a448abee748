"""Reports through the app, on SQLite and PostgreSQL: who may see them, each payment on its own
location's local date (daylight saving included), refunds and declines beside the money, the
link funnel with its median, past due as the ledger says it, the filters' messages (400, never
a 500), htmx and plain answers, and the CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.domain.periods import local_today
from app.domain.summary import past_due_total
from app.store import reads
from app.store.db import make_engine, make_sessionmaker
from app.store.models import (
    Client,
    Location,
    Payment,
    PaymentLink,
    Refund,
    StaffUser,
    Vehicle,
)
from tests.conftest import NOW, sign_in_staff
from tests.html import Page, parse

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True),
]
HX = {"HX-Request": "true"}
# Reports read what is in the tables: these tests write payments and refunds by hand (no
# allocations, no processor), so the books check does not apply to them.
HAND_MADE = pytest.mark.books_unchecked("payments written by hand to test what reports read")
SUPERVISOR = ("supervisor@demo.test", "demo-supervisor-pass")
# Around the end of daylight saving (Sunday 2026-11-01, 2 a.m.): Austin is UTC-5 before and
# UTC-6 after; El Paso (America/Denver) UTC-6, then UTC-7.
RANGE = "from=2026-10-31&to=2026-11-02"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


@pytest.fixture
async def own_maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(db_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def by_account(s: AsyncSession, account: str) -> tuple[int, int]:
    client = (await s.execute(select(Client).where(Client.account_number == account))).scalar_one()
    vehicle = (
        await s.execute(select(Vehicle).where(Vehicle.client_id == client.id).limit(1))
    ).scalar_one()
    return client.id or 0, vehicle.id or 0


async def staff_id(s: AsyncSession, email: str) -> int:
    user = (await s.execute(select(StaffUser).where(StaffUser.email == email))).scalar_one()
    return user.id or 0


def payment(cid: int, key: str, cents: int, channel: str, status: str, at: datetime, **kw: Any) -> Payment:  # fmt: skip
    return Payment(
        client_id=cid, amount_cents=cents, channel=channel, status=status, idempotency_key=key,
        summary_json="{}", created_at=at - timedelta(seconds=5),
        completed_at=None if status == "pending" else at, **kw,
    )  # fmt: skip


async def month_of_activity(maker: async_sessionmaker[AsyncSession]) -> None:
    """Payments, a refund and a decline around the change of clocks, at both locations."""
    async with maker() as s:
        maria, _ = await by_account(s, "100001")  # Austin North
        ana, _ = await by_account(s, "100003")  # El Paso
        sandra = await staff_id(s, SUPERVISOR[0])
        taken = payment(
            maria, "r-a", 10_000, "staff_card_on_file", "partially_refunded",
            utc("2026-11-01T06:30:00"),  # 1:30 a.m. CDT on Nov 1 (00:30 Oct 31 at UTC-6)
            staff_id=sandra, refunded_cents=2_000,
        )  # fmt: skip
        s.add_all(
            [
                taken,
                # 11:30 p.m. CST on Nov 2, the range's last evening
                payment(maria, "r-b", 5_000, "link", "succeeded", utc("2026-11-03T05:30:00")),
                # 11:30 p.m. MST on Nov 2 in El Paso (Nov 3 in Austin)
                payment(ana, "r-c", 2_500, "portal", "succeeded", utc("2026-11-03T06:30:00")),
                # 11:30 p.m. MDT on Oct 30 in El Paso (Oct 31 in Austin): outside
                payment(ana, "r-d", 700, "portal", "succeeded", utc("2026-10-31T05:30:00")),
                payment(maria, "r-e", 3_000, "autopay", "failed", utc("2026-11-02T15:00:00")),
                payment(maria, "r-f", 999, "link", "pending", utc("2026-11-02T15:00:00")),
                payment(maria, "r-g", 888, "link", "unknown", utc("2026-11-02T15:00:00")),
            ]
        )
        await s.flush()
        for key, status in (("r-r1", "succeeded"), ("r-r2", "failed"), ("r-r3", "pending")):
            s.add(
                Refund(
                    payment_id=taken.id or 0, client_id=maria, amount_cents=2_000, kind="staff",
                    reason="Goodwill", status=status, idempotency_key=key,
                    created_at=utc("2026-11-02T16:00:00"),
                    completed_at=utc("2026-11-02T16:00:00") if status != "pending" else None,
                )
            )  # fmt: skip
        await s.commit()


async def links_texted(maker: async_sessionmaker[AsyncSession]) -> None:
    """Five links to Maria sent on Nov 1: paid after 10, 30 and 50 minutes, one only opened,
    one never opened; one sent before the range, one never sent (queued)."""
    async with maker() as s:
        maria, civic = await by_account(s, "100001")
        sent = utc("2026-11-01T17:00:00")
        plan: list[tuple[datetime | None, int | None, int | None]] = [
            (sent, 5, 10), (sent, 20, 30), (sent, 1, 50), (sent, 3, None), (sent, None, None),
            (utc("2026-10-20T17:00:00"), 1, 2), (None, None, None),
        ]  # fmt: skip
        for n, (at, opened, paid) in enumerate(plan):
            base = at or sent
            s.add(
                PaymentLink(
                    token_hash=f"{n:064d}", client_id=maria, vehicle_id=civic, days=30,
                    total_cents=9_201, summary_json="{}", phone_e164="+15125550101",
                    status="paid" if paid else "sent", created_at=base, sent_at=at,
                    expires_at=base + timedelta(days=1),
                    opened_at=base + timedelta(minutes=opened) if opened else None,
                    paid_at=base + timedelta(minutes=paid) if paid else None,
                )
            )  # fmt: skip
        await s.commit()


def cells(page: Page, table: str, columns: slice = slice(0, 7)) -> dict[str, list[str]]:
    """A table's body rows by their first cell, the other cells' texts: by default the money
    columns (payments … declined); `slice(7, None)`: the disputes' (test_report_disputes.py)."""
    out = {}
    for tr in page.all(f"#{table} tbody tr"):
        head = tr.select_one("th")
        if head is not None:
            out[head.get_text(" ", strip=True)] = [
                td.get_text(strip=True) for td in tr.select("td")
            ][columns]
    return out


def foot(page: Page, table: str, columns: slice = slice(0, 7)) -> list[str]:
    return [td.get_text(strip=True) for td in page.all(f"#{table} tfoot td")][columns]


async def signed_in(client: AsyncTestClient[Any], who: tuple[str, str] = SUPERVISOR) -> None:
    await sign_in_staff(client, *who)


# -- who ------------------------------------------------------------------------------------


async def test_agents_are_refused_supervisors_and_admins_see_reports(
    client: AsyncTestClient[Any],
) -> None:
    r = await client.get("/plus/reports", follow_redirects=False)
    assert r.status_code in (302, 303) and "/plus/login" in r.headers["location"]
    await sign_in_staff(client)  # the agent
    for url in ("/plus/reports", "/plus/reports.csv", "/plus/reports?from=x"):
        r = await client.get(url)
        assert r.status_code == 403, url
        assert "text/csv" not in r.headers["content-type"]
    home = parse((await client.get("/plus")).text)
    assert not home.has('nav a[href="/plus/reports"]')
    for who in (SUPERVISOR, ("admin@demo.test", "demo-admin-pass")):
        await client.post("/plus/logout", data={"_csrf_token": home.csrf()})
        await signed_in(client, who)
        r = await client.get("/plus/reports")
        assert r.status_code == 200
        page = parse(r.text)
        assert page.one('nav a[href="/plus/reports"]').get("aria-current") == "page"
        home = page


# -- money ----------------------------------------------------------------------------------


@HAND_MADE
async def test_money_by_day_location_staff_and_channel_on_local_dates(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    await month_of_activity(own_maker)
    await signed_in(client)
    r = await client.get(f"/plus/reports?{RANGE}")
    assert r.status_code == 200, r.text
    page = parse(r.text)
    assert page.text("#total-collected") == "$175.00"
    assert page.text("#total-refunded") == "$20.00"
    assert page.text("#total-net") == "$155.00"
    assert page.text("#total-declined") == "$30.00 (1)"
    # payments, collected, refunds, refunded, net, declines, declined
    assert cells(page, "table-day") == {
        "Nov 1, 2026": ["1", "$100.00", "0", "$0.00", "$100.00", "0", "$0.00"],
        "Nov 2, 2026": ["2", "$75.00", "1", "$20.00", "$55.00", "1", "$30.00"],
    }
    assert cells(page, "table-location") == {
        "Austin North": ["2", "$150.00", "1", "$20.00", "$130.00", "1", "$30.00"],
        "El Paso": ["1", "$25.00", "0", "$0.00", "$25.00", "0", "$0.00"],
    }
    assert cells(page, "table-staff") == {
        "Sandra Supervisor": ["1", "$100.00", "1", "$20.00", "$80.00", "0", "$0.00"],
        "No staff member recorded": ["2", "$75.00", "0", "$0.00", "$75.00", "1", "$30.00"],
    }
    assert cells(page, "table-channel") == {
        "Secure Payment Link": ["1", "$50.00", "0", "$0.00", "$50.00", "0", "$0.00"],
        "Take Payment": ["1", "$100.00", "1", "$20.00", "$80.00", "0", "$0.00"],
        "My Account": ["1", "$25.00", "0", "$0.00", "$25.00", "0", "$0.00"],
        "AutoPay": ["0", "$0.00", "0", "$0.00", "$0.00", "1", "$30.00"],
    }
    for table in ("table-day", "table-location", "table-staff", "table-channel"):
        assert foot(page, table) == ["3", "$175.00", "1", "$20.00", "$155.00", "1", "$30.00"]
    # The charts say the same, bar by bar.
    titles = [t.get_text() for t in page.all("#chart-location rect title")]
    assert "Austin North — Collected: $150.00" in titles
    assert "El Paso — Collected: $25.00" in titles
    assert "Austin North — Refunded: $20.00" in titles
    day_titles = [t.get_text() for t in page.all("#chart-day rect title")]
    assert day_titles == [
        "Nov 1, 2026 — Collected: $100.00",
        "Nov 2, 2026 — Collected: $75.00",
        "Nov 2, 2026 — Refunded: $20.00",
        "Nov 2, 2026 — Declined: $30.00",
    ]
    svg = page.one("#chart-day svg")
    assert svg["role"] == "img" and page.one("#chart-day-desc").get_text()


@HAND_MADE
async def test_one_location_counts_its_own_local_dates(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    await month_of_activity(own_maker)
    async with own_maker() as s:
        el_paso = (await s.execute(select(Location).where(Location.name == "El Paso"))).scalar_one()
    await signed_in(client)
    page = parse((await client.get(f"/plus/reports?{RANGE}&location={el_paso.id}")).text)
    assert page.text("#total-collected") == "$25.00"
    assert list(cells(page, "table-location")) == ["El Paso"]
    assert list(cells(page, "table-day")) == ["Nov 2, 2026"]
    # Oct 30 in El Paso: the payment at 23:30 MDT counts there, on its own date.
    page = parse((await client.get(f"/plus/reports?from=2026-10-30&to=2026-10-30&location={el_paso.id}")).text)  # fmt: skip
    assert page.text("#total-collected") == "$7.00"
    assert page.one("#location option[selected]").get_text() == "El Paso"


# -- links and past due ---------------------------------------------------------------------


async def test_links_sent_opened_paid_with_conversion_and_median(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    await links_texted(own_maker)
    await signed_in(client)
    page = parse((await client.get(f"/plus/reports?{RANGE}")).text)
    # sent, opened, paid, conversion, median
    assert cells(page, "table-links") == {"Austin North": ["5", "4", "3", "60.0%", "30 min"]}
    assert foot(page, "table-links") == ["5", "4", "3", "60.0%", "30 min"]
    titles = [t.get_text() for t in page.all("#chart-links rect title")]
    assert titles == ["Sent — Links: 5", "Opened — Links: 4 (80.0%)", "Paid — Links: 3 (60.0%)"]
    # An even number of paid links: the two middle times, averaged.
    page = parse((await client.get("/plus/reports?from=2026-10-01&to=2026-11-02")).text)
    assert foot(page, "table-links") == ["6", "5", "4", "66.7%", "20 min"]


async def test_past_due_by_location_is_what_each_ledger_says(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    """The seeded clients' past due balances, by the domain's rule (summary.past_due_total of
    the account's open invoices, what the Invoice Summary charges) and by the ledger's query
    (what the client's page shows), summed by location: the report agrees to the cent."""
    want: dict[str, list[int]] = {}
    async with own_maker() as s:
        locations = {loc.id: loc for loc in (await s.execute(select(Location))).scalars()}
        for client_row in (await s.execute(select(Client))).scalars():
            loc = locations[client_row.location_id]
            today = local_today(NOW, loc.timezone)
            owed = past_due_total(await reads.open_invoices(s, client_row.id or 0), today)
            ledger = await reads.ledger_page(
                s, client_row.id or 0, today=today, before=None, size=1
            )
            assert owed == ledger.past_due_cents
            if owed:
                tally = want.setdefault(loc.name, [0, 0])
                tally[0] += 1
                tally[1] += owed
    assert want  # the seed has past-due invoices at both locations
    await signed_in(client)
    page = parse((await client.get("/plus/reports")).text)
    got = {name: [int(row[1]), row[2]] for name, row in cells(page, "table-past-due").items()}
    assert got == {name: [n, f"${cents / 100:,.2f}"] for name, (n, cents) in want.items()}


# -- the filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("from=tomorrow", "from", "as a date"),
        ("from=2026-02-31", "from", "real date"),
        ("to=2026-11-01&from=2026-11-02", "to", "after the start date"),
        ("from=2025-01-01&to=2026-11-25", "to", "at most 366 days"),
        ("from=0001-01-01", "from", "between 2000 and 2100"),
        ("to=9999-12-31", "to", "between 2000 and 2100"),
        ("location=999", "location", "Choose a location"),
        ("location=abc", "location", "Choose a location"),
        ("from=%00", "from", "can't be accepted"),
    ],
)
async def test_bad_filters_are_400_with_the_message_by_the_field(
    client: AsyncTestClient[Any], query: str, field: str, words: str
) -> None:
    await signed_in(client)
    for headers in ({}, HX):
        r = await client.get(f"/plus/reports?{query}", headers=headers)
        assert r.status_code == 400, r.text
        page = parse(r.text)
        assert words in page.text(f"#{field}-error")
        assert page.one(f"#{field}")["aria-invalid"] == "true"
        assert page.one(".error-summary a")["href"] == f"#{field}"
        assert not page.has("#report-totals")
    r = await client.get(f"/plus/reports.csv?{query}")
    assert r.status_code == 400 and words in r.text


async def test_htmx_gets_the_report_region_a_plain_get_the_page(
    client: AsyncTestClient[Any],
) -> None:
    await signed_in(client)
    r = await client.get(f"/plus/reports?{RANGE}", headers=HX)
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    fragment = parse(r.text)
    assert fragment.has("#report") and not fragment.has("h1") and not fragment.has("nav")
    form = fragment.one("form#report-filters")
    assert form["method"] == "get" and form["action"] == "/plus/reports"
    assert form["hx-get"] == "/plus/reports" and form["hx-target"] == "#report"
    assert form["hx-push-url"] == "true"
    restore = {**HX, "HX-History-Restore-Request": "true"}  # Back to a pushed address
    for page in (
        parse((await client.get(f"/plus/reports?{RANGE}")).text),
        parse((await client.get(f"/plus/reports?{RANGE}", headers=restore)).text),
    ):
        assert page.has("h1") and page.has("nav") and page.has("#report form#report-filters")
    assert page.one("#from")["value"] == "2026-10-31" and page.one("#to")["value"] == "2026-11-02"
    assert page.one("#report-csv")["href"] == "/plus/reports.csv?from=2026-10-31&to=2026-11-02"


# -- CSV ------------------------------------------------------------------------------------


@HAND_MADE
async def test_csv_has_the_same_rows_in_dollars_and_no_formulas(
    client: AsyncTestClient[Any], own_maker: async_sessionmaker[AsyncSession]
) -> None:
    await month_of_activity(own_maker)
    async with own_maker() as s:
        sandra = await s.get(StaffUser, await staff_id(s, SUPERVISOR[0]))
        assert sandra is not None
        sandra.name = '=HYPERLINK("http://evil.test","Sandra, Supervisor")'
        await s.commit()
    await signed_in(client)
    r = await client.get(f"/plus/reports.csv?{RANGE}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        'attachment; filename="monitorpay-report-2026-10-31-to-2026-11-02-all-locations.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    total = next(row for row in rows if row["section"] == "total")
    assert (total["collected"], total["refunded"], total["net"], total["declined"]) == (
        "175.00", "20.00", "155.00", "30.00",
    )  # fmt: skip
    days = {row["item"]: row["collected"] for row in rows if row["section"] == "day"}
    assert days == {"2026-11-01": "100.00", "2026-11-02": "75.00"}
    staff = [row["item"] for row in rows if row["section"] == "staff"]
    assert staff == ["'=HYPERLINK(\"http://evil.test\",\"Sandra, Supervisor\")", "No staff member recorded"]  # fmt: skip
    assert '"\'=HYPERLINK(""http://evil.test"",""Sandra, Supervisor"")"' in r.text  # quoted
    channels = {row["item"]: row["declined"] for row in rows if row["section"] == "channel"}
    assert channels["AutoPay"] == "30.00"
    assert {row["section"] for row in rows} >= {"past_due", "past_due_total", "links_total"}


# -- indexes --------------------------------------------------------------------------------


async def test_the_report_indexes_are_in_the_schema(own_maker: async_sessionmaker[AsyncSession]) -> None:  # fmt: skip
    wanted = {
        "payment": "ix_payment_completed_report",
        "paymentallocation": "ix_paymentallocation_invoice_amount",
        "refund": "ix_refund_completed_at",
        "paymentlink": "ix_paymentlink_sent_at",
        "invoice": "ix_invoice_status_due",
    }
    async with own_maker() as s:
        conn = await s.connection()
        names = await conn.run_sync(
            lambda sync: {t: {i["name"] for i in inspect(sync).get_indexes(t)} for t in wanted}
        )
    for table, index in wanted.items():
        assert index in names[table], (table, names[table])


async def test_odd_queries_are_never_a_server_error(client: AsyncTestClient[Any]) -> None:
    await signed_in(client)
    for query in (
        "from=2026-11-01&from=2026-11-02",
        "from=" + "9" * 60,
        "location=1&location=2",
        "to=2026-11-25%00",
        "location=%F0%9F%98%80",
        "from=2026-11-01T00:00",
        "from=%20",
    ):
        for path in ("/plus/reports", "/plus/reports.csv"):
            r = await client.get(f"{path}?{query}")
            assert r.status_code in (200, 400), (path, query, r.status_code)
