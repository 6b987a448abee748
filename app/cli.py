"""The `monitorpay` command: serve, migrate, seed, setup, autopay, remind, reconcile, wallets-domain."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from app.settings import Settings


def _migrate(settings: Settings) -> None:
    from app.store.migrate import upgrade

    upgrade(settings.async_database_url)
    print("migrate: database is at the latest schema")


async def _seed(settings: Settings, force_check: bool = True) -> None:
    from app.clock import SystemClock
    from app.store.db import make_engine, make_sessionmaker
    from app.store.seed import is_empty, seed

    if settings.app_env == "prod":  # demo logins have published passwords
        print("seed: not in prod; no demo data loaded")
        return
    engine = make_engine(settings.async_database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if not await is_empty(session):
                print("seed: database already has data; left as it is")
                return
            await seed(session, SystemClock().now())
            print("seed: demo data loaded (see README for the demo logins)")
    finally:
        await engine.dispose()


async def _with_gateway(settings: Settings, job: str) -> int:
    """Run AutoPay or reconciliation once against the configured database and processor."""
    from app.adapters.payments.factory import make_gateway
    from app.clock import SystemClock
    from app.main import configure_logging
    from app.services import autopay, reconcile
    from app.store.db import make_engine, make_sessionmaker

    configure_logging("WARNING")
    clock = SystemClock()
    engine = make_engine(settings.async_database_url, pool_size=settings.db_pool_size)
    gateway = make_gateway(settings, clock)
    maker = make_sessionmaker(engine)
    try:
        if job == "autopay":
            report = await autopay.run(
                maker,
                gateway,
                clock,
                settings.company_name,
                concurrency=settings.autopay_concurrency,
                policy=autopay.Policy.from_settings(settings),
                on_progress=lambda p: print(p.line(), file=sys.stderr, flush=True),
            )
            lines, failed = report.lines(), bool(report.failed or report.errors)
        else:
            done = await reconcile.run(
                maker,
                gateway,
                clock,
                settings.company_name,
                timedelta(seconds=settings.reconcile_grace_seconds),
            )
            lines, failed = done.lines(), False
    finally:
        close = getattr(gateway, "aclose", None)
        if close is not None:
            await close()
        await engine.dispose()
    print("\n".join(lines))
    return 1 if failed else 0


async def _remind(settings: Settings) -> int:
    """Text today's reminders once (idempotent: a vehicle-period is reminded once, whichever
    run or process gets there first); the texts go out through the SMS worker's outbox."""
    from app.clock import SystemClock
    from app.main import configure_logging
    from app.services import reminders
    from app.store.db import make_engine, make_sessionmaker

    configure_logging("WARNING")
    engine = make_engine(settings.async_database_url, pool_size=settings.db_pool_size)
    try:
        report = await reminders.run(
            make_sessionmaker(engine),
            SystemClock(),
            settings.company_name,
            days_before=settings.remind_days_before,
        )
    finally:
        await engine.dispose()
    print("\n".join(report.lines()))
    return 1 if report.errors else 0


def _serve(settings: Settings) -> None:
    import uvicorn

    from app.main import configure_logging

    configure_logging(settings.log_level)
    # Each worker process builds its own app from the same environment (WEB_CONCURRENCY, one
    # per core by default: many instances behind one port, sharing the database and the store).
    # access_log off: our middleware logs each request without link tokens in the path.
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.processes,
        access_log=False,
        log_level="info",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitorpay")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the web app")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="load the demo data into an empty database")
    sub.add_parser("setup", help="migrate, then seed an empty database")
    sub.add_parser("autopay", help="charge the AutoPay enrollments that are due (idempotent)")
    sub.add_parser(
        "remind", help="text the clients whose paid-through date is REMIND_DAYS_BEFORE days away"
    )
    sub.add_parser(
        "reconcile", help="resolve unresolved payments and refunds by asking the processor"
    )
    sub.add_parser(
        "wallets-domain",
        help="register PUBLIC_BASE_URL's host with Stripe for Apple Pay and Google Pay, or re-check it",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # noqa: BLE001 - a settings error is shown to the operator, not traced
        print(f"monitorpay: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        _migrate(settings)
    elif args.command == "seed":
        asyncio.run(_seed(settings))
    elif args.command == "setup":
        _migrate(settings)
        asyncio.run(_seed(settings))
    elif args.command == "serve":
        _serve(settings)
    elif args.command == "remind":
        return asyncio.run(_remind(settings))
    elif args.command in ("autopay", "reconcile"):
        return asyncio.run(_with_gateway(settings, args.command))
    elif args.command == "wallets-domain":
        from app.web.wallets import domain_command

        return domain_command(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
