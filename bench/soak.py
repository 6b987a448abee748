"""Soak: many Secure Payment links, each submitted from 20 devices at once, against a real
server process (`monitorpay serve`) over HTTP; then `monitorpay reconcile`; then the books.

Not a test: run by hand, prints figures, asserts nothing (exit status 1 when money is wrong).

    .venv/bin/python bench/soak.py --db sqlite
    .venv/bin/python bench/soak.py --db postgres --faults 0.1

It builds its own world: a fresh database (a SQLite file in a temporary directory, or the
PostgreSQL database `--pg-url`, whose public schema it DROPS; its name must contain "soak"),
migrated and seeded with enough clients; one link per client, sent the way staff send them;
the sandbox processor's ledger file; one server on a free port on 127.0.0.1.

Each link is opened once (the page's CSRF cookie and token, as tabs of one browser share them),
its card handed to the sandbox's tokenizer as card.js does (one reference for all the tabs),
and then submitted by `--per-link` payers at once, each with its own cookie jar; `--parallel`
links are in flight at a time. With `--faults F`, a fraction F of the links is paid with the
sandbox's lost-answer card (4000 0000 0000 0408: charged, the answer never arrives) and, on
PostgreSQL, random database backends of the server are terminated all through the run.

The books, from the sandbox's own ledger (what the processor charged) and the database:
double charges (links charged more than once), unrecorded charges (charged, with no succeeded
payment carrying that charge's id), phantom payments (succeeded here, not charged there),
anything still pending or unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from app.domain import outcomes  # noqa: E402
from app.store.db import make_engine, make_sessionmaker  # noqa: E402
from app.store.migrate import upgrade  # noqa: E402
from app.store.models import (  # noqa: E402
    Client,
    Location,
    Payment,
    PaymentLink,
    Refund,
    Vehicle,
)
from app.store.seed import seed  # noqa: E402
from tests.html import parse  # noqa: E402
from tests.servers import run_cli, send_links, server_env, start_server  # noqa: E402

GOOD_CARD = "4242424242424242"
LOST_ANSWER_CARD = "4000000000000408"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/monitorpay_soak"
# Of the seeded generated clients, ~80% are at a location that takes payments and ~95% of
# those have not opted out of texts: seed enough that `--links` of them can get a link.
ELIGIBLE_SHARE = 0.7


@dataclass
class Drive:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    post_seconds: list[float] = field(default_factory=list)
    page_failures: int = 0
    links_driven: int = 0
    kills: int = 0
    kill_errors: int = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--links", type=int, default=1000)
    p.add_argument("--per-link", type=int, default=20, help="concurrent submissions per link")
    p.add_argument("--parallel", type=int, default=4, help="links in flight at a time")
    p.add_argument("--faults", type=float, default=0.0, help="share of lost-answer links")
    p.add_argument("--kill-every", type=float, default=0.5, help="mean seconds between kills")
    p.add_argument("--pg-url", default=PG_URL)
    p.add_argument("--time-limit", type=float, default=900, help="stop starting links after")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--keep", action="store_true", help="keep the work directory (server log)")
    return p.parse_args(argv)


# -- the world ---------------------------------------------------------------------------------


async def reset_postgres(url: str) -> None:
    name = urlsplit(url.replace("+asyncpg", "")).path.lstrip("/")
    if "soak" not in name:
        raise SystemExit(f"refusing to drop the schema of {name!r}: its name must contain 'soak'")
    conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def build(url: str, links: int, ttl_seconds: int) -> list[tuple[int, str]]:
    """Seed the clients, then send `links` links: (link id, token) each."""
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    try:
        async with maker() as s:
            await seed(s, datetime.now(UTC), generated=int(links / ELIGIBLE_SHARE) + 60)
        async with maker() as s:
            eligible = (
                (
                    await s.execute(
                        select(col(Client.id))
                        .join(Location, col(Location.id) == col(Client.location_id))
                        .where(
                            col(Location.payments_enabled).is_(True),
                            col(Location.processor_account).is_not(None),
                            col(Client.sms_opt_out).is_(False),
                            col(Client.id).in_(select(col(Vehicle.client_id))),
                        )
                        .order_by(col(Client.id))
                    )
                )
                .scalars()
                .all()
            )
        if len(eligible) < links:
            raise SystemExit(f"only {len(eligible)} clients can be sent a link; asked {links}")
        ids = [int(i) for i in eligible[:links] if i is not None]
        return await send_links(maker, ids, ttl_seconds=ttl_seconds)
    finally:
        await engine.dispose()


# -- the payers --------------------------------------------------------------------------------


async def pay_one_link(
    base: str,
    transport: httpx.AsyncHTTPTransport,
    token: str,
    card: str,
    per_link: int,
    drive: Drive,
) -> None:
    def phone(cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
        # own cookie jar, shared connection pool; not closed (that would close the pool)
        return httpx.AsyncClient(
            base_url=base,
            transport=transport,
            timeout=httpx.Timeout(20.0),
            cookies=cookies,
            trust_env=False,
        )

    try:
        browser = phone()
        page = await browser.get(f"/pay/{token}")
        csrf_token = parse(page.text).csrf()
        csrf_cookie = page.cookies.get("mp_csrf")
        # what card.js does: the card goes to the tokenizer, only its reference to us
        tokenized = await browser.post(
            "/sandbox/payment_methods",
            json={"number": card, "exp": "12/30", "cvc": "123", "postal_code": "78701"},
        )
        tokenized.raise_for_status()
        reference = str(tokenized.json()["id"])
    except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
        drive.page_failures += 1
        drive.errors[f"page:{type(exc).__name__}"] += 1
        return
    form = {"_csrf_token": csrf_token, "payment_method": reference, "terms": "accepted"}
    cookies = {"mp_csrf": csrf_cookie} if csrf_cookie else None

    async def submit() -> None:
        start = time.perf_counter()
        try:
            r = await phone(cookies).post(f"/pay/{token}", data=form, follow_redirects=False)
        except httpx.HTTPError as exc:
            drive.errors[type(exc).__name__] += 1
            return
        drive.post_seconds.append(time.perf_counter() - start)
        drive.statuses[r.status_code] += 1

    await asyncio.gather(*(submit() for _ in range(per_link)))
    drive.links_driven += 1


async def kill_backends(url: str, every: float, stop: asyncio.Event, drive: Drive) -> None:
    """Terminate a random backend of the server's now and then (not our own), until `stop`."""
    rng = random.Random()
    conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
    try:
        for _ in range(100_000):
            try:
                await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(1 / every))
                return
            except TimeoutError:
                pass
            try:
                pids = [
                    r["pid"]
                    for r in await conn.fetch(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    )
                ]
                if pids:
                    await conn.fetch("SELECT pg_terminate_backend($1)", rng.choice(pids))
                    drive.kills += 1
            except asyncpg.PostgresError:
                drive.kill_errors += 1
    finally:
        await conn.close()


async def drive_all(
    base: str, sent: list[tuple[int, str]], lossy: set[int], args: argparse.Namespace
) -> Drive:
    drive = Drive()
    deadline = time.monotonic() + args.time_limit
    # idle connections are dropped before uvicorn closes them (5 s): no keep-alive race
    limits = httpx.Limits(
        max_connections=args.parallel * (args.per_link + 1) + 10, keepalive_expiry=2.0
    )
    transport = httpx.AsyncHTTPTransport(limits=limits)
    gate = asyncio.Semaphore(args.parallel)
    stop = asyncio.Event()
    killer = None
    if args.db == "postgres" and args.faults > 0:
        killer = asyncio.create_task(kill_backends(args.pg_url, args.kill_every, stop, drive))

    async def one(link_id: int, token: str) -> None:
        async with gate:
            if time.monotonic() > deadline:
                return
            card = LOST_ANSWER_CARD if link_id in lossy else GOOD_CARD
            await pay_one_link(base, transport, token, card, args.per_link, drive)

    try:
        await asyncio.gather(*(one(link_id, token) for link_id, token in sent))
    finally:
        stop.set()
        if killer is not None:
            await killer
        await transport.aclose()
    return drive


# -- the books ---------------------------------------------------------------------------------


@dataclass
class Books:
    links_by_status: Counter[str]
    payments_by_status: Counter[str]
    refunds_by_status: Counter[str]
    unresolved: list[tuple[int, str, str | None]]  # (payment id, status, failure code)
    gateway_charges: int
    gateway_charged_cents: int
    gateway_refunds: int
    gateway_refunded_cents: int
    double_charged_links: list[int]
    unrecorded_charges: list[str]
    phantom_payments: list[int]
    links_with_two_successes: list[int]
    wrong_amounts: list[int]


async def books(url: str, ledger: Path) -> Books:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            links = Counter(
                dict(
                    (
                        await s.execute(
                            select(col(PaymentLink.status), func.count()).group_by(
                                col(PaymentLink.status)
                            )
                        )
                    ).all()
                )
            )
            pays = (
                await s.execute(
                    select(
                        col(Payment.id),
                        col(Payment.status),
                        col(Payment.processor_ref),
                        col(Payment.link_id),
                        col(Payment.amount_cents),
                        col(Payment.failure_code),
                    ).where(col(Payment.channel) == "link")
                )
            ).all()
            totals = dict(
                (await s.execute(select(col(PaymentLink.id), col(PaymentLink.total_cents)))).all()
            )
            refunds = Counter(
                dict(
                    (
                        await s.execute(
                            select(col(Refund.status), func.count()).group_by(col(Refund.status))
                        )
                    ).all()
                )
            )
    finally:
        await engine.dispose()
    db = sqlite3.connect(ledger)
    try:
        charges = db.execute(
            "SELECT intent, payment_id, amount FROM charge WHERE status='succeeded'"
        ).fetchall()
        refunded = db.execute("SELECT count(*), coalesce(sum(amount), 0) FROM refund").fetchone()
    finally:
        db.close()
    link_of_payment = {p.id: p.link_id for p in pays}
    settled_refs = {p.processor_ref for p in pays if p.status in outcomes.SETTLED}
    charged_refs = {intent for intent, _pid, _amount in charges}
    per_link = Counter(link_of_payment.get(int(pid)) for _i, pid, _a in charges if pid)
    successes = Counter(p.link_id for p in pays if p.status in outcomes.SETTLED)
    return Books(
        links_by_status=links,
        payments_by_status=Counter(p.status for p in pays),
        refunds_by_status=refunds,
        unresolved=[
            (p.id, p.status, p.failure_code) for p in pays if p.status in outcomes.UNRESOLVED
        ],
        gateway_charges=len(charges),
        gateway_charged_cents=sum(amount for _i, _p, amount in charges),
        gateway_refunds=int(refunded[0]),
        gateway_refunded_cents=int(refunded[1]),
        double_charged_links=sorted(int(k) for k, n in per_link.items() if k and n > 1),
        unrecorded_charges=sorted(charged_refs - settled_refs),
        phantom_payments=sorted(
            p.id
            for p in pays
            if p.status in outcomes.SETTLED and p.processor_ref not in charged_refs
        ),
        links_with_two_successes=sorted(int(k) for k, n in successes.items() if k and n > 1),
        wrong_amounts=sorted(
            p.id
            for p in pays
            if p.status in outcomes.SETTLED and p.link_id and p.amount_cents != totals[p.link_id]
        ),
    )


# -- the run -----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exe = sys.executable
    if exe.startswith(os.getcwd() + os.sep):
        exe = os.path.relpath(exe)
    command = shlex.join([exe, *sys.argv])
    rng = random.Random(args.seed)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="monitorpay-soak-"))
    ledger = work / "sandbox-ledger.db"
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{work / 'soak.db'}"
    else:
        url = args.pg_url
        asyncio.run(reset_postgres(url))
    upgrade(url)  # Alembic runs its own event loop: before ours
    ttl = int(args.time_limit) + 900
    sent = asyncio.run(build(url, args.links, ttl))
    lossy = {link_id for link_id, _ in sent if rng.random() < args.faults}
    env = server_env(url, ledger, LINK_TTL_SECONDS=str(ttl))
    prepared = time.perf_counter()
    print(f"soak: {len(sent)} links sent ({len(lossy)} lost-answer) in {prepared - started:.1f}s")

    server = start_server(env, work)
    try:
        t0 = time.perf_counter()
        drive = asyncio.run(drive_all(server.url, sent, lossy, args))
        drive_seconds = time.perf_counter() - t0
        load_during = os.getloadavg()
    finally:
        server.stop()
    before = asyncio.run(books(url, ledger))
    t1 = time.perf_counter()
    done = run_cli(["reconcile"], env, work, timeout=600)
    reconcile_seconds = time.perf_counter() - t1
    after = asyncio.run(books(url, ledger))
    wall = time.perf_counter() - started
    load_end = os.getloadavg()

    submissions = sum(drive.statuses.values()) + sum(
        n for e, n in drive.errors.items() if not e.startswith("page:")
    )
    server_errors = sum(n for code, n in drive.statuses.items() if code >= 500)
    rows = [
        ("database", args.db),
        ("links", f"{len(sent)} ({len(lossy)} with the lost-answer card)"),
        ("links driven", drive.links_driven),
        ("submissions", submissions),
        ("answers by status", dict(sorted(drive.statuses.items()))),
        ("no answer (transport errors)", dict(drive.errors) or 0),
        ("500s", drive.statuses.get(500, 0)),
        ("all 5xx", server_errors),
        ("DB backends killed", drive.kills if args.db == "postgres" and args.faults else "-"),
        ("submit latency p50 / p95 / max", f"{pct(drive.post_seconds, 0.5):.2f}s / {pct(drive.post_seconds, 0.95):.2f}s / {max(drive.post_seconds, default=0.0):.2f}s"),  # fmt: skip
        ("unresolved before reconcile", len(before.unresolved)),
        ("reconcile output", " | ".join(done.stdout.split("\n")).strip(" |") or done.stderr[-300:]),
        ("charges at the gateway", f"{after.gateway_charges} (${after.gateway_charged_cents / 100:,.2f})"),
        ("succeeded payments", sum(n for s, n in after.payments_by_status.items() if s in outcomes.SETTLED)),
        ("payments by status", dict(sorted(after.payments_by_status.items()))),
        ("refunds (db / at the gateway)", f"{dict(after.refunds_by_status) or 0} / {after.gateway_refunds} (${after.gateway_refunded_cents / 100:,.2f})"),
        ("links by status", dict(sorted(after.links_by_status.items()))),
        ("left pending/unknown", len(after.unresolved)),
        ("double charges (links charged >1)", len(after.double_charged_links)),
        ("unrecorded charges", len(after.unrecorded_charges)),
        ("phantom payments (recorded, not charged)", len(after.phantom_payments)),
        ("links with >1 succeeded payment", len(after.links_with_two_successes)),
        ("payments of the wrong amount", len(after.wrong_amounts)),
        ("drive time", f"{drive_seconds:.1f}s ({submissions / max(drive_seconds, 1e-9):.0f} submissions/s)"),
        ("reconcile time", f"{reconcile_seconds:.1f}s"),
        ("wall time (all)", f"{wall:.1f}s"),
        ("load average at end of drive / end", "{} / {}".format(
            " ".join(f"{x:.2f}" for x in load_during), " ".join(f"{x:.2f}" for x in load_end))),  # fmt: skip
        ("cpus", os.cpu_count()),
        ("command", f"`{command}`"),
    ]  # fmt: skip
    print()
    print("| figure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    wrong = {
        "left pending/unknown": after.unresolved[:20],
        "double-charged links": after.double_charged_links[:20],
        "unrecorded charges": after.unrecorded_charges[:20],
        "phantom payments": after.phantom_payments[:20],
        "links with >1 succeeded payment": after.links_with_two_successes[:20],
        "wrong amounts": after.wrong_amounts[:20],
        "links not paid": [
            f"{n} {status}" for status, n in after.links_by_status.items() if status != "paid"
        ],
    }
    for what, items in wrong.items():
        if items:
            print(f"\n{what} (first 20): {items}")
    if done.returncode != 0:
        print(f"\nreconcile exited {done.returncode}:\n{done.stderr[-2000:]}")
    if args.keep:
        print(f"\nwork directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    bad = any(wrong.values()) or done.returncode != 0
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
