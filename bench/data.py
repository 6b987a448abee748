"""Benchmark data sets: N clients with realistic shapes, built in SQL, in minutes.

    .venv/bin/python bench/data.py 10k 100k            # PostgreSQL monitorpay_bench_10k, _100k
    .venv/bin/python bench/data.py sqlite-100k         # data/bench/monitorpay_bench_100k.db
    .venv/bin/python bench/data.py 1m --rebuild        # drop and build again
    .venv/bin/python bench/data.py 100k --due 5000     # make 5,000 AutoPay vehicles due today
                                                       # (in the set itself; autopay.py copies)
    .venv/bin/python bench/data.py 1m --ledger 2       # 1M clients, 2 invoices each (for search)

A set that exists and is complete (its `bench_dataset` row) is reused: only the app's newest
migrations are applied to it, so a new index is built on the data already there.

What a set holds: the demo seed (locations Austin North and El Paso, the demo staff and the four
demo clients, so agent@demo.test / demo-agent-pass signs in), then N generated clients:
- accounts 100005, 100006, ... (six digits, wrapping to 000000 above 999999), names drawn from
  common first and last names, unique US mobile numbers, 80 % at Austin North;
- 1-3 vehicles each (60/30/10 %), 30 % on 14-day cycles, paid through -10..+25 days from today;
- 20 invoices each (`--ledger`): 19 monitoring periods going back from paid-through, paid,
  each with its succeeded payment and allocation; one service-call charge, open for 15 % of
  clients (a client with an open charge owes it in the Get Summary);
- a card on file for 90 % (a unique sandbox reference, `pm_sandbox_visa_4242_MMYY_<8>`);
- AutoPay on every vehicle of an Austin client with a card (El Paso takes no payments), all
  paid through 4+ days ahead, so none is due unless `--due N` (or bench/autopay.py) makes the
  vehicles of the first N enrollments due today.
Ids are computed (not drawn from sequences, which are moved past them afterwards); random
choices are a hash of the row number, so a set is the same every time it is built (its dates
are relative to the day it was built). Then VACUUM ANALYZE (PostgreSQL) / ANALYZE (SQLite).

At 100k: 100k clients, ~150k vehicles, 2.0M invoices, ~1.99M payments and allocations.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from app.domain.money import tax_cents  # noqa: E402
from app.domain.periods import local_today  # noqa: E402
from app.store import daily_totals  # noqa: E402
from app.store.db import make_engine, make_sessionmaker  # noqa: E402
from app.store.migrate import upgrade  # noqa: E402
from app.store.seed import CARS, seed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
# The PostgreSQL sets are `<prefix><size>`; a session sharing the machine sets its own prefix
# (BENCH_DB_PREFIX=mp_bench_b_) so its builds and migrations never touch another's set.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "monitorpay_bench_")
SQLITE_DIR = ROOT / "data" / "bench"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 999_996}  # 1m: with the 4 demo clients
LEDGER = 20  # invoices per client (and payments for the paid ones)
TZ = "America/Chicago"  # Austin North: "today" for the dates of the set

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen "
    "Jacob Amy Gary Angela Nicholas Shirley Eric Brenda Jonathan Emma Stephen Anna Larry "
    "Pamela Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel Helen "
    "Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Catherine "
    "Dennis Heather Jerry Diane Tyler Olivia Aaron Julie Jose Joyce Adam Victoria Nathan "
    "Kelly Henry Christina Zachary Lauren Douglas Joan Peter Evelyn Kyle Judith Noah Megan "
    "Ethan Andrea Jeremy Cheryl Walter Hannah Christian Jacqueline Keith Martha Roger Gloria "
    "Terry Teresa Austin Ann Sean Sara Gerald Madison Carl Frances Harold Kathryn Dylan Janice "
    "Arthur Jean Lawrence Abigail Jordan Alice Jesse Judy Bryan Sophia Billy Grace Bruce Denise "
    "Gabriel Amber Joe Doris Logan Marilyn Alan Danielle Juan Beverly Albert Isabella Willie "
    "Theresa Elijah Diana Wayne Natalie Randy Brittany Vincent Charlotte Mason Marie Roy Kayla "
    "Ralph Alexis Bobby Lori Russell Alyssa Bradley Luis Carlos Miguel Jorge Alejandro Rosa "
    "Guadalupe Ana Lucia Diego Sofia Javier Ximena Hector Elena Ricardo Veronica Fernando"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales "
    "Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos "
    "Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes "
    "Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry "
    "Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons "
    "Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West "
    "Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro "
    "Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry "
    "Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez "
    "Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd "
    "Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols"
).split()
AUSTIN_AREAS = ("512", "737")
MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"


def h(expr: str, salt: int, modulo: int) -> str:
    """A deterministic pseudo-random 0..modulo-1 from an integer SQL expression (the middle
    bits of a multiplicative hash; the same on PostgreSQL and SQLite, both 64-bit)."""
    return f"CAST(((({expr}) * 2654435761 + {salt * 40503}) % 4294967296) / 65536 % {modulo} AS integer)"


@dataclass(frozen=True)
class Target:
    """Where a data set lives: `name` (10k, 100k, 1m, sqlite-100k), its clients and its URL."""

    name: str
    clients: int

    @property
    def sqlite(self) -> bool:
        return self.name.startswith("sqlite-")

    @property
    def db_name(self) -> str:
        if self.sqlite:
            return "monitorpay_bench_" + self.name.removeprefix("sqlite-")
        return DB_PREFIX + self.name

    @property
    def sqlite_path(self) -> Path:
        return SQLITE_DIR / f"{self.db_name}.db"

    @property
    def url(self) -> str:
        """The app's (async SQLAlchemy) URL: DATABASE_URL for a server on this set."""
        if self.sqlite:
            return f"sqlite+aiosqlite:///{self.sqlite_path}"
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.db_name}"

    @property
    def dsn(self) -> str:
        return f"{PG_SERVER}/{self.db_name}"


def target(name: str) -> Target:
    """`10k`, `100k`, `1m`, `sqlite-100k` (or any `<n>k` / `sqlite-<n>k`)."""
    key = name.lower().removeprefix("sqlite-")
    if key in SIZES:
        n = SIZES[key]
    elif key.endswith("k") and key[:-1].isdigit():
        n = int(key[:-1]) * 1000
    else:
        raise SystemExit(f"unknown data set {name!r}: use 10k, 100k, 1m or sqlite-100k")
    return Target(name=name.lower(), clients=n)


# -- the two databases, behind one small interface ---------------------------------------------


class Db:
    """Executes the build's SQL; the few dialect differences are methods."""

    sqlite = False

    async def execute(self, sql: str) -> None:
        raise NotImplementedError

    async def scalar(self, sql: str) -> int | None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def date(self, d: date) -> str:
        return f"DATE '{d.isoformat()}'"

    def add_days(self, date_sql: str, days_sql: str) -> str:
        return f"({date_sql} + CAST({days_sql} AS integer))"

    def ts(self, now: datetime, days_sql: str) -> str:
        return f"(TIMESTAMPTZ '{now.isoformat()}' + ({days_sql}) * INTERVAL '1 day')"

    def pad(self, int_sql: str, width: int) -> str:
        return f"lpad(({int_sql})::text, greatest({width}, length(({int_sql})::text)), '0')"

    def label(self, date_sql: str) -> str:
        """`Nov 1, 2026`, as app/domain/summary.py monitoring_label writes a date."""
        return f"to_char({date_sql}, 'Mon FMDD, YYYY')"

    async def fill_seq(self, n: int) -> None:
        await self.execute("CREATE TABLE bench_seq (x integer PRIMARY KEY)")
        await self.execute(f"INSERT INTO bench_seq SELECT generate_series(1, {n})")


class Postgres(Db):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def scalar(self, sql: str) -> int | None:
        value = await self.conn.fetchval(sql)
        return None if value is None else int(value)

    async def close(self) -> None:
        await self.conn.close()


class Sqlite(Db):
    sqlite = True

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous=OFF")

    async def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    async def scalar(self, sql: str) -> int | None:
        row = self.conn.execute(sql).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    async def close(self) -> None:
        self.conn.close()

    def date(self, d: date) -> str:
        return f"'{d.isoformat()}'"

    def add_days(self, date_sql: str, days_sql: str) -> str:
        return f"date({date_sql}, ({days_sql}) || ' days')"

    def ts(self, now: datetime, days_sql: str) -> str:
        # how SQLAlchemy stores an aware UTC datetime on SQLite
        base = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"(strftime('%Y-%m-%d %H:%M:%S', '{base}', ({days_sql}) || ' days') || '.000000')"

    def pad(self, int_sql: str, width: int) -> str:
        return f"printf('%0{width}d', {int_sql})"

    def label(self, date_sql: str) -> str:
        d = date_sql
        return (
            f"(substr('{MONTHS}', (CAST(strftime('%m', {d}) AS integer) - 1) * 3 + 1, 3) || ' ' "
            f"|| CAST(strftime('%d', {d}) AS integer) || ', ' || strftime('%Y', {d}))"
        )

    async def fill_seq(self, n: int) -> None:
        await self.execute("CREATE TABLE bench_seq (x integer PRIMARY KEY)")
        await self.execute(
            f"INSERT INTO bench_seq WITH RECURSIVE s(x) AS "
            f"(SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n}) SELECT x FROM s"
        )


async def connect(t: Target) -> Db:
    if t.sqlite:
        return Sqlite(t.sqlite_path)
    return Postgres(await asyncpg.connect(t.dsn))


# -- building ----------------------------------------------------------------------------------


def log(msg: str, started: float) -> None:
    print(f"  {time.monotonic() - started:7.1f}s  {msg}", flush=True)


async def is_complete(t: Target) -> bool:
    if t.sqlite:
        if not t.sqlite_path.exists():
            return False
    else:
        server = await asyncpg.connect(f"{PG_SERVER}/postgres")
        try:
            if not await server.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", t.db_name):
                return False
        finally:
            await server.close()
    db = await connect(t)
    try:
        return bool(
            await db.scalar(f"SELECT count(*) FROM bench_dataset WHERE clients={t.clients}")
        )
    except (asyncpg.PostgresError, sqlite3.Error):
        return False
    finally:
        await db.close()


def remove_sqlite(path: Path) -> None:
    """A SQLite database file and its WAL files, gone; its directory made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def recreate(t: Target) -> None:
    if t.sqlite:
        remove_sqlite(t.sqlite_path)
        return
    server = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{t.db_name}" WITH (FORCE)')
        await server.execute(f'CREATE DATABASE "{t.db_name}"')
    finally:
        await server.close()


async def seed_demo(url: str, now: datetime) -> None:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            await seed(s, now, generated=0)
    finally:
        await engine.dispose()


async def fill(t: Target, now: datetime, started: float, ledger: int) -> dict[str, int]:
    """The generated rows, straight in SQL. Returns the row counts."""
    db = await connect(t)
    try:
        return await _fill(db, t.clients, now, started, ledger)
    finally:
        await db.close()


async def _fill(db: Db, n: int, now: datetime, started: float, ledger: int) -> dict[str, int]:
    today = local_today(now, TZ)
    austin = await db.scalar("SELECT id FROM location WHERE name = 'Austin North'")
    el_paso = await db.scalar("SELECT id FROM location WHERE name = 'El Paso'")
    assert austin is not None and el_paso is not None
    base = {
        t: await db.scalar(f"SELECT coalesce(max(id), 0) FROM {t}")
        for t in ("client", "vehicle", "invoice", "payment", "paymentallocation", "cardonfile")
    }
    c0, v0, inv0 = base["client"], base["vehicle"], base["invoice"]
    p0, a0, card0 = base["payment"], base["paymentallocation"], base["cardonfile"]
    for cents in (4500, 8500):  # the SQL below rounds tax as the domain does, for these
        assert tax_cents(cents, 825) == (cents * 825 + 5000) // 10000
    await db.execute("BEGIN")
    await db.fill_seq(max(n, ledger))
    await db.execute("CREATE TABLE bench_first (k integer PRIMARY KEY, name text)")
    await db.execute("CREATE TABLE bench_last (k integer PRIMARY KEY, name text)")
    await db.execute("CREATE TABLE bench_car (k integer PRIMARY KEY, make text, model text)")
    for table, rows in (
        ("bench_first", [f"({k}, '{v}')" for k, v in enumerate(FIRST)]),
        ("bench_last", [f"({k}, '{v}')" for k, v in enumerate(LAST)]),
        ("bench_car", [f"({k}, '{m}', '{md}')" for k, (m, md) in enumerate(CARS)]),
    ):
        await db.execute(f"INSERT INTO {table} VALUES {', '.join(rows)}")

    at_austin = f"{h('s.x', 1, 10)} < 8"
    area = f"(CASE WHEN {at_austin} THEN (CASE WHEN s.x % 2 = 0 THEN '{AUSTIN_AREAS[0]}' ELSE '{AUSTIN_AREAS[1]}' END) ELSE '915' END)"
    # exchange 200-299 and line from the row number: unique and valid for a million clients
    national = f"({area} || CAST(200 + (s.x / 10000) % 100 AS text) || {db.pad('s.x % 10000', 4)})"
    acct = db.pad("(100004 + s.x) % 1000000", 6)
    await db.execute(f"""
        INSERT INTO client (id, account_number, first_name, last_name, search_name, phone_e164,
            phone_digits, email, location_id, sms_opt_out, password_hash, processor_customer,
            created_at, payment_in_flight)
        SELECT {c0} + s.x, {acct}, f.name, l.name, lower(f.name || ' ' || l.name),
            '+1' || {national}, {national}, 'client' || {acct} || '@example.com',
            CASE WHEN {at_austin} THEN {austin} ELSE {el_paso} END,
            {h("s.x", 5, 100)} < 5, NULL, NULL, {db.ts(now, f"-10 - {h('s.x', 6, 900)}")}, NULL
        FROM bench_seq s
        JOIN bench_first f ON f.k = {h("s.x", 2, len(FIRST))}
        JOIN bench_last l ON l.k = {h("s.x", 3, len(LAST))}
        WHERE s.x <= {n}""")
    log(f"{n:,} clients", started)

    # client i (s.x) has 1-3 vehicles, ids v0 + (i-1)*3 + 1..3
    nveh = f"(1 + CASE WHEN {h('s.x', 4, 10)} >= 6 THEN 1 ELSE 0 END + CASE WHEN {h('s.x', 4, 10)} >= 9 THEN 1 ELSE 0 END)"
    vid = f"({v0} + (s.x - 1) * 3 + k.x)"
    enrolled = f"({at_austin} AND {h('s.x', 7, 100)} < 90)"  # Austin, with a card
    offset = f"(CASE WHEN {enrolled} THEN 4 + {h(vid, 9, 22)} ELSE {h(vid, 9, 36)} - 10 END)"
    plate_letter = "substr('ABCDEFGHJKLMNPRSTUVWXYZ', 1 + {}, 1)"
    plate = " || ".join(plate_letter.format(h(vid, 20 + i, 23)) for i in range(3))
    await db.execute(f"""
        INSERT INTO vehicle (id, client_id, year, make, model, plate, device_serial,
            billing_cycle_days, paid_through, next_appointment)
        SELECT {vid}, {c0} + s.x, 2008 + {h(vid, 10, 17)}, car.make, car.model,
            {plate} || '-' || {db.pad(f"1000 + {h(vid, 11, 9000)}", 4)},
            'IID-' || {db.pad(vid, 6)},
            CASE WHEN {h(vid, 12, 10)} < 3 THEN 14 ELSE 30 END,
            {db.add_days(db.date(today), offset)},
            {db.ts(now, f"1 + {h(vid, 13, 40)}")}
        FROM bench_seq s
        JOIN bench_seq k ON k.x <= {nveh}
        JOIN bench_car car ON car.k = {h(vid, 14, len(CARS))}
        WHERE s.x <= {n}""")
    vehicles = await db.scalar(f"SELECT count(*) FROM vehicle WHERE id > {v0}") or 0
    log(f"{vehicles:,} vehicles", started)

    # invoice j (0..19) of client i: j < 19 the (j / nveh)-th period back of vehicle j % nveh;
    # j = 19 a service call, open for 15 %
    ci = f"(v.client_id - {c0})"
    back = "((j.x - 1) / cv.n)"
    end_ = db.add_days("v.paid_through", f"-{back} * v.billing_cycle_days")
    start_ = db.add_days("v.paid_through", f"-({back} + 1) * v.billing_cycle_days + 1")
    iid = f"({inv0} + ({ci} - 1) * {ledger} + j.x)"
    price = (
        "(CASE WHEN v.billing_cycle_days = 14 THEN loc.price_14_cents ELSE loc.price_30_cents END)"
    )
    paid_at = db.ts(now, f"-2 - ({back} + 1) * v.billing_cycle_days")
    await db.execute(f"""
        CREATE TABLE bench_cv AS
        SELECT client_id, count(*) AS n, min(id) AS first_id FROM vehicle
        WHERE id > {v0} GROUP BY client_id""")
    await db.execute(f"""
        INSERT INTO invoice (id, number, client_id, vehicle_id, kind, description, amount_cents,
            tax_cents, due_date, status, period_start, period_end, created_at, paid_at,
            voided_at, created_by_staff_id)
        SELECT {iid}, 'INV-' || {db.pad(iid, 7)}, v.client_id, v.id, 'monitoring',
            'Monitoring — ' || v.billing_cycle_days || ' days, ' || v.year || ' ' || v.make
                || ' ' || v.model || ', ' || {db.label(start_)} || ' – ' || {db.label(end_)},
            {price}, ({price} * loc.tax_rate_bp + 5000) / 10000, {start_}, 'paid',
            {start_}, {end_}, {paid_at}, {paid_at}, NULL, NULL
        FROM bench_cv cv
        JOIN bench_seq j ON j.x <= {ledger - 1}
        JOIN vehicle v ON v.id = cv.first_id + (j.x - 1) % cv.n
        JOIN client c ON c.id = cv.client_id
        JOIN location loc ON loc.id = c.location_id""")
    open_charge = f"{h('cv.client_id', 15, 100)} < 15"
    charge_id = f"({inv0} + (cv.client_id - {c0}) * {ledger})"
    charge_age = f"1 + {h('cv.client_id', 16, 40)}"
    await db.execute(f"""
        INSERT INTO invoice (id, number, client_id, vehicle_id, kind, description, amount_cents,
            tax_cents, due_date, status, period_start, period_end, created_at, paid_at,
            voided_at, created_by_staff_id)
        SELECT {charge_id}, 'INV-' || {db.pad(charge_id, 7)}, cv.client_id, NULL, 'charge',
            'Device service call', CASE {h("cv.client_id", 17, 3)} WHEN 0 THEN 3500
                WHEN 1 THEN 6000 ELSE 9000 END, 0,
            {db.add_days(db.date(today), f"-({charge_age})")},
            CASE WHEN {open_charge} THEN 'open' ELSE 'paid' END, NULL, NULL,
            {db.ts(now, f"-5 - ({charge_age})")},
            CASE WHEN {open_charge} THEN NULL ELSE {db.ts(now, f"-({charge_age})")} END,
            NULL, NULL
        FROM bench_cv cv""")
    invoices = await db.scalar(f"SELECT count(*) FROM invoice WHERE id > {inv0}") or 0
    log(f"{invoices:,} invoices", started)

    channel = f"""(CASE {h("i.id", 18, 4)} WHEN 0 THEN 'link' WHEN 1 THEN 'staff_card_on_file'
        WHEN 2 THEN 'portal' ELSE 'autopay' END)"""
    await db.execute(f"""
        INSERT INTO payment (id, client_id, vehicle_id, amount_cents, channel, status,
            idempotency_key, processor_ref, card_brand, card_last4, failure_code,
            failure_message, summary_json, link_id, staff_id, invoice_id, created_at,
            completed_at, refunded_cents)
        SELECT {p0} + i.id - {inv0}, i.client_id, i.vehicle_id, i.amount_cents + i.tax_cents,
            {channel}, 'succeeded', 'bench-' || i.id, 'pi_bench_' || i.id, 'Visa', '4242',
            NULL, NULL, '{{}}', NULL, NULL, i.id, i.paid_at, i.paid_at, 0
        FROM invoice i WHERE i.id > {inv0} AND i.status = 'paid'""")
    await db.execute(f"""
        INSERT INTO paymentallocation (id, payment_id, invoice_id, amount_cents)
        SELECT {a0} + i.id - {inv0}, {p0} + i.id - {inv0}, i.id, i.amount_cents + i.tax_cents
        FROM invoice i WHERE i.id > {inv0} AND i.status = 'paid'""")
    payments = await db.scalar(f"SELECT count(*) FROM payment WHERE id > {p0}") or 0
    log(f"{payments:,} payments and allocations", started)

    exp_year = today.year + 2
    ref = f"'pm_sandbox_visa_4242_12{exp_year % 100:02d}_' || {db.pad(f'{card0} + s.x', 8)}"
    await db.execute(f"""
        INSERT INTO cardonfile (id, client_id, processor_ref, brand, last4, exp_month, exp_year,
            is_default, created_at, removed_at)
        SELECT {card0} + s.x, {c0} + s.x, {ref}, 'Visa', '4242', 12, {exp_year}, TRUE,
            {db.ts(now, "-30")}, NULL
        FROM bench_seq s WHERE s.x <= {n} AND {h("s.x", 7, 100)} < 90""")
    e0 = await db.scalar("SELECT coalesce(max(id), 0) FROM autopayenrollment") or 0
    await db.execute(f"""
        INSERT INTO autopayenrollment (id, client_id, vehicle_id, card_id, days, active,
            created_at, cancelled_at)
        SELECT {e0} + v.id - {v0}, v.client_id, v.id, {card0} + v.client_id - {c0},
            v.billing_cycle_days, TRUE, {db.ts(now, "-20")}, NULL
        FROM vehicle v JOIN client c ON c.id = v.client_id
        JOIN cardonfile card ON card.id = {card0} + v.client_id - {c0}
        WHERE v.id > {v0} AND c.location_id = {austin}""")
    enrollments = await db.scalar(f"SELECT count(*) FROM autopayenrollment WHERE id > {e0}") or 0
    log(f"cards on file for 90 %, {enrollments:,} AutoPay enrollments", started)

    for table in ("bench_seq", "bench_first", "bench_last", "bench_car", "bench_cv"):
        await db.execute(f"DROP TABLE {table}")
    if not db.sqlite:  # ids were given, not drawn: move each sequence past them
        for table in ("client", "vehicle", "invoice", "payment", "paymentallocation",
                      "cardonfile", "autopayenrollment"):  # fmt: skip
            await db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    await db.execute("COMMIT")
    return {
        "clients": n,
        "vehicles": vehicles,
        "invoices": invoices,
        "payments": payments,
        "enrollments": enrollments,
    }


async def make_due(db: Db, count: int, today: date) -> int:
    """Make the vehicles of the first `count` active enrollments due today (paid through
    tomorrow: within AutoPay's lead days), and every other enrolled vehicle not due (a set
    built days ago has aged). Returns how many are due."""
    first = f"SELECT vehicle_id FROM autopayenrollment WHERE active ORDER BY id LIMIT {count}"
    enrolled = "SELECT vehicle_id FROM autopayenrollment WHERE active"
    soon = db.add_days(db.date(today), "3")
    await db.execute(f"""
        UPDATE vehicle SET paid_through = {db.add_days(db.date(today), "10")}
        WHERE paid_through <= {soon} AND id IN ({enrolled}) AND id NOT IN ({first})""")
    await db.execute(f"""
        UPDATE vehicle SET paid_through = {db.add_days(db.date(today), "1")}
        WHERE id IN ({first})""")
    return (
        await db.scalar(
            f"SELECT count(*) FROM vehicle v JOIN autopayenrollment e ON e.vehicle_id = v.id "
            f"WHERE e.active AND v.paid_through <= {soon}"
        )
        or 0
    )


async def finish(t: Target, counts: dict[str, int], now: datetime, started: float) -> None:
    db = await connect(t)
    try:
        if t.sqlite:
            await db.execute("ANALYZE")
        else:  # VACUUM: visibility maps, so index-only scans work as on a settled database
            await db.execute("VACUUM ANALYZE")
        log("VACUUM ANALYZE" if not t.sqlite else "ANALYZE", started)
        await db.execute(
            "CREATE TABLE bench_dataset (clients integer, vehicles integer, invoices integer, "
            "payments integer, enrollments integer, built_at text)"
        )
        await db.execute(
            f"INSERT INTO bench_dataset VALUES ({counts['clients']}, {counts['vehicles']}, "
            f"{counts['invoices']}, {counts['payments']}, {counts['enrollments']}, "
            f"'{now.isoformat()}')"
        )
    finally:
        await db.close()


def ensure(
    name: str,
    rebuild: bool = False,
    due: int | None = None,
    ledger: int = LEDGER,
    migrate: bool = True,
) -> Target:
    """The data set `name`, built if missing (or `rebuild`); one that is present is migrated
    to the newest schema (unless not `migrate`: bench/source.py migrates to the code run)."""
    t = target(name)
    now = datetime.now(UTC)
    started = time.monotonic()
    if not rebuild and asyncio.run(is_complete(t)):
        print(f"{t.name}: present ({t.url})", flush=True)
        if migrate:
            upgrade(t.url)
    else:
        print(f"{t.name}: building {t.clients:,} clients at {t.url}", flush=True)
        asyncio.run(recreate(t))
        upgrade(t.url)  # Alembic runs its own event loop: before ours
        log("schema (migrations)", started)
        asyncio.run(seed_demo(t.url, now))
        log("demo seed", started)
        counts = asyncio.run(fill(t, now, started, ledger))
        asyncio.run(finish(t, counts, now, started))
        asyncio.run(daily_totals.rebuild(t.url))  # the rows above were written in SQL
        log("daily totals (reports)", started)
        print(f"{t.name}: built in {time.monotonic() - started:.0f} s: {counts}", flush=True)
    if due is not None:
        print(f"{t.name}: {asyncio.run(_due(t, due, now))} AutoPay vehicles due", flush=True)
    return t


async def _due(t: Target, count: int, now: datetime) -> int:
    db = await connect(t)
    try:
        return await make_due(db, count, local_today(now, TZ))
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("sets", nargs="*", default=["10k", "100k", "sqlite-100k"])
    parser.add_argument("--rebuild", action="store_true", help="drop and build again")
    parser.add_argument("--due", type=int, help="make the first N enrolled vehicles due today")
    parser.add_argument(
        "--ledger", type=int, default=LEDGER, help="invoices per client when building (min 2)"
    )
    args = parser.parse_args(argv)
    for name in args.sets:
        t = ensure(name, rebuild=args.rebuild, due=args.due, ledger=max(2, args.ledger))
        print(f"{t.name}: DATABASE_URL={t.url}")


if __name__ == "__main__":
    main()
