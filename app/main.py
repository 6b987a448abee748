"""The app factory: settings, plugins, routes and the lifespan, registered in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.adapters.payments.factory import make_gateway
from app.adapters.sms.factory import make_sms_provider
from app.clock import Clock, SystemClock
from app.services import autopay, reconcile, reminders, sms_worker
from app.services.sealed import SecretBox
from app.settings import Settings
from app.store.db import make_engine, make_sessionmaker
from app.store.kv import make_store
from app.web import (
    account,
    auth,
    deps,
    dev,
    errors,
    health,
    history,
    limits,
    pay,
    plus,
    reports,
    sandbox,
    search,
    sessions,
    static_assets,
    templating,
    wallets,
    webhooks,
)
from app.web.language import LanguageMiddleware
from app.web.security import RequestMiddleware, security_headers

HERE = Path(__file__).resolve().parent


def configure_logging(level: str) -> None:
    """key=value lines at LOG_LEVEL, in every process (each server worker builds its own app)."""
    logging.basicConfig(format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s")
    logging.getLogger().setLevel(level)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Litestar:
    settings = settings or Settings()
    clock = clock or SystemClock()
    configure_logging(settings.log_level)
    engine = make_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    sessionmaker = make_sessionmaker(engine)

    sms_provider = make_sms_provider(settings)
    gateway = make_gateway(settings, clock)
    box = SecretBox(settings.secret_key)
    kv = make_store(settings)
    resolver = reconcile.BackgroundResolver(
        sessionmaker, gateway, clock, settings.company_name, settings.resolve_in_background
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        background: list[asyncio.Task[None]] = []
        if settings.sms_worker:
            background.append(
                asyncio.create_task(
                    sms_worker.run_forever(
                        sessionmaker, sms_provider, clock, settings.sms_poll_seconds, box
                    )
                )
            )
        if settings.autopay_daily_at is not None:
            background.append(
                asyncio.create_task(
                    autopay.run_daily(
                        sessionmaker,
                        gateway,
                        clock,
                        settings.company_name,
                        settings.autopay_daily_at,
                    )
                )
            )
        if settings.remind_daily_at is not None:
            background.append(
                asyncio.create_task(
                    reminders.run_daily(
                        sessionmaker,
                        clock,
                        settings.company_name,
                        settings.remind_daily_at,
                        settings.remind_days_before,
                    )
                )
            )
        if settings.reconcile_every_seconds > 0:
            background.append(
                asyncio.create_task(
                    reconcile.run_every(
                        sessionmaker,
                        gateway,
                        clock,
                        settings.company_name,
                        settings.reconcile_every_seconds,
                        timedelta(seconds=settings.reconcile_grace_seconds),
                    )
                )
            )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for adapter in (resolver, gateway, sms_provider):
                close = getattr(adapter, "aclose", None)
                if close is not None:
                    await close()
            await engine.dispose()

    # Server-side: the cookie holds only a random id; the data is in the shared "sessions" store.
    session_config = sessions.SessionConfig(
        key=sessions.COOKIE,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        secure=settings.app_env == "prod",
        samesite="lax",
        store="sessions",
        exclude=["^/static/"],
    )
    csrf_config = CSRFConfig(
        secret=settings.csrf_secret,
        cookie_name="mp_csrf",
        header_name="x-csrftoken",
        cookie_secure=settings.app_env == "prod",
        cookie_samesite="lax",
        exclude=["^/webhooks/", "^/sandbox/"],  # signed by the sender / sandbox-only
    )
    template_config = TemplateConfig(
        directory=HERE / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=templating.configure,
    )
    route_handlers: list[object] = [
        health.healthz,
        auth.StaffAuthController,
        auth.ClientAuthController,
        search.SearchController,
        plus.PlusController,
        reports.ReportsController,
        history.HistoryController,
        pay.PayController,
        webhooks.stripe_webhook,
        webhooks.twilio_status,
        webhooks.twilio_inbound,
        account.AccountController,
        static_assets.serve,
    ]
    if settings.is_dev:
        route_handlers.append(dev.DevController)
    if settings.payments_gateway == "sandbox":
        route_handlers += [sandbox.tokenize, sandbox.challenge, sandbox.challenge_answer]
    if (association := wallets.association_handler(settings)) is not None:
        route_handlers.append(association)  # Apple Pay's domain check; not found otherwise
    app = Litestar(
        route_handlers=route_handlers,  # type: ignore[arg-type]
        dependencies={
            "db": Provide(deps.provide_db),
            "settings": Provide(deps.provide_settings, sync_to_thread=False),
            "clock": Provide(deps.provide_clock, sync_to_thread=False),
            "staff": Provide(deps.provide_staff),
            "me": Provide(deps.provide_client_user),
        },
        middleware=[
            RequestMiddleware,
            *limits.rate_limits(settings),  # before the session: a refused request reads nothing
            LanguageMiddleware,  # before the session: error pages from it speak the reader's language
            session_config.middleware,
        ],
        before_send=[security_headers(settings)],  # every response, 404s included
        csrf_config=csrf_config,
        template_config=template_config,
        # Brotli for browsers (all current ones), gzip for the rest; static files come
        # compressed already. Below a kilobyte a response fits one packet either way.
        compression_config=CompressionConfig(
            backend="brotli",
            brotli_gzip_fallback=True,
            gzip_compress_level=6,
            minimum_size=1024,
            exclude_opt_key=static_assets.PRECOMPRESSED,
        ),
        exception_handlers={
            deps.LoginRequired: errors.login_required,
            HTTPException: errors.http_error,
            PoolTimeout: errors.busy,
            Exception: errors.server_error,
        },
        lifespan=[lifespan],
        stores={"sessions": kv.with_namespace("sessions"), "limits": kv.with_namespace("limits")},
        logging_config=None,  # configure_logging above: our format and LOG_LEVEL
        openapi_config=None,  # an HTML app: no API schema to publish, in any environment
        debug=False,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.sms = sms_provider
    app.state.gateway = gateway
    app.state.box = box
    app.state.resolver = resolver
    app.state.kv = kv
    return app
