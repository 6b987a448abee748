"""The `monitorpay` command: serve, migrate, seed, autopay."""

from __future__ import annotations

import argparse
import asyncio
import sys

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


async def _autopay(settings: Settings) -> int:
    """Charge every AutoPay enrollment that is due. Safe to run twice or side by side: each
    period is charged at most once (the payment's idempotency key is per vehicle and period)."""
    from app.adapters.payments.factory import make_gateway
    from app.clock import SystemClock
    from app.main import configure_logging
    from app.services import autopay
    from app.store.db import make_engine, make_sessionmaker

    configure_logging("WARNING")
    clock = SystemClock()
    engine = make_engine(settings.async_database_url)
    gateway = make_gateway(settings, clock)
    try:
        report = await autopay.run(make_sessionmaker(engine), gateway, clock, settings.company_name)
    finally:
        close = getattr(gateway, "aclose", None)
        if close is not None:
            await close()
        await engine.dispose()
    print("\n".join(report.lines()))
    return 1 if report.failed else 0


def _serve(settings: Settings) -> None:
    import uvicorn

    from app.main import configure_logging, create_app

    configure_logging(settings.log_level)
    app = create_app(settings)
    # access_log off: our middleware logs each request without link tokens in the path.
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="info")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitorpay")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the web app")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="load the demo data into an empty database")
    sub.add_parser("setup", help="migrate, then seed an empty database")
    sub.add_parser("autopay", help="charge the AutoPay enrollments that are due (idempotent)")
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
    elif args.command == "autopay":
        return asyncio.run(_autopay(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
